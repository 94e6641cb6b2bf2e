//! `fabric plan` / `fabric apply` refusals that need no root and no interface: exit 2 with a
//! message naming the cause (unknown node, bad node name, the kernel backend).

mod support;

use support::fabric::{fabric, fabric_ok, topology_path};

fn plan_exit(extra: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let topology = topology_path();
    let (t, s) = (topology.to_str().unwrap(), secrets.to_str().unwrap());
    fabric_ok(&["keys", "-t", t, "--secrets", s]);
    let mut args = vec!["plan", "-t", t, "--secrets", s];
    args.extend_from_slice(extra);
    let out = fabric(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_refuses_an_unknown_node() {
    let (code, err) = plan_exit(&["--node", "nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("node nope is not in the topology"), "{err}");
}

#[test]
fn kernel_backend_says_it_is_not_implemented() {
    let (code, err) = plan_exit(&["--node", "z640", "--backend", "kernel"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("kernel WireGuard backend is not implemented"),
        "{err}"
    );
}

#[test]
fn node_names_are_checked_by_the_parser() {
    let (code, err) = plan_exit(&["--node", "Bad_Name"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a valid name"), "{err}");
}

//! `fabric plan` / `fabric apply` refusals that need no root and no interface: exit 2 with a
//! message naming the cause (unknown node, bad node name, the kernel backend without the module).

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

/// `--backend kernel` on a machine without the WireGuard module refuses before touching
/// anything, naming the cause and the alternative. (Where the module exists, see
/// tests/apply_kernel.rs.)
#[test]
fn kernel_backend_without_the_module_refuses_with_the_cause() {
    if fabric::apply::kernel::kernel_available() {
        // Past the harness's capture (it takes only print!/eprint!): visible in every log.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"NOT RUN: kernel_backend_without_the_module_refuses_with_the_cause: this machine \
              has the WireGuard module; tests/apply_kernel.rs covers it\n",
        );
        return;
    }
    let (code, err) = plan_exit(&["--node", "z640", "--backend", "kernel"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no WireGuard kernel module") && err.contains("--backend userspace"),
        "{err}"
    );
}

#[test]
fn node_names_are_checked_by_the_parser() {
    let (code, err) = plan_exit(&["--node", "Bad_Name"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a valid name"), "{err}");
}

/// A node plans with its own private key and the public halves only: a spoke never needs
/// another node's private key. (Reads this host's state; changes nothing.)
#[test]
fn a_node_plans_with_only_its_own_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("s");
    let topology = concat!(env!("CARGO_MANIFEST_DIR"), "/topology.yaml");
    let fabric = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fabric"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        fabric(&[
            "keys",
            "-t",
            topology,
            "--secrets",
            secrets.to_str().unwrap()
        ])
        .status
        .success()
    );
    for entry in std::fs::read_dir(secrets.join("wg")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".key") && !name.starts_with("z640.") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::remove_dir_all(secrets.join("sstp")).unwrap();
    let plan = |node: &str| {
        fabric(&[
            "plan",
            "--node",
            node,
            "-t",
            topology,
            "--secrets",
            secrets.to_str().unwrap(),
        ])
    };
    let out = plan("z640");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(2),
        "z640 must plan with its own key and the .pub files: {err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("z640 wg0:"));
    let out = plan("nuc");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key file(s) missing") && err.contains("nuc.wg0.key") && !err.contains("z640"),
        "{err}"
    );
}

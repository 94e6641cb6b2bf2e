//! CLI behaviour: exit codes, messages, secrets handling and byte-stable re-rendering.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn fabric(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(args)
        .current_dir(common::repo())
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn check_exits_0_on_the_shipped_topology() {
    let out = fabric(&["check", "-t", "topology.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid (7 nodes, 2 planes, 3 client routers, 3 layouts)"));
}

#[test]
fn check_exits_1_with_located_findings() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let shipped = fs::read_to_string(common::repo().join("topology.yaml")).unwrap();
    fs::write(
        &bad,
        shipped
            .replacen("    - id: 60", "    - id: 61", 1)
            .replacen("listen_port: 51821", "listen_port: 0", 1),
    )
    .unwrap();
    let out = fabric(&["check", "-t", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let file = bad.display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:22:18: planes.wg1.listen_port: port 0 is out of range (use 1-65535)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:32:15: vlans.list[0].subnet: VLAN 61 has subnet"
        )),
        "{err}"
    );
    assert!(err.trim_end().ends_with("2 finding(s)"), "{err}");
}

#[test]
fn check_exits_2_when_the_file_is_missing() {
    let out = fabric(&["check", "-t", "/nonexistent/topology.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("reading /nonexistent/topology.yaml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn render_without_secrets_names_them_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("s");
    let out = fabric(&[
        "render",
        "--secrets",
        secrets.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("secret(s) missing")
            && err.contains("z640.wg0.key")
            && err.contains("run `fabric keys`"),
        "{err}"
    );
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_then_render_writes_every_artifact_and_rerender_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let out_dir = dir.path().join("out");
    let (s, o) = (secrets.to_str().unwrap(), out_dir.to_str().unwrap());
    let keys = fabric(&["keys", "--secrets", s]);
    assert_eq!(keys.status.code(), Some(0), "{}", text(&keys.stderr));
    assert!(
        text(&keys.stdout).contains("15 created, 0 already present"),
        "{}",
        text(&keys.stdout)
    );
    assert_eq!(mode(&secrets), 0o700);
    assert_eq!(mode(&secrets.join("wg/z640.wg0.key")), 0o600);
    assert_eq!(mode(&secrets.join("sstp/client-b.password")), 0o600);
    let again = fabric(&["keys", "--secrets", s]);
    assert!(text(&again.stdout).contains("0 created, 15 already present"));

    for layout in common::LAYOUTS {
        let first = fabric(&["render", "--secrets", s, "--layout", layout, "--out", o]);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out_dir.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["layout"], layout);
        let artifacts = manifest["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), 11);
        for a in artifacts {
            let p = out_dir.join(a["path"].as_str().unwrap());
            let want = if a["secret"].as_bool().unwrap() {
                0o600
            } else {
                0o644
            };
            assert_eq!(mode(&p), want, "{}", p.display());
        }
        let second = fabric(&["render", "--secrets", s, "--layout", layout, "--out", o]);
        let report = text(&second.stdout);
        assert_eq!(report.lines().count(), 12, "{report}");
        assert!(
            report.lines().all(|l| l.starts_with("unchanged")),
            "re-render must change no byte:\n{report}"
        );
    }
}

#[test]
fn render_all_layouts_writes_each_layout_into_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let all = dir.path().join("all");
    let s = secrets.to_str().unwrap();
    assert!(fabric(&["keys", "--secrets", s]).status.success());
    let out = fabric(&[
        "render",
        "--secrets",
        s,
        "--all-layouts",
        "--out",
        all.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let headers: Vec<&str> = report.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(headers.len(), common::LAYOUTS.len(), "{report}");
    for layout in common::LAYOUTS {
        let header = format!("== layout {layout} -> {}", all.join(layout).display());
        assert!(headers.contains(&header.as_str()), "{report}");
        // Byte for byte what a render of that one layout writes.
        let one = dir.path().join(format!("one-{layout}"));
        let single = fabric(&[
            "render",
            "--secrets",
            s,
            "--layout",
            layout,
            "--out",
            one.to_str().unwrap(),
        ]);
        assert!(single.status.success(), "{}", text(&single.stderr));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(one.join("manifest.json")).unwrap()).unwrap();
        let mut paths: Vec<String> = manifest["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["path"].as_str().unwrap().to_string())
            .collect();
        paths.push("manifest.json".into());
        for p in paths {
            assert_eq!(
                fs::read(all.join(layout).join(&p)).unwrap(),
                fs::read(one.join(&p)).unwrap(),
                "{layout}/{p}"
            );
        }
    }
    let both = fabric(&[
        "render",
        "--secrets",
        s,
        "--all-layouts",
        "--layout",
        "chr02",
        "--out",
        "/nonexistent",
    ]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    assert!(
        text(&both.stderr).contains("cannot be used with"),
        "{}",
        text(&both.stderr)
    );
}

#[test]
fn render_refuses_group_readable_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("secrets");
    assert!(
        fabric(&["keys", "--secrets", s.to_str().unwrap()])
            .status
            .success()
    );
    fs::set_permissions(s.join("wg/nuc.wg0.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = fabric(&[
        "render",
        "--secrets",
        s.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nuc.wg0.key is readable by group or others"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unknown_layout_is_an_operational_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("secrets");
    assert!(
        fabric(&["keys", "--secrets", s.to_str().unwrap()])
            .status
            .success()
    );
    let out = fabric(&[
        "render",
        "--secrets",
        s.to_str().unwrap(),
        "--layout",
        "nope",
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("layout \"nope\" is not defined"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn keys_rotate_replaces_a_node_key_and_a_password_and_the_next_render_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let out_dir = dir.path().join("out");
    let (s, o) = (secrets.to_str().unwrap(), out_dir.to_str().unwrap());
    assert_eq!(fabric(&["keys", "--secrets", s]).status.code(), Some(0));
    let public = |name: &str| fs::read_to_string(secrets.join(name)).unwrap();
    let old_z640 = public("wg/z640.wg0.pub");
    let old_password = public("sstp/client-b.password");
    let render = || {
        let out = fabric(&["render", "--secrets", s, "--out", o]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        fs::read_to_string(out_dir.join("wg-quick/vps01/wg0.conf")).unwrap_or_default()
            + &fs::read_to_string(out_dir.join("routeros/chr01.rsc")).unwrap()
    };
    let before = render();
    assert!(before.contains(old_z640.trim()), "z640's key is rendered");

    // A bad name anywhere: nothing is rotated.
    let refused = fabric(&[
        "keys",
        "--secrets",
        s,
        "--rotate",
        "z640",
        "--rotate",
        "nosuch",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains("neither a node nor an SSTP client"));
    assert_eq!(public("wg/z640.wg0.pub"), old_z640);

    let out = fabric(&[
        "keys",
        "--secrets",
        s,
        "--rotate",
        "z640",
        "--rotate",
        "client-b",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("rotated WireGuard key z640.wg0: public "),
        "{report}"
    );
    assert!(
        report.contains("rotated SSTP password of client-b"),
        "{report}"
    );
    assert!(
        report.contains("next: `systemctl reload fabric`"),
        "{report}"
    );
    assert!(
        !report.contains(old_password.trim()),
        "no secret is printed"
    );
    let new_z640 = public("wg/z640.wg0.pub");
    assert_ne!(new_z640, old_z640);
    let new_password = public("sstp/client-b.password");
    assert_ne!(new_password, old_password);
    assert!(
        !report.contains(new_password.trim()),
        "no secret is printed"
    );
    let new_key = public("wg/z640.wg0.key");
    assert!(
        !report.contains(new_key.trim()),
        "no private key is printed"
    );
    assert_eq!(mode(&secrets.join("wg/z640.wg0.key.old")), 0o600);
    let after = render();
    assert!(after.contains(new_z640.trim()) && !after.contains(old_z640.trim()));
}

//! `fabric serve|failover|failback|status` at the command line, without a lab: exit codes and
//! messages when the daemon is not running or the policy is missing or wrong.

use std::path::Path;
use std::process::{Command, Output};

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");

fn fabric(args: &[&str]) -> Output {
    Command::new(FABRIC).args(args).output().unwrap()
}

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("topology.yaml")).unwrap()
}

#[test]
fn control_commands_without_a_daemon_exit_2_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let sock = sock.to_str().unwrap();
    for args in [
        vec!["status", "--control", sock],
        vec!["failback", "--control", sock],
        vec!["failover", "--to", "chr02", "--dry-run", "--control", sock],
    ] {
        let out = fabric(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is `fabric serve` running?"), "{err}");
    }
}

#[test]
fn serve_with_an_invalid_failover_policy_reports_located_findings_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("topology.yaml");
    std::fs::write(&t, shipped().replacen("  misses: 5", "  misses: 0", 1)).unwrap();
    let out = fabric(&["serve", "-t", t.to_str().unwrap(), "--no-dns"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failover.misses: misses 0 is out of range (use 1-1000)"),
        "{err}"
    );
}

#[test]
fn serve_without_a_failover_section_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("topology.yaml");
    let text = shipped();
    let start = text.find("# Health checks on the wg0 hub").unwrap();
    let end = text.find("\ndns:\n").unwrap();
    std::fs::write(&t, format!("{}{}", &text[..start], &text[end + 1..])).unwrap();
    let out = fabric(&["serve", "-t", t.to_str().unwrap(), "--no-dns"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no failover section"), "{err}");
}

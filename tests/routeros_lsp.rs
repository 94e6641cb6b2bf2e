//! Contract test for `fabric render`: every RouterOS artifact (`routeros-v6`, `routeros-v7`) of
//! every layout passes `routeros-lsp check --format json FILE` (PyPI routeros-lsp 0.2.3, which
//! checks against a RouterOS 7.21.4 command tree) with no errors and no warnings, except, in
//! v6 scripts, warnings about the known v6-only parameters in [`V6_ONLY_PARAMETERS`], which are
//! printed. If routeros-lsp is not installed the test fails: scripts/install-deps.sh installs it.
//!
//! routeros-lsp's JSON output (measured on 0.2.3): stdout is an array of
//! `{"path", "line", "column", "endLine", "endColumn", "severity": "error"|"warning"|
//! "information"|"hint", "rule": "schema/unknown-parameter"|…, "source", "message"}`; the
//! summary goes to stderr; exit 0 = no errors, 1 = errors, 2 = a file could not be analysed.

mod support;

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use support::fabric::render_layout;
use support::netns::run;

/// Parameters that RouterOS 6 has and the 7.21.4 command tree lacks. routeros-lsp reports
/// them as `schema/unknown-parameter` warnings; only in `routeros-v6` artifacts are they fine.
const V6_ONLY_PARAMETERS: &[&str] = &[
    "force-aes",               // /interface sstp-server server (v7: ciphers)
    "routing-mark",            // /ip route (v7: routing-table)
    "distribute-default",      // /routing ospf instance
    "redistribute-connected",  // /routing ospf instance (v7: redistribute)
    "redistribute-static",     // /routing ospf instance
    "redistribute-other-ospf", // /routing ospf instance
    "redistribute-rip",        // /routing ospf instance
    "redistribute-bgp",        // /routing ospf instance
];

#[derive(Debug, Deserialize)]
struct Finding {
    line: u32,
    column: u32,
    severity: String,
    rule: String,
    message: String,
}

impl Finding {
    fn show(&self, path: &Path) -> String {
        format!(
            "{}:{}:{}: {}: {} [{}]",
            path.display(),
            self.line,
            self.column,
            self.severity,
            self.message,
            self.rule
        )
    }

    /// The name in `'name' is not a parameter …`.
    fn quoted_name(&self) -> Option<&str> {
        let rest = self.message.strip_prefix('\'')?;
        rest.split_once('\'').map(|(name, _)| name)
    }

    fn is_allowed_v6_only(&self) -> bool {
        self.rule == "schema/unknown-parameter"
            && self
                .quoted_name()
                .is_some_and(|n| V6_ONLY_PARAMETERS.contains(&n))
    }
}

/// Panics loudly unless `routeros-lsp` can be started.
fn require_routeros_lsp() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(
        || match Command::new("routeros-lsp").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("routeros-lsp --version failed: {out:?}"),
            Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                "ROUTEROS-LSP IS NOT INSTALLED: this test needs `routeros-lsp` (PyPI routeros-lsp \
             0.2.3) on PATH; run scripts/install-deps.sh. The test does not skip."
            ),
            Err(e) => panic!("cannot run routeros-lsp: {e}"),
        },
    );
}

/// Runs routeros-lsp on `path`. Panics if it is not installed or cannot analyse the file.
fn routeros_lsp(path: &Path) -> Vec<Finding> {
    require_routeros_lsp();
    let mut cmd = Command::new("routeros-lsp");
    cmd.args(["check", "--format", "json"]).arg(path);
    let out = run(&mut cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "routeros-lsp could not check {} ({}): {stderr}",
        path.display(),
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "routeros-lsp printed no JSON array of findings for {}: {e}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Checks one RouterOS script of `format` (`routeros-v6` or `routeros-v7`). Returns the
/// findings that fail it; prints the tolerated ones (uncaptured, so they show in CI logs).
fn check_routeros_file(path: &Path, format: &str) -> Vec<String> {
    assert!(
        matches!(format, "routeros-v6" | "routeros-v7"),
        "not a RouterOS format: {format}"
    );
    let mut failing = Vec::new();
    for f in routeros_lsp(path) {
        let tolerated = match f.severity.as_str() {
            "error" => false,
            "warning" => format == "routeros-v6" && f.is_allowed_v6_only(),
            _ => true, // information, hint
        };
        if tolerated {
            // Straight to stderr, past the test harness's capture: shown in every CI log.
            let _ = writeln!(
                std::io::stderr(),
                "routeros-lsp, tolerated in {format}: {}",
                f.show(path)
            );
        } else {
            failing.push(f.show(path));
        }
    }
    failing
}

fn routeros_artifacts_pass_routeros_lsp(layout: &str) {
    let rendered = render_layout(layout);
    let artifacts: Vec<_> = rendered
        .manifest
        .artifacts
        .iter()
        .filter(|a| matches!(a.format.as_str(), "routeros-v6" | "routeros-v7"))
        .collect();
    assert!(
        !artifacts.is_empty(),
        "layout {layout} rendered no RouterOS artifact: {:#?}",
        rendered.manifest.artifacts
    );
    let failing: Vec<String> = artifacts
        .iter()
        .flat_map(|a| check_routeros_file(&rendered.path_of(a), &a.format))
        .collect();
    assert!(
        failing.is_empty(),
        "layout {layout}: routeros-lsp findings in {} RouterOS artifacts:\n{}",
        artifacts.len(),
        failing.join("\n")
    );
}

#[test]
fn primary_layout_routeros_scripts_pass_routeros_lsp() {
    routeros_artifacts_pass_routeros_lsp("primary");
}

#[test]
fn chr02_layout_routeros_scripts_pass_routeros_lsp() {
    routeros_artifacts_pass_routeros_lsp("chr02");
}

#[test]
fn split_role_layout_routeros_scripts_pass_routeros_lsp() {
    routeros_artifacts_pass_routeros_lsp("split-role");
}

#[test]
fn hand_written_scripts_in_routeros_dir_pass_routeros_lsp() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("routeros");
    let scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .collect();
    assert!(!scripts.is_empty(), "no .rsc under {}", dir.display());
    let failing: Vec<String> = scripts
        .iter()
        .flat_map(|p| check_routeros_file(p, "routeros-v7"))
        .collect();
    assert!(
        failing.is_empty(),
        "routeros-lsp findings:\n{}",
        failing.join("\n")
    );
}

// --- The checker itself, on hand-written scripts (so it is known to pass and to fail). ---

fn sample(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write a sample script");
    (dir, path)
}

const V6_CLIENT: &str = r#"# generated sample
/interface sstp-client
add connect-to="hub.example.net" name="sstp-hub" user="client-a" password="p\$ss" \
    profile=default-encryption authentication=mschap2 verify-server-certificate=yes \
    keepalive-timeout=15 disabled=no
/ip route
add dst-address=10.0.12.0/24 gateway="sstp-hub" distance=1 routing-mark=fabric comment="fabric:route"
"#;

#[test]
fn checker_tolerates_v6_only_parameters_in_v6_scripts_only() {
    let (_dir, path) = sample("client.rsc", V6_CLIENT);
    assert_eq!(
        check_routeros_file(&path, "routeros-v6"),
        Vec::<String>::new()
    );
    let v7 = check_routeros_file(&path, "routeros-v7");
    assert_eq!(v7.len(), 1, "{v7:?}");
    assert!(v7[0].contains("routing-mark"), "{v7:?}");
}

#[test]
fn checker_rejects_syntax_errors_and_unknown_commands() {
    let (_dir, path) = sample(
        "bad.rsc",
        "/ip address\nadd address=10.0.12.1/24 interface=\"wg0\nadd address=x\n",
    );
    let failing = check_routeros_file(&path, "routeros-v6");
    assert!(
        failing.iter().any(|f| f.contains(": error: ")),
        "{failing:?}"
    );

    let (_dir, path) = sample("unknown.rsc", "/ip frobnicate\nadd foo=bar\n");
    let failing = check_routeros_file(&path, "routeros-v6");
    assert!(
        failing.iter().any(|f| f.contains("schema/unknown-command")),
        "{failing:?}"
    );
}

#[test]
fn checker_rejects_missing_required_parameters() {
    // v6 and v7 both need user= on an sstp-client.
    let (_dir, path) = sample(
        "noauth.rsc",
        "/interface sstp-client\nadd connect-to=\"hub.example.net\" name=\"sstp-hub\" disabled=no\n",
    );
    let failing = check_routeros_file(&path, "routeros-v6");
    assert!(
        failing
            .iter()
            .any(|f| f.contains("schema/missing-required")),
        "{failing:?}"
    );
}

//! Running the `fabric` binary and reading the render contract.
//!
//! Contract (what `fabric render` promises the tests):
//! `fabric keys -t topology.yaml --secrets S` creates the missing secrets, then
//! `fabric render -t topology.yaml --layout L --out O --secrets S` writes `O/manifest.json`:
//! `{"layout": L, "artifacts": [{"path": "relative/path", "node": "z640", "plane": "wg0"
//! (optional), "format": "wg-quick" | "routeros-v6" | "routeros-v7" | …, "secret": bool}]}`.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

use super::netns::{check_ok, run};

/// Every layout `fabric render --layout` supports.
pub const LAYOUTS: [&str; 3] = ["primary", "chr02", "split-role"];

/// `DIR/manifest.json` written by `fabric render`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub layout: String,
    pub artifacts: Vec<Artifact>,
}

/// One rendered file.
#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    /// Relative to the output directory.
    pub path: String,
    pub node: String,
    #[serde(default)]
    pub plane: Option<String>,
    /// `wg-quick`, `routeros-v6`, `routeros-v7`, …
    pub format: String,
    pub secret: bool,
}

/// The result of `fabric keys` + `fabric render` for one layout, in temporary directories that
/// live as long as this value.
pub struct Rendered {
    pub layout: String,
    pub out: PathBuf,
    pub secrets: PathBuf,
    pub manifest: Manifest,
    _dir: tempfile::TempDir,
}

impl Rendered {
    /// Absolute path of an artifact.
    pub fn path_of(&self, artifact: &Artifact) -> PathBuf {
        self.out.join(&artifact.path)
    }

    /// Artifacts with the given format.
    pub fn with_format<'a>(&'a self, format: &'a str) -> impl Iterator<Item = &'a Artifact> + 'a {
        self.manifest
            .artifacts
            .iter()
            .filter(move |a| a.format == format)
    }
}

/// The repository's topology file, the input of every contract test.
pub fn topology_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topology.yaml")
}

/// Runs the `fabric` binary built by cargo for this test with `args`; any exit status.
pub fn fabric<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_fabric")).args(args), None)
}

/// Runs `fabric args…`; panics (showing its output) unless it succeeds. Returns stdout.
pub fn fabric_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let words: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    check_ok(&format!("fabric {}", words.join(" ")), fabric(args))
}

/// `fabric keys` into a fresh secrets directory, then `fabric render --layout layout`; reads
/// and checks the manifest (layout matches, paths are relative, inside the output directory
/// and exist). Panics on any failure.
pub fn render_layout(layout: &str) -> Rendered {
    let dir = tempfile::Builder::new()
        .prefix(&format!("fabric-render-{layout}-"))
        .tempdir()
        .expect("create a temporary directory");
    let out = dir.path().join("out");
    let secrets = dir.path().join("secrets");
    let topology = topology_path();
    assert!(topology.is_file(), "{} is missing", topology.display());
    let topology = topology.to_str().expect("UTF-8 path");
    let secrets_arg = secrets.to_str().expect("UTF-8 path");
    let out_arg = out.to_str().expect("UTF-8 path");
    fabric_ok(&["keys", "-t", topology, "--secrets", secrets_arg]);
    fabric_ok(&[
        "render",
        "-t",
        topology,
        "--layout",
        layout,
        "--out",
        out_arg,
        "--secrets",
        secrets_arg,
    ]);
    let manifest_path = out.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| {
        panic!(
            "fabric render --layout {layout} wrote no readable {}: {e}",
            manifest_path.display()
        )
    });
    let manifest: Manifest = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{}: not a valid manifest: {e}\n{text}",
            manifest_path.display()
        )
    });
    assert_eq!(
        manifest.layout, layout,
        "manifest.json names the wrong layout"
    );
    for artifact in &manifest.artifacts {
        let rel = Path::new(&artifact.path);
        assert!(
            rel.components().all(|c| matches!(c, Component::Normal(_))),
            "artifact path {:?} must be relative, without `..`",
            artifact.path
        );
        assert!(
            out.join(rel).is_file(),
            "artifact {} listed in the manifest does not exist",
            artifact.path
        );
    }
    Rendered {
        layout: layout.to_string(),
        out,
        secrets,
        manifest,
        _dir: dir,
    }
}

//! Reads topology.yaml and runs the pure loader.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::diag::Diagnostic;
use crate::model::Topology;
use crate::validate;

/// A topology that failed validation, with the file it came from.
#[derive(Debug)]
pub struct Invalid {
    pub file: String,
    pub findings: Vec<Diagnostic>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.findings {
            writeln!(f, "{}", d.display(&self.file))?;
        }
        write!(f, "{}: {} finding(s)", self.file, self.findings.len())
    }
}

impl std::error::Error for Invalid {}

/// Reads and validates. I/O problems are errors; findings come back as [`Invalid`].
pub fn read(path: &Path) -> anyhow::Result<Result<Topology, Invalid>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(validate::load(&text).map_err(|findings| Invalid {
        file: path.display().to_string(),
        findings,
    }))
}

/// The default secrets directory: `secrets/` beside the topology file.
pub fn default_secrets_dir(topology: &Path) -> PathBuf {
    topology
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("secrets")
}

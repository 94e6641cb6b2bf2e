//! Atomic file output: temp file in the same directory, fsync, rename; mode 0600 for secrets;
//! unchanged files are not touched.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
}

impl WriteOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Created => "created",
            WriteOutcome::Updated => "updated",
            WriteOutcome::Unchanged => "unchanged",
        }
    }
}

/// Writes `contents` to `path` atomically with `mode`, unless it already holds exactly that.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<WriteOutcome> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let existing = fs::read(path).ok();
    let current_mode = fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    if existing.as_deref() == Some(contents) && current_mode == Some(mode) {
        return Ok(WriteOutcome::Unchanged);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(if existing.is_some() {
        WriteOutcome::Updated
    } else {
        WriteOutcome::Created
    })
}

/// Writes every artifact under `out`, removes files the previous manifest listed that are no
/// longer rendered, and returns one report line per file.
pub fn write_artifacts(
    out: &Path,
    artifacts: &[crate::render::Artifact],
) -> anyhow::Result<Vec<String>> {
    let previous = previous_paths(&out.join("manifest.json"));
    let mut lines = Vec::new();
    for a in artifacts {
        let mode = if a.secret { 0o600 } else { 0o644 };
        let outcome = write_atomic(&out.join(&a.path), a.contents.as_bytes(), mode)?;
        lines.push(format!(
            "{:9} {}{}",
            outcome.as_str(),
            a.path,
            if a.secret { " (secret, 0600)" } else { "" }
        ));
    }
    for old in previous {
        if !artifacts.iter().any(|a| a.path == old)
            && !old.contains("..")
            && !old.starts_with('/')
            && fs::remove_file(out.join(&old)).is_ok()
        {
            lines.push(format!("{:9} {old}", "removed"));
        }
    }
    Ok(lines)
}

fn previous_paths(manifest: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(manifest) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    value["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["path"].as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_reports_unchanged_and_keeps_secret_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.conf");
        assert_eq!(
            write_atomic(&p, b"x", 0o600).unwrap(),
            WriteOutcome::Created
        );
        assert_eq!(
            write_atomic(&p, b"x", 0o600).unwrap(),
            WriteOutcome::Unchanged
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            write_atomic(&p, b"y", 0o600).unwrap(),
            WriteOutcome::Updated
        );
        assert_eq!(fs::read(&p).unwrap(), b"y");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

//! The persisted decision: `<state-dir>/state.json` = `{"epoch": N, "layout": "L"}`, written
//! atomically (temp file, fsync, rename, fsync of the directory) before any action takes
//! effect.

use std::path::Path;

use anyhow::Context;

use crate::failover::Published;
use crate::shell::output::write_atomic;

pub const FILE: &str = "state.json";

/// The persisted state, or `None` when there is none yet.
pub fn read(dir: &Path) -> anyhow::Result<Option<Published>> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{}: not a fabric state file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn write(dir: &Path, state: &Published) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(state)?;
    text.push('\n');
    write_atomic(&dir.join(FILE), text.as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let s = Published {
            epoch: 42,
            layout: "split-role".into(),
        };
        write(dir.path(), &s).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(s));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, "{\"epoch\":42,\"layout\":\"split-role\"}\n");
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{\"epoch\":").unwrap();
        let e = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(e.contains("not a fabric state file"), "{e}");
    }
}

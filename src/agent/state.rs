//! The agent's state directory: `applied.json` holds the last epoch and layout the agent
//! applied successfully, written atomically (temp + fsync + rename) after each apply.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::control::Published;
use crate::shell::output::write_atomic;

pub fn path(dir: &Path) -> PathBuf {
    dir.join("applied.json")
}

/// The last applied decision, `None` for a fresh agent.
pub fn read(dir: &Path) -> anyhow::Result<Option<Published>> {
    let p = path(dir);
    match fs::read_to_string(&p) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("{} is corrupt", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Records `p` as applied (creates the directory, 0700).
pub fn write(dir: &Path, p: &Published) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let text = serde_json::to_string(p)? + "\n";
    write_atomic(&path(dir), text.as_bytes(), 0o600)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_fresh_dir_has_none() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state");
        assert_eq!(read(&dir).unwrap(), None);
        let p = Published {
            epoch: 4,
            layout: "chr02".into(),
        };
        write(&dir, &p).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(p));
        assert_eq!(
            fs::metadata(path(&dir)).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

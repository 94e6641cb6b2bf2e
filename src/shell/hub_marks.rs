//! What a hub pusher remembers of the SSTP passwords it set on each hub, in
//! `<state-dir>/hub-push/`: `password-marks.key` (256 random bits as hex, 0600, made on first
//! use) and `<node>.passwords` (JSON: PPP user → keyed mark, 0600, written atomically). Never
//! a password: a mark is HMAC-SHA256 under the key
//! ([`password_mark`](crate::routeros_rest::hub::password_mark)), and the key never leaves
//! this directory (nothing is stored on the router).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::output::write_atomic;
use super::secrets::{random_token, read_secret};

#[derive(Debug, Clone)]
pub struct HubMarks {
    dir: PathBuf,
}

impl HubMarks {
    pub fn new(state_dir: &Path) -> Self {
        HubMarks {
            dir: state_dir.join("hub-push"),
        }
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("password-marks.key")
    }

    fn marks_path(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.passwords"))
    }

    /// The marking key, made when missing.
    pub fn key(&self) -> anyhow::Result<Vec<u8>> {
        let path = self.key_path();
        let text = match read_secret(&path)? {
            Some(t) => t,
            None => {
                let t = random_token()?;
                write_atomic(&path, format!("{t}\n").as_bytes(), 0o600)?;
                t
            }
        };
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("{} is not 64 hex digits", path.display());
        }
        Ok((0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex checked"))
            .collect())
    }

    /// The marks last pushed to `node` (none when the file is missing).
    pub fn load(&self, node: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let path = self.marks_path(node);
        match read_secret(&path)? {
            None => Ok(BTreeMap::new()),
            Some(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object of marks", path.display())),
        }
    }

    pub fn save(&self, node: &str, marks: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(marks)? + "\n";
        write_atomic(&self.marks_path(node), text.as_bytes(), 0o600)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_made_once_and_marks_round_trip_in_private_files() {
        let d = tempfile::tempdir().unwrap();
        let m = HubMarks::new(d.path());
        let k = m.key().unwrap();
        assert_eq!(k.len(), 32);
        assert_eq!(m.key().unwrap(), k, "the key is kept");
        assert!(m.load("chr02").unwrap().is_empty());
        let marks = BTreeMap::from([("client-b".to_string(), "00ff".to_string())]);
        m.save("chr02", &marks).unwrap();
        assert_eq!(m.load("chr02").unwrap(), marks);
        for f in ["password-marks.key", "chr02.passwords"] {
            let mode = std::fs::metadata(d.path().join("hub-push").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
}

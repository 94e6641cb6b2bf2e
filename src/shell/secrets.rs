//! The secrets directory (default `./secrets`, git-ignored, 0700; files 0600):
//! `wg/<node>.<plane>.key` holds a base64 WireGuard private key, `sstp/<client>.password` an
//! SSTP password. `fabric keys` creates what is missing; nothing here ever logs a secret.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::output::{WriteOutcome, write_atomic};
use crate::model::{PrivateKey, Secret, Topology};
use crate::plan::{KeyId, KeyRing};
use crate::render::Secrets;

pub struct SecretsDir {
    root: PathBuf,
}

/// What `fabric keys` did.
#[derive(Debug, Default)]
pub struct KeysReport {
    pub created: Vec<String>,
    pub present: usize,
}

impl SecretsDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SecretsDir { root: root.into() }
    }

    fn key_path(&self, id: &KeyId) -> PathBuf {
        self.root
            .join("wg")
            .join(format!("{}.{}.key", id.node, id.plane))
    }

    fn password_path(&self, client: &str) -> PathBuf {
        self.root.join("sstp").join(format!("{client}.password"))
    }

    /// Creates every missing key and password the topology needs.
    pub fn generate_missing(&self, t: &Topology) -> anyhow::Result<KeysReport> {
        let mut report = KeysReport::default();
        for sub in ["", "wg", "sstp"] {
            let dir = self.root.join(sub);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        for (id, public) in KeyRing::needed(t) {
            if public.is_some() {
                continue; // the node keeps its own key
            }
            let path = self.key_path(&id);
            report.count(
                &path,
                write_new(&path, || Ok(PrivateKey::generate().expose_base64()))?,
            );
        }
        for c in t.sstp.iter().flat_map(|s| &s.clients) {
            let path = self.password_path(c.name.as_str());
            report.count(&path, write_new(&path, random_password)?);
        }
        Ok(report)
    }

    /// Reads the secrets the topology needs; names every missing one.
    pub fn load(&self, t: &Topology) -> anyhow::Result<(KeyRing, Secrets)> {
        let mut ring = KeyRing::default();
        let mut secrets = Secrets::default();
        let mut missing = Vec::new();
        for (id, public) in KeyRing::needed(t) {
            if let Some(public) = public {
                ring.0.insert(id, public);
                continue;
            }
            let path = self.key_path(&id);
            match read_secret(&path)? {
                Some(text) => {
                    let key: PrivateKey = text.parse().with_context(|| {
                        format!("{} is not a WireGuard private key", path.display())
                    })?;
                    ring.0.insert(id.clone(), key.public_key());
                    secrets.private_keys.insert(id, key);
                }
                None => missing.push(path.display().to_string()),
            }
        }
        for c in t.sstp.iter().flat_map(|s| &s.clients) {
            let path = self.password_path(c.name.as_str());
            match read_secret(&path)? {
                Some(text) => {
                    secrets.passwords.insert(c.name.clone(), Secret::new(text));
                }
                None => missing.push(path.display().to_string()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "{} secret(s) missing: {} (run `fabric keys` to create them)",
                missing.len(),
                missing.join(", ")
            );
        }
        Ok((ring, secrets))
    }
}

impl KeysReport {
    fn count(&mut self, path: &Path, outcome: WriteOutcome) {
        if outcome == WriteOutcome::Created {
            self.created.push(path.display().to_string());
        } else {
            self.present += 1;
        }
    }
}

fn write_new(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<WriteOutcome> {
    if path.exists() {
        return Ok(WriteOutcome::Unchanged);
    }
    write_atomic(path, format!("{}\n", make()?).as_bytes(), 0o600)
}

/// A secret file's text without its final line break; refuses group/world-readable files.
fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by group or others (chmod 600 it)",
            path.display()
        );
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(text.strip_suffix('\n').unwrap_or(&text).to_string()))
}

/// 24 characters from [A-Za-z0-9] out of the kernel's random source.
fn random_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 64];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    // Rejection sampling keeps the distribution uniform.
    let limit = 256 - 256 % ALPHABET.len();
    let out: String = bytes
        .iter()
        .filter(|b| usize::from(**b) < limit)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .take(24)
        .collect();
    if out.len() < 24 {
        bail!("not enough randomness for a password");
    }
    Ok(out)
}

//! `fabric keys --rotate NAME`: a new fabric-managed WireGuard private key for a node (every
//! plane, or `NODE.PLANE`), or a new password for an SSTP client router. The previous value is
//! kept beside it as `<file>.old` (0600) until the next rotation, for a rollback.

use std::path::Path;

use anyhow::{Context, bail};

use super::output::write_atomic;
use super::secrets::{SecretsDir, random_password, read_secret};
use crate::model::{PrivateKey, PublicKey, Topology};
use crate::plan::{KeyId, KeyRing};

/// One rotated secret.
#[derive(Debug, PartialEq)]
pub enum Rotated {
    WireGuard {
        key: String,
        file: String,
        old_public: PublicKey,
        new_public: PublicKey,
    },
    SstpPassword {
        client: String,
        file: String,
    },
}

impl std::fmt::Display for Rotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rotated::WireGuard {
                key,
                file,
                old_public,
                new_public,
            } => write!(
                f,
                "rotated WireGuard key {key}: public {old_public} -> {new_public} ({file}, previous in {file}.old)"
            ),
            Rotated::SstpPassword { client, file } => write!(
                f,
                "rotated SSTP password of {client} ({file}, previous in {file}.old)"
            ),
        }
    }
}

/// A secret `--rotate` will replace.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    WireGuard(KeyId),
    SstpPassword(String),
}

impl SecretsDir {
    /// What `name` names: a node (`vps01`: every plane), one plane of it (`vps01.wg1`), or an
    /// SSTP client (`client-b`). Refuses keys a node keeps itself, names the topology lacks and
    /// secrets not created yet. Changes nothing.
    pub fn rotation_targets(&self, t: &Topology, name: &str) -> anyhow::Result<Vec<Target>> {
        let (node, plane) = match name.split_once('.') {
            Some((n, p)) => (n, Some(p)),
            None => (name, None),
        };
        let exists = |p: &Path| {
            if !p.exists() {
                bail!("{} is missing (run `fabric keys`)", p.display());
            }
            Ok(())
        };
        if t.nodes.keys().any(|n| n.as_str() == node) {
            let ids: Vec<_> = KeyRing::needed(t)
                .into_iter()
                .filter(|(id, _)| id.node.as_str() == node)
                .filter(|(id, _)| plane.is_none_or(|p| id.plane.as_str() == p))
                .collect();
            if ids.is_empty() {
                bail!("{node} is not on plane {}", plane.unwrap_or("?"));
            }
            if let Some((id, _)) = ids.iter().find(|(_, public)| public.is_some()) {
                bail!(
                    "{id}: the node keeps its own private key (public_key in the topology); \
                     make a new key on the node and put its public key in topology.yaml"
                );
            }
            for (id, _) in &ids {
                exists(&self.key_path(id))?;
            }
            return Ok(ids
                .into_iter()
                .map(|(id, _)| Target::WireGuard(id))
                .collect());
        }
        let clients: Vec<&str> = t
            .sstp
            .iter()
            .flat_map(|s| &s.clients)
            .map(|c| c.name.as_str())
            .collect();
        if clients.contains(&name) {
            exists(&self.password_path(name))?;
            return Ok(vec![Target::SstpPassword(name.to_string())]);
        }
        let nodes: Vec<&str> = t.nodes.keys().map(|n| n.as_str()).collect();
        bail!(
            "{name:?} is neither a node nor an SSTP client of the topology (nodes: {}; SSTP clients: {})",
            nodes.join(", "),
            clients.join(", ")
        )
    }

    /// Replaces one secret; the previous value goes to `<file>.old`.
    pub fn rotate(&self, target: &Target) -> anyhow::Result<Rotated> {
        match target {
            Target::WireGuard(id) => {
                let path = self.key_path(id);
                let old = self.read_private_key(id)?.with_context(|| {
                    format!("{} is missing (run `fabric keys`)", path.display())
                })?;
                let new = PrivateKey::generate();
                replace(&path, &old.expose_base64(), &new.expose_base64())?;
                self.write_public(id)?;
                Ok(Rotated::WireGuard {
                    key: id.to_string(),
                    file: path.display().to_string(),
                    old_public: old.public_key(),
                    new_public: new.public_key(),
                })
            }
            Target::SstpPassword(client) => {
                let path = self.password_path(client);
                let old = read_secret(&path)?.with_context(|| {
                    format!("{} is missing (run `fabric keys`)", path.display())
                })?;
                replace(&path, &old, &random_password()?)?;
                Ok(Rotated::SstpPassword {
                    client: client.clone(),
                    file: path.display().to_string(),
                })
            }
        }
    }
}

/// Keeps `old` as `<path>.old`, then puts `new` in place; both writes atomic, 0600.
fn replace(path: &Path, old: &str, new: &str) -> anyhow::Result<()> {
    let mut backup = path.as_os_str().to_owned();
    backup.push(".old");
    write_atomic(Path::new(&backup), format!("{old}\n").as_bytes(), 0o600)?;
    write_atomic(path, format!("{new}\n").as_bytes(), 0o600)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn rotate(s: &SecretsDir, t: &Topology, name: &str) -> anyhow::Result<Vec<Rotated>> {
        s.rotation_targets(t, name)?
            .iter()
            .map(|target| s.rotate(target))
            .collect()
    }

    fn setup() -> (tempfile::TempDir, Topology, SecretsDir) {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::validate::load(include_str!("../../topology.yaml")).unwrap();
        let s = SecretsDir::new(dir.path());
        s.generate_missing(&t).unwrap();
        (dir, t, s)
    }

    fn read(p: &Path) -> String {
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn a_node_gets_new_keys_on_every_plane_and_keeps_the_old_ones() {
        let (dir, t, s) = setup();
        let key = |p: &str| dir.path().join(format!("wg/vps01.{p}.key"));
        let before = (read(&key("wg0")), read(&key("wg1")));
        let rotated = rotate(&s, &t, "vps01").unwrap();
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        assert_ne!(read(&key("wg0")), before.0);
        assert_ne!(read(&key("wg1")), before.1);
        assert_eq!(read(&dir.path().join("wg/vps01.wg0.key.old")), before.0);
        let Rotated::WireGuard { new_public, .. } = &rotated[0] else {
            panic!("{rotated:?}")
        };
        let public = read(&dir.path().join("wg/vps01.wg0.pub"));
        assert_eq!(public.trim(), new_public.to_string(), ".pub follows");
    }

    #[test]
    fn one_plane_or_one_client_password() {
        let (dir, t, s) = setup();
        let wg1 = dir.path().join("wg/vps01.wg1.key");
        let wg0 = dir.path().join("wg/vps01.wg0.key");
        let (w0, w1) = (read(&wg0), read(&wg1));
        assert_eq!(rotate(&s, &t, "vps01.wg1").unwrap().len(), 1);
        assert_eq!(read(&wg0), w0, "wg0 untouched");
        assert_ne!(read(&wg1), w1);
        let pw = dir.path().join("sstp/client-b.password");
        let old = read(&pw);
        let r = rotate(&s, &t, "client-b").unwrap();
        assert!(matches!(&r[..], [Rotated::SstpPassword { .. }]), "{r:?}");
        assert_ne!(read(&pw), old);
        assert_eq!(read(&dir.path().join("sstp/client-b.password.old")), old);
        assert_eq!(read(&pw).trim().len(), 24);
    }

    #[test]
    fn unknown_names_and_node_held_keys_are_refused() {
        let (_dir, t, s) = setup();
        let e = rotate(&s, &t, "nosuch").unwrap_err().to_string();
        assert!(
            e.contains("neither a node nor an SSTP client") && e.contains("client-b"),
            "{e}"
        );
        let e = rotate(&s, &t, "z640.wg1").unwrap_err().to_string();
        assert!(e.contains("not on plane wg1"), "{e}");
        let yaml = include_str!("../../topology.yaml").replacen(
            "      wg0: { address: 10.0.12.30 }",
            "      wg0: { address: 10.0.12.30, public_key: \"wiTJ86FiMkq2grW/6xDTVEu6H2oTqAgmFmz5Sz2AlVk=\" }",
            1,
        );
        let held = crate::validate::load(&yaml).unwrap();
        let e = rotate(&s, &held, "z640").unwrap_err().to_string();
        assert!(e.contains("keeps its own private key"), "{e}");
    }
}

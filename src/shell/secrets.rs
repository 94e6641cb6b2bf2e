//! The secrets directory (default `./secrets`, git-ignored, 0700; files 0600):
//! `wg/<node>.<plane>.key` holds a base64 WireGuard private key, `sstp/<client>.password` an
//! SSTP password, `controller/tls.crt` + `controller/tls.key` the agent API's self-signed
//! certificate (SAN: every controller host's endpoint IP, `fabric-controller` and
//! `<host>.<domain>`; both 0600 like everything in the directory — the certificate is public
//! and is copied to the agents, which pin it) and
//! `agents/<node>.token` one bearer token per Linux spoke (a Linux node without an endpoint;
//! Linux nodes with an endpoint are the controller hosts). `fabric keys` creates what is
//! missing; nothing here ever logs a secret.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::output::{WriteOutcome, write_atomic};
use crate::model::{NodeName, Platform, PrivateKey, PublicKey, Secret, Topology};
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

    pub(super) fn key_path(&self, id: &KeyId) -> PathBuf {
        self.root
            .join("wg")
            .join(format!("{}.{}.key", id.node, id.plane))
    }

    pub(super) fn password_path(&self, client: &str) -> PathBuf {
        self.root.join("sstp").join(format!("{client}.password"))
    }

    /// The agent API's certificate (public; agents pin it).
    pub fn controller_cert_path(&self) -> PathBuf {
        self.root.join("controller").join("tls.crt")
    }

    pub fn controller_key_path(&self) -> PathBuf {
        self.root.join("controller").join("tls.key")
    }

    /// The bearer token of `node`'s agent.
    pub fn agent_token_path(&self, node: &str) -> PathBuf {
        self.root.join("agents").join(format!("{node}.token"))
    }

    /// Creates every missing key, password, certificate and token the topology needs.
    pub fn generate_missing(&self, t: &Topology) -> anyhow::Result<KeysReport> {
        let mut report = KeysReport::default();
        for sub in ["", "wg", "sstp", "controller", "agents"] {
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
            self.write_public(&id)?;
        }
        for c in t.sstp.iter().flat_map(|s| &s.clients) {
            let path = self.password_path(c.name.as_str());
            report.count(&path, write_new(&path, random_password)?);
        }
        self.generate_controller_cert(t, &mut report)?;
        for node in agent_nodes(t) {
            let path = self.agent_token_path(node.as_str());
            report.count(&path, write_new(&path, random_token)?);
        }
        Ok(report)
    }

    /// The agent API's certificate and key; both are (re)made when either is missing.
    fn generate_controller_cert(
        &self,
        t: &Topology,
        report: &mut KeysReport,
    ) -> anyhow::Result<()> {
        let (crt, key) = (self.controller_cert_path(), self.controller_key_path());
        let hosts = controller_hosts(t);
        if hosts.is_empty() {
            return Ok(());
        }
        if crt.exists() && key.exists() {
            report.present += 2;
            return Ok(());
        }
        let mut names = vec!["fabric-controller".to_string()];
        names.extend(hosts.iter().map(|(n, _)| format!("{n}.{}", t.domain)));
        let ips: Vec<IpAddr> = hosts.iter().map(|(_, ip)| *ip).collect();
        let cert = crate::tls::self_signed(&names, &ips)?;
        write_atomic(&key, cert.key_pem.expose().as_bytes(), 0o600)?;
        write_atomic(&crt, cert.cert_pem.as_bytes(), 0o600)?;
        report.created.push(key.display().to_string());
        report.created.push(crt.display().to_string());
        Ok(())
    }

    /// The agent API's TLS configuration from `controller/tls.{crt,key}`.
    pub fn controller_tls(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let crt = self.controller_cert_path();
        let cert = fs::read(&crt).with_context(|| format!("reading {}", crt.display()))?;
        let key = read_secret(&self.controller_key_path())?.with_context(|| {
            format!(
                "{} is missing (run `fabric keys`)",
                self.controller_key_path().display()
            )
        })?;
        crate::tls::server_config(&cert, &Secret::new(key + "\n"))
    }

    /// Every agent's token → node, for the agent API. Missing tokens are named.
    pub fn agent_tokens(&self, t: &Topology) -> anyhow::Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        for node in agent_nodes(t) {
            let path = self.agent_token_path(node.as_str());
            match read_secret(&path)? {
                Some(token) => {
                    out.insert(token, node.to_string());
                }
                None => missing.push(path.display().to_string()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "agent token(s) missing: {} (run `fabric keys`)",
                missing.join(", ")
            );
        }
        Ok(out)
    }

    /// `wg/<node>.<plane>.pub`: the public half, so a node can plan with only its own private
    /// key plus these (copy `wg/*.pub` and the node's own `.key` files to it).
    fn pub_path(&self, id: &KeyId) -> PathBuf {
        self.root
            .join("wg")
            .join(format!("{}.{}.pub", id.node, id.plane))
    }

    /// The private key in `wg/<node>.<plane>.key`, or `None` when the file is missing.
    pub(super) fn read_private_key(&self, id: &KeyId) -> anyhow::Result<Option<PrivateKey>> {
        let path = self.key_path(id);
        let Some(text) = read_secret(&path)? else {
            return Ok(None);
        };
        let key = text
            .parse()
            .with_context(|| format!("{} is not a WireGuard private key", path.display()))?;
        Ok(Some(key))
    }

    /// Records `id`'s private key (and its public half), or the missing file's path.
    fn take_private_key(
        &self,
        id: KeyId,
        ring: &mut KeyRing,
        secrets: &mut Secrets,
        missing: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        match self.read_private_key(&id)? {
            Some(key) => {
                ring.0.insert(id.clone(), key.public_key());
                secrets.private_keys.insert(id, key);
            }
            None => missing.push(self.key_path(&id).display().to_string()),
        }
        Ok(())
    }

    /// Writes (or refreshes) the `.pub` file of a fabric-managed key.
    pub(super) fn write_public(&self, id: &KeyId) -> anyhow::Result<()> {
        let key = self
            .read_private_key(id)?
            .with_context(|| format!("{} vanished", self.key_path(id).display()))?;
        write_atomic(
            &self.pub_path(id),
            format!("{}\n", key.public_key()).as_bytes(),
            0o600,
        )?;
        Ok(())
    }

    /// What one node needs to plan and apply its own interfaces: every public key (from the
    /// topology or `wg/*.pub`) and only `node`'s own private keys — a spoke never holds
    /// another node's private key. Names every missing file.
    pub fn load_for_node(
        &self,
        t: &Topology,
        node: &NodeName,
    ) -> anyhow::Result<(KeyRing, Secrets)> {
        let mut ring = KeyRing::default();
        let mut secrets = Secrets::default();
        let mut missing = Vec::new();
        for (id, public) in KeyRing::needed(t) {
            if let Some(public) = public {
                ring.0.insert(id, public);
            } else if &id.node == node {
                self.take_private_key(id, &mut ring, &mut secrets, &mut missing)?;
            } else {
                let path = self.pub_path(&id);
                match fs::read_to_string(&path) {
                    Ok(text) => {
                        let key: PublicKey = text.trim().parse().with_context(|| {
                            format!("{} is not a WireGuard public key", path.display())
                        })?;
                        ring.0.insert(id, key);
                    }
                    Err(_) => missing.push(path.display().to_string()),
                }
            }
        }
        if !missing.is_empty() {
            bail!(
                "{} key file(s) missing: {} (run `fabric keys`, then copy wg/*.pub and this node's own wg/{node}.*.key)",
                missing.len(),
                missing.join(", ")
            );
        }
        Ok((ring, secrets))
    }

    /// The SSTP passwords of `clients` that are present (`sstp/<client>.password`), read on
    /// demand; a file that cannot be used (group-readable, empty, unreadable) is named in the
    /// second list. Missing files are simply absent (the caller says what that means).
    pub fn sstp_passwords<'a>(
        &self,
        clients: impl IntoIterator<Item = &'a NodeName>,
    ) -> (BTreeMap<NodeName, Secret>, Vec<String>) {
        let (mut found, mut problems) = (BTreeMap::new(), Vec::new());
        for c in clients {
            let path = self.password_path(c.as_str());
            match read_secret(&path) {
                Ok(Some(text)) if text.is_empty() => {
                    problems.push(format!("{} is empty", path.display()));
                }
                Ok(Some(text)) => {
                    found.insert(c.clone(), Secret::new(text));
                }
                Ok(None) => {}
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
        (found, problems)
    }

    /// Reads the secrets the topology needs; names every missing one.
    pub fn load(&self, t: &Topology) -> anyhow::Result<(KeyRing, Secrets)> {
        let mut ring = KeyRing::default();
        let mut secrets = Secrets::default();
        let mut missing = Vec::new();
        for (id, public) in KeyRing::needed(t) {
            match public {
                Some(public) => {
                    ring.0.insert(id, public);
                }
                None => self.take_private_key(id, &mut ring, &mut secrets, &mut missing)?,
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

/// Linux nodes with an endpoint: where the controller (and its agent API) runs.
pub fn controller_hosts(t: &Topology) -> Vec<(NodeName, IpAddr)> {
    t.nodes
        .values()
        .filter(|n| n.platform == Platform::Linux)
        .filter_map(|n| n.endpoint.map(|ip| (n.name.clone(), ip)))
        .collect()
}

/// Linux nodes without an endpoint: spokes that run `fabric agent`.
pub fn agent_nodes(t: &Topology) -> Vec<NodeName> {
    t.nodes
        .values()
        .filter(|n| n.platform == Platform::Linux && n.endpoint.is_none())
        .map(|n| n.name.clone())
        .collect()
}

/// A secret file's text without its final line break; refuses group/world-readable files.
pub fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
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

/// 256 random bits as 64 lowercase hex digits.
pub(crate) fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// 24 characters from [A-Za-z0-9] out of the kernel's random source.
pub(super) fn random_password() -> anyhow::Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Topology {
        crate::validate::load(include_str!("../../topology.yaml")).expect("shipped topology")
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn keys_create_the_controller_certificate_and_one_token_per_linux_spoke() {
        let d = tempfile::tempdir().unwrap();
        let dir = SecretsDir::new(d.path().join("secrets"));
        let t = shipped();
        let first = dir.generate_missing(&t).unwrap();
        assert_eq!(mode(&dir.controller_cert_path()), 0o600);
        assert_eq!(mode(&dir.controller_key_path()), 0o600);
        assert_eq!(
            agent_nodes(&t)
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>(),
            ["nuc", "z640"]
        );
        for node in ["z640", "nuc"] {
            let p = dir.agent_token_path(node);
            assert_eq!(mode(&p), 0o600);
            let token = read_secret(&p).unwrap().unwrap();
            assert_eq!(token.len(), 64);
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let tokens = dir.agent_tokens(&t).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_ne!(
            read_secret(&dir.agent_token_path("z640")).unwrap(),
            read_secret(&dir.agent_token_path("nuc")).unwrap()
        );
        dir.controller_tls()
            .expect("certificate and key load as a TLS identity");
        let pem = fs::read_to_string(dir.controller_cert_path()).unwrap();
        let der = crate::tls::certs_from_pem(pem.as_bytes()).unwrap();
        let ip = [198u8, 51, 100, 20];
        assert!(
            der[0].windows(4).any(|w| w == ip),
            "the certificate names VPS01's endpoint"
        );
        let again = dir.generate_missing(&t).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.present, first.created.len() + first.present);
    }
}

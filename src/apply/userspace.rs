//! The real [`WgBackend`] for userspace WireGuard (wireguard-go), through its UAPI socket
//! `/var/run/wireguard/IF.sock`.
//!
//! - read: `defguard_wireguard_rs` `WGApi::<Userspace>::new(if).read_interface_data()`, run on
//!   a worker thread with a deadline (the library can block or spin when the daemon behind
//!   the socket misbehaves), plus [`super::ip`] for addresses, MTU and link state.
//! - apply: every WireGuard change of one interface goes out as ONE UAPI `set` transaction
//!   built from the library's serializers (`Peer::as_uapi_update` / `as_uapi_remove`): peers
//!   change in place, the interface is never torn down, and 1,000 changed peers cost one
//!   socket round trip instead of 1,000 (`WGApi::configure_peer` opens a connection per
//!   peer). The library has no in-place setter for listen port / private key (its
//!   `write_host` replaces all peers), another reason for the single transaction.
//! - a missing interface is created by starting `wireguard-go IF` (it daemonizes) and waiting,
//!   bounded, for its socket.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use defguard_wireguard_rs::error::WireguardInterfaceError;
use defguard_wireguard_rs::host::Host;
use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::net::IpAddrMask;
use defguard_wireguard_rs::peer::Peer;
use defguard_wireguard_rs::{Userspace, WGApi, WireguardInterfaceApi};
use ipnet::IpNet;

use super::backend::WgBackend;
use super::ip;
use super::model::{InterfaceObserved, PeerField, PeerObserved, WgChange};
use crate::model::{Ifname, PublicKey};
use crate::plan::PeerPlan;

/// Where wireguard-go puts its UAPI sockets (fixed in wireguard-go and in the library).
pub const RUN_DIR: &str = "/var/run/wireguard";
/// Upper bound for one UAPI read or write transaction.
pub const UAPI_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for a new wireguard-go to create its interface and socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// IPv4 forwarding switch of the current network namespace.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn read_forwarding() -> anyhow::Result<bool> {
    let v = std::fs::read_to_string(IP_FORWARD).with_context(|| format!("reading {IP_FORWARD}"))?;
    Ok(v.trim() == "1")
}

#[derive(Debug, Default)]
pub struct UserspaceBackend;

fn socket_path(ifname: &Ifname) -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{ifname}.sock"))
}

fn public_key(key: &Key) -> PublicKey {
    // `Key` displays as base64, the form `PublicKey` parses.
    key.to_string()
        .parse()
        .expect("a 32-byte key is a valid public key")
}

impl WgBackend for UserspaceBackend {
    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
        let sock = socket_path(ifname);
        // The UAPI read runs on its own thread while `ip` reads the link (saves a round trip).
        let host = sock.exists().then(|| read_host(ifname, UAPI_TIMEOUT));
        let link = ip::read(ifname.as_str())?;
        let host = match (&link, host) {
            (None, None) => return Ok(InterfaceObserved::default()),
            (Some(_), None) => bail!(
                "{ifname} exists but has no wireguard-go socket {} (a kernel WireGuard \
                 interface, or wireguard-go started in another mount namespace?)",
                sock.display()
            ),
            (None, Some(_)) => bail!(
                "{} exists but there is no link {ifname} (a dead wireguard-go left it; \
                 remove the file)",
                sock.display()
            ),
            (Some(_), Some(pending)) => pending.wait()?,
        };
        let link = link.unwrap_or_default();
        let peers = host
            .peers
            .values()
            .map(|p| PeerObserved {
                public_key: public_key(&p.public_key),
                endpoint: p.endpoint,
                allowed_ips: p
                    .allowed_ips
                    .iter()
                    .filter_map(|m| IpNet::new(m.address, m.cidr).ok())
                    .collect(),
                keepalive: p.persistent_keepalive_interval.filter(|k| *k != 0),
                preshared_key: p
                    .preshared_key
                    .as_ref()
                    .is_some_and(|k| k.as_array() != [0; 32]),
            })
            .collect();
        Ok(InterfaceObserved {
            exists: true,
            listen_port: Some(host.listen_port).filter(|p| *p != 0),
            public_key: host
                .private_key
                .as_ref()
                .map(|k| public_key(&k.public_key())),
            peers,
            addresses: link.addresses,
            mtu: link.mtu,
            up: link.up,
            routes: link.routes,
            forwarding: read_forwarding()?,
        })
    }

    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
        if changes.contains(&WgChange::CreateInterface) {
            create(ifname)?;
        }
        let uapi = uapi_set(changes);
        if !uapi.is_empty() {
            uapi_transaction(ifname, &uapi, UAPI_TIMEOUT)
                .with_context(|| format!("{ifname}: configuring WireGuard"))?;
        }
        let name = ifname.as_str();
        for change in changes {
            match change {
                WgChange::SetMtu { to, .. } => ip::set_mtu(name, *to)?,
                WgChange::SetAddress { remove, add } => {
                    for r in remove {
                        ip::del_address(name, *r)?;
                    }
                    if let Some(a) = add {
                        ip::add_address(name, *a)?;
                    }
                }
                WgChange::LinkUp => ip::set_up(name)?,
                WgChange::AddRoute(n) => ip::replace_route(name, *n)?,
                WgChange::RemoveRoute(n) => ip::del_route(name, *n)?,
                WgChange::EnableForwarding => std::fs::write(IP_FORWARD, "1\n")
                    .with_context(|| format!("enabling forwarding ({IP_FORWARD})"))?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A `read_interface_data` running on a worker thread.
struct PendingRead {
    ifname: String,
    rx: mpsc::Receiver<Result<Host, WireguardInterfaceError>>,
    deadline: Instant,
}

/// Starts `read_interface_data` on a worker thread; [`PendingRead::wait`] gives up at the
/// deadline (the library can block or spin when the daemon misbehaves; the thread is then
/// left behind, holding nothing but the socket).
fn read_host(ifname: &Ifname, timeout: Duration) -> PendingRead {
    let (tx, rx) = mpsc::channel();
    let name = ifname.to_string();
    thread::spawn(move || {
        let result = WGApi::<Userspace>::new(name).and_then(|api| api.read_interface_data());
        let _ = tx.send(result);
    });
    PendingRead {
        ifname: ifname.to_string(),
        rx,
        deadline: Instant::now() + timeout,
    }
}

impl PendingRead {
    fn wait(self) -> anyhow::Result<Host> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let ifname = self.ifname;
        match self.rx.recv_timeout(left) {
            Ok(result) => result.map_err(|e| anyhow!("{ifname}: reading WireGuard state: {e}")),
            Err(_) => bail!("{ifname}: wireguard-go did not answer within {UAPI_TIMEOUT:?}"),
        }
    }
}

/// The UAPI `set` body (without `set=1` and the final blank line) for the WireGuard part of
/// `changes`: interface keys first, then peers, as UAPI requires.
pub fn uapi_set(changes: &[WgChange]) -> String {
    let mut head = String::new();
    let mut peers = String::new();
    for change in changes {
        match change {
            WgChange::SetPrivateKey { key, .. } => {
                let k = Key::try_from(key.expose_base64().as_str()).expect("valid key");
                head.push_str(&format!("private_key={}\n", k.to_lower_hex()));
            }
            WgChange::SetListenPort { to, .. } => {
                head.push_str(&format!("listen_port={to}\n"));
            }
            WgChange::AddPeer(p) => peers.push_str(&peer(p, false).as_uapi_update()),
            WgChange::UpdatePeer { peer: p, fields } => {
                let clear_psk = fields.contains(&PeerField::PresharedKeyRemoved);
                peers.push_str(&peer(p, clear_psk).as_uapi_update());
            }
            WgChange::RemovePeer { public_key, .. } => {
                peers.push_str(&Peer::new(Key::new(*public_key.as_bytes())).as_uapi_remove());
            }
            _ => {}
        }
    }
    head + &peers
}

/// The library's peer for `p`: keepalive always explicit (0 turns it off), allowed IPs
/// replaced, the preshared key zeroed (= none) when asked.
fn peer(p: &PeerPlan, clear_psk: bool) -> Peer {
    let mut out = Peer::new(Key::new(*p.public_key.as_bytes()));
    out.endpoint = p.endpoint;
    out.persistent_keepalive_interval = Some(p.keepalive.unwrap_or(0));
    out.allowed_ips = p
        .allowed_ips
        .iter()
        .map(|n| IpAddrMask::new(IpAddr::V4(n.addr()), n.prefix_len()))
        .collect();
    if clear_psk {
        out.preshared_key = Some(Key::new([0; 32]));
    }
    out
}

/// One `set=1` transaction on the interface's UAPI socket; fails on a non-zero errno.
fn uapi_transaction(ifname: &Ifname, body: &str, timeout: Duration) -> anyhow::Result<()> {
    let path = socket_path(ifname);
    let mut sock =
        UnixStream::connect(&path).with_context(|| format!("connecting to {}", path.display()))?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut msg = String::with_capacity(body.len() + 8);
    msg.push_str("set=1\n");
    msg.push_str(body);
    msg.push('\n');
    sock.write_all(msg.as_bytes())?;
    let deadline = Instant::now() + timeout;
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("wireguard-go closed the socket without an answer");
        }
        if let Some(errno) = line.trim().strip_prefix("errno=") {
            if errno == "0" {
                return Ok(());
            }
            bail!(
                "wireguard-go refused the change (errno {errno}); what came before it is \
                 applied, run apply again after fixing the cause"
            );
        }
    }
    bail!("wireguard-go did not answer within {timeout:?}")
}

/// Starts `wireguard-go IF` (which daemonizes once the interface and socket exist) and waits,
/// bounded, until both are there.
fn create(ifname: &Ifname) -> anyhow::Result<()> {
    std::fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
    let mut cmd = Command::new("wireguard-go");
    // Without LOG_LEVEL the daemon gets /dev/null for its output, not our pipes.
    cmd.arg(ifname.as_str()).env_remove("LOG_LEVEL");
    ip::run_command(&mut cmd, START_TIMEOUT)
        .with_context(|| format!("{ifname}: starting wireguard-go"))?;
    let sock = socket_path(ifname);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if sock.exists() && ip::read(ifname.as_str())?.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{ifname}: wireguard-go started but {} did not appear within {START_TIMEOUT:?}",
                sock.display()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The last handshake of each peer of a wireguard-go interface (`None`: never), for the
/// failover monitor's handshake-age signal. Bounded by `timeout`.
pub fn last_handshakes(
    ifname: &Ifname,
    timeout: Duration,
) -> anyhow::Result<Vec<(PublicKey, Option<std::time::SystemTime>)>> {
    if !socket_path(ifname).exists() {
        bail!("{ifname}: no wireguard-go socket");
    }
    let host = read_host(ifname, timeout).wait()?;
    Ok(host
        .peers
        .values()
        .map(|p| (public_key(&p.public_key), p.last_handshake))
        .collect())
}

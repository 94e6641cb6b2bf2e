//! The wireguard-go UAPI wire (`/var/run/wireguard/IF.sock`): reading an interface with
//! `defguard_wireguard_rs` under a deadline, and one `set` transaction for many changes,
//! built from the library's serializers (`Peer::as_uapi_update` / `as_uapi_remove`).

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
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

use super::model::{PeerField, WgChange};
use crate::model::Ifname;
use crate::plan::PeerPlan;

/// Where wireguard-go puts its UAPI sockets (fixed in wireguard-go and in the library).
pub const RUN_DIR: &str = "/var/run/wireguard";
/// Upper bound for one UAPI read or write transaction.
pub const UAPI_TIMEOUT: Duration = Duration::from_secs(10);

pub fn socket_path(ifname: &Ifname) -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{ifname}.sock"))
}

/// A `read_interface_data` running on a worker thread.
pub struct PendingRead {
    ifname: String,
    rx: mpsc::Receiver<Result<Host, WireguardInterfaceError>>,
    deadline: Instant,
}

/// Starts `read_interface_data` on a worker thread; [`PendingRead::wait`] gives up at the
/// deadline (the library can block or spin when the daemon misbehaves; the thread is then
/// left behind, holding nothing but the socket).
pub fn read_host(ifname: &Ifname, timeout: Duration) -> PendingRead {
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
    pub fn wait(self) -> anyhow::Result<Host> {
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
            WgChange::AddPeer(p) => {
                let mut new = peer(p, false);
                // A new peer has no keepalive: say nothing rather than 0.
                new.persistent_keepalive_interval = p.keepalive;
                peers.push_str(&new.as_uapi_update());
            }
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
pub(super) fn peer(p: &PeerPlan, clear_psk: bool) -> Peer {
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
pub fn uapi_transaction(ifname: &Ifname, body: &str, timeout: Duration) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::diff::tests::peer as plan_peer;
    use crate::model::PrivateKey;

    fn hex(k: &crate::model::PublicKey) -> String {
        Key::new(*k.as_bytes()).to_lower_hex()
    }

    #[test]
    fn set_body_puts_interface_keys_first_and_spells_out_peer_changes() {
        let key = PrivateKey::generate();
        let mut hub = plan_peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"]);
        hub.keepalive = None;
        let mut new = plan_peer("vps01", None, &["10.0.12.20/32"]);
        new.keepalive = None;
        let gone = PrivateKey::generate().public_key();
        let body = uapi_set(&[
            WgChange::AddPeer(new.clone()),
            WgChange::UpdatePeer {
                peer: hub.clone(),
                fields: vec![PeerField::PresharedKeyRemoved],
            },
            WgChange::RemovePeer {
                public_key: gone,
                node: None,
            },
            WgChange::SetListenPort {
                from: None,
                to: 51820,
            },
            WgChange::SetPrivateKey {
                key: key.clone(),
                from: None,
                to: key.public_key(),
            },
        ]);
        let private = Key::try_from(key.expose_base64().as_str()).unwrap();
        let expected = format!(
            "listen_port=51820\nprivate_key={}\n\
             public_key={}\nreplace_allowed_ips=true\nallowed_ip=10.0.12.20/32\n\
             public_key={}\npreshared_key={}\nendpoint=203.0.113.10:51820\n\
             persistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=10.0.12.0/24\n\
             public_key={}\nremove=true\n",
            private.to_lower_hex(),
            hex(&new.public_key),
            hex(&hub.public_key),
            "0".repeat(64),
            hex(&gone),
        );
        assert_eq!(body, expected);
    }
}

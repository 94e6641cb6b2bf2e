//! The real [`Applier`](super::Applier): reads the topology and secrets, plans the layout,
//! applies this node's plan with [`crate::apply::node::apply`], then forces a fresh handshake
//! with every hub peer that was added or moved.
//!
//! Why the kick: WireGuard keeps a session with a peer until its keys expire; a peer whose
//! endpoint is changed in place keeps talking to the old hub's session (shared notes,
//! libraries.md). A hub change is a different key (remove + add) and so has no session;
//! an endpoint change with the same key is turned into remove + add here. Then one UDP
//! datagram to the hub's tunnel address makes wireguard-go start the handshake at once
//! instead of on the next packet the host happens to send.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::apply::WgBackend;
use crate::apply::model::{PeerField, WgChange};
use crate::apply::node::{self, BackendKind, InterfaceReport};
use crate::model::{Ifname, NodeName, Topology};
use crate::plan::PeerPlan;
use crate::shell::{secrets::SecretsDir, topology};

/// Port of the kick datagram (discard); the packet only has to enter the tunnel.
const KICK_PORT: u16 = 9;

pub struct NodeApplier {
    pub node: NodeName,
    pub topology: PathBuf,
    pub secrets: PathBuf,
    pub backend: BackendKind,
}

impl super::Applier for NodeApplier {
    fn apply(&mut self, layout: &str) -> anyhow::Result<Vec<String>> {
        let mut backend = node::backend(self.backend)?;
        // The same lock as `fabric apply`: an operator's apply and the agent never interleave.
        let _lock = crate::apply::userspace::lock(crate::apply::userspace::LOCK_TIMEOUT)?;
        backend.prefetch();
        let t = match topology::read(&self.topology)? {
            Ok(t) => t,
            Err(invalid) => bail!("{invalid}"),
        };
        let (keys, secrets) = SecretsDir::new(&self.secrets).load_for_node(&t, &self.node)?;
        let Some(me) = crate::plan::node_plan(&t, &keys, layout, &self.node)? else {
            bail!("node {} is not in the topology", self.node);
        };
        let names = node::peer_names(&keys);
        let reports = node::apply(backend.as_mut(), &me, &secrets, &names)?;
        let mut lines: Vec<String> = reports
            .iter()
            .flat_map(|r| r.changes.iter().map(move |c| format!("{} {c}", r.ifname)))
            .collect();
        for r in &reports {
            for c in r.changes.iter().filter(|c| !c.is_applicable()) {
                tracing::warn!(ifname = %r.ifname, change = %c, "fabric cannot make this change on this node");
            }
        }
        let kick = refresh_sessions(backend.as_mut(), &reports)?;
        for (ifname, peer) in &kick {
            match tunnel_address(&t, ifname.as_str(), peer) {
                Some(addr) => match send_kick(addr) {
                    Ok(()) => lines.push(format!(
                        "{ifname} handshake started with {} ({addr})",
                        peer.node
                    )),
                    Err(e) => {
                        tracing::warn!(%addr, cause = %e, "could not send the handshake kick")
                    }
                },
                None => tracing::debug!(peer = %peer.node, "no tunnel address to kick"),
            }
        }
        Ok(lines)
    }
}

/// The peers that need a fresh session after `reports` were applied: every added peer, and
/// every peer whose endpoint was changed in place — those are removed and re-added here, so
/// WireGuard forgets the session it had with the old endpoint.
pub fn refresh_sessions(
    backend: &mut dyn WgBackend,
    reports: &[InterfaceReport],
) -> anyhow::Result<Vec<(Ifname, PeerPlan)>> {
    let mut kick = Vec::new();
    for r in reports {
        for c in &r.changes {
            match c {
                WgChange::AddPeer(peer) => kick.push((r.ifname.clone(), peer.clone())),
                WgChange::UpdatePeer { peer, fields }
                    if fields
                        .iter()
                        .any(|f| matches!(f, PeerField::Endpoint { .. })) =>
                {
                    backend
                        .apply(
                            &r.ifname,
                            &[
                                WgChange::RemovePeer {
                                    public_key: peer.public_key,
                                    node: Some(peer.node.clone()),
                                },
                                WgChange::AddPeer(peer.clone()),
                            ],
                        )
                        .with_context(|| {
                            format!("re-creating peer {} on {}", peer.node, r.ifname)
                        })?;
                    kick.push((r.ifname.clone(), peer.clone()));
                }
                _ => {}
            }
        }
    }
    Ok(kick)
}

/// The peer node's own address on the plane.
fn tunnel_address(t: &Topology, plane: &str, peer: &PeerPlan) -> Option<Ipv4Addr> {
    t.nodes
        .get(&peer.node)?
        .memberships
        .iter()
        .find(|(p, _)| p.as_str() == plane)
        .map(|(_, m)| m.address)
}

fn send_kick(addr: Ipv4Addr) -> std::io::Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.send_to(b"fabric: handshake", SocketAddr::from((addr, KICK_PORT)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::FakeBackend;
    use crate::apply::diff::tests::peer;

    #[test]
    fn added_peers_are_kicked_and_endpoint_changes_recreate_the_peer() {
        let ifname: Ifname = "wg0".parse().unwrap();
        let mut b = FakeBackend::default();
        b.apply(&ifname, &[WgChange::CreateInterface]).unwrap();
        let moved = peer("chr01", Some("203.0.113.11:51820"), &["10.0.12.0/24"]);
        let added = peer("chr02", Some("203.0.113.20:51820"), &["10.0.12.0/24"]);
        b.apply(&ifname, &[WgChange::AddPeer(moved.clone())])
            .unwrap();
        let reports = [InterfaceReport {
            ifname: ifname.clone(),
            changes: vec![
                WgChange::UpdatePeer {
                    peer: moved.clone(),
                    fields: vec![PeerField::Endpoint {
                        from: Some("203.0.113.10:51820".parse().unwrap()),
                        to: "203.0.113.11:51820".parse().unwrap(),
                    }],
                },
                WgChange::UpdatePeer {
                    peer: moved.clone(),
                    fields: vec![PeerField::Keepalive {
                        from: None,
                        to: Some(25),
                    }],
                },
                WgChange::AddPeer(added.clone()),
            ],
        }];
        b.applied.clear();
        let kick = refresh_sessions(&mut b, &reports).unwrap();
        let kicked: Vec<&str> = kick.iter().map(|(_, p)| p.node.as_str()).collect();
        assert_eq!(kicked, ["chr01", "chr02"]);
        assert_eq!(
            b.applied,
            [
                WgChange::RemovePeer {
                    public_key: moved.public_key,
                    node: Some(moved.node.clone())
                },
                WgChange::AddPeer(moved)
            ],
            "only the endpoint change re-creates a peer"
        );
    }
}

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

use crate::apply::model::{PeerField, WgChange};
use crate::apply::node::{self, BackendKind};
use crate::model::NodeName;
use crate::plan::{PeerPlan, Plan};
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
        let t = match topology::read(&self.topology)? {
            Ok(t) => t,
            Err(invalid) => bail!("{invalid}"),
        };
        let (keys, secrets) = SecretsDir::new(&self.secrets).load(&t)?;
        let plan = crate::plan::plan(&t, &keys, layout)?;
        let names = node::peer_names(&plan);
        let Some(me) = plan.nodes.get(&self.node) else {
            bail!("node {} is not in the topology", self.node);
        };
        let mut backend = node::backend(self.backend)?;
        let reports = node::apply(backend.as_mut(), me, &secrets, &names)?;
        let mut lines = Vec::new();
        let mut kick = Vec::new();
        for r in &reports {
            for c in &r.changes {
                lines.push(format!("{} {c}", r.ifname));
                match c {
                    WgChange::AddPeer(peer) => kick.push((r.ifname.clone(), peer.clone())),
                    WgChange::UpdatePeer { peer, fields }
                        if fields
                            .iter()
                            .any(|f| matches!(f, PeerField::Endpoint { .. })) =>
                    {
                        // Same key, new endpoint: re-create the peer so no old session is kept.
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
        for (ifname, peer) in &kick {
            match tunnel_address(&plan, ifname.as_str(), peer) {
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

/// The peer node's own address on the plane.
fn tunnel_address(plan: &Plan, plane: &str, peer: &PeerPlan) -> Option<Ipv4Addr> {
    plan.nodes
        .get(&peer.node)?
        .interfaces
        .iter()
        .find(|i| i.plane.as_str() == plane)
        .map(|i| i.address.addr())
}

fn send_kick(addr: Ipv4Addr) -> std::io::Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.send_to(b"fabric: handshake", SocketAddr::from((addr, KICK_PORT)))?;
    Ok(())
}

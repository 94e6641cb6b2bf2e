//! The [`WgBackend`] trait (read an interface, apply changes to it) and [`FakeBackend`], an
//! in-memory implementation for unit tests of everything above the real backend.

use std::collections::BTreeMap;

use anyhow::bail;
use ipnet::IpNet;

use super::model::{InterfaceObserved, PeerObserved, WgChange};
use crate::model::Ifname;
use crate::plan::PeerPlan;

/// Reads and changes live WireGuard interfaces.
pub trait WgBackend {
    /// May start reading interfaces in the background before the caller knows which it
    /// needs (it is loading the topology meanwhile); the next `read` of each uses the result.
    fn prefetch(&self) {}

    /// The interface's current state; `exists == false` when there is no such interface.
    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved>;

    /// Carries out `changes` (as returned by [`super::diff`]) in place: peers are added,
    /// updated and removed one by one, the interface is never torn down. Changes that are not
    /// [`WgChange::is_applicable`] are skipped. A failure part-way leaves what was done so far;
    /// the next read + diff + apply converges.
    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()>;
}

/// Interfaces held in memory; `apply` then `read` behaves like a real interface.
#[derive(Debug, Default)]
pub struct FakeBackend {
    pub interfaces: BTreeMap<Ifname, InterfaceObserved>,
    /// Every change applied, in order (to assert "no change" on a second apply).
    pub applied: Vec<WgChange>,
}

/// The peer as an interface reports it after it was configured from `p`.
pub fn observed_peer(p: &PeerPlan) -> PeerObserved {
    PeerObserved {
        public_key: p.public_key,
        endpoint: p.endpoint,
        allowed_ips: p.allowed_ips.iter().map(|n| IpNet::V4(*n)).collect(),
        keepalive: p.keepalive.filter(|k| *k != 0),
        preshared_key: false,
    }
}

impl WgBackend for FakeBackend {
    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
        Ok(self.interfaces.get(ifname).cloned().unwrap_or_default())
    }

    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
        for change in changes.iter().filter(|c| c.is_applicable()) {
            if !matches!(change, WgChange::CreateInterface) && !self.interfaces.contains_key(ifname)
            {
                bail!("{ifname}: no such interface");
            }
            let i = self.interfaces.entry(ifname.clone()).or_default();
            match change {
                WgChange::CreateInterface => {
                    *i = InterfaceObserved {
                        exists: true,
                        mtu: Some(1420),
                        ..Default::default()
                    }
                }
                WgChange::SetListenPort { to, .. } => i.listen_port = Some(*to),
                WgChange::SetPrivateKey { key, .. } => i.public_key = Some(key.public_key()),
                WgChange::ForeignPrivateKey { .. } => {}
                WgChange::SetMtu { to, .. } => i.mtu = Some(*to),
                WgChange::SetAddress { remove, add } => {
                    i.addresses.retain(|a| !remove.contains(a));
                    i.addresses.extend(add.iter().copied());
                }
                WgChange::LinkUp => i.up = true,
                WgChange::AddRoute(n) => i.routes.push(*n),
                WgChange::RemoveRoute(n) => i.routes.retain(|r| r != n),
                WgChange::EnableForwarding => i.forwarding = true,
                WgChange::AddPeer(p) => i.peers.push(observed_peer(p)),
                WgChange::RemovePeer { public_key, .. } => {
                    i.peers.retain(|p| p.public_key != *public_key)
                }
                WgChange::UpdatePeer { peer, .. } => {
                    let Some(have) = i.peers.iter_mut().find(|p| p.public_key == peer.public_key)
                    else {
                        bail!("{ifname}: no peer {}", peer.public_key);
                    };
                    let endpoint = peer.endpoint.or(have.endpoint);
                    *have = PeerObserved {
                        endpoint,
                        ..observed_peer(peer)
                    };
                }
            }
            self.applied.push(change.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::diff;
    use crate::apply::diff::tests::{in_sync, peer, plan};
    use crate::model::PrivateKey;

    fn converge(b: &mut FakeBackend, p: &crate::plan::InterfacePlan, key: &PrivateKey) -> usize {
        let changes = diff(p, Some(key), &b.read(&p.plane).unwrap());
        b.apply(&p.plane, &changes).unwrap();
        changes.len()
    }

    #[test]
    fn apply_then_read_gives_no_diff_and_second_apply_changes_nothing() {
        let key = PrivateKey::generate();
        let p = plan(
            &key,
            vec![
                peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"]),
                peer("vps01", None, &["10.0.12.20/32"]),
            ],
        );
        let mut b = FakeBackend::default();
        assert_eq!(converge(&mut b, &p, &key), 8);
        // (the fixture's peers need no route outside 10.0.12.0/24, and no forwarding)
        let mut read = b.read(&p.plane).unwrap();
        read.peers.iter_mut().for_each(|q| q.allowed_ips.reverse());
        assert_eq!(read, in_sync(&p), "apply then read gives the plan");
        assert_eq!(converge(&mut b, &p, &key), 0, "second apply: no change");
    }

    #[test]
    fn drift_is_repaired_in_place() {
        let key = PrivateKey::generate();
        let p = plan(
            &key,
            vec![peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"])],
        );
        let mut b = FakeBackend::default();
        converge(&mut b, &p, &key);
        let i = b.interfaces.get_mut(&p.plane).unwrap();
        i.peers[0].endpoint = Some("192.0.2.99:1234".parse().unwrap());
        i.peers.push(PeerObserved {
            public_key: PrivateKey::generate().public_key(),
            endpoint: None,
            allowed_ips: vec![],
            keepalive: None,
            preshared_key: false,
        });
        b.applied.clear();
        assert_eq!(converge(&mut b, &p, &key), 2);
        assert!(
            !b.applied.contains(&WgChange::CreateInterface),
            "never recreated"
        );
        assert_eq!(converge(&mut b, &p, &key), 0);
    }
}

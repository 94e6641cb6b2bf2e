//! Pure diff: one interface's plan against what the interface reports → the [`WgChange`]s that
//! make it so, in the order a backend applies them (interface, key and port, peers, link).
//! Peer identity is the public key. No I/O.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net};

use super::model::{InterfaceObserved, PeerField, PeerObserved, WgChange};
use crate::model::{PrivateKey, PublicKey};
use crate::plan::{InterfacePlan, PeerPlan};

/// The changes that turn `observed` into `desired`. `private_key` is fabric's key for the
/// interface (`None` when the node keeps its own).
pub fn diff(
    desired: &InterfacePlan,
    private_key: Option<&PrivateKey>,
    observed: &InterfaceObserved,
) -> Vec<WgChange> {
    let mut out = Vec::new();
    if !observed.exists {
        out.push(WgChange::CreateInterface);
    }
    if observed.public_key != Some(desired.public_key) {
        match private_key {
            Some(key) if key.public_key() == desired.public_key => {
                out.push(WgChange::SetPrivateKey {
                    key: key.clone(),
                    from: observed.public_key,
                    to: desired.public_key,
                })
            }
            _ => out.push(WgChange::ForeignPrivateKey {
                expected: desired.public_key,
                found: observed.public_key,
            }),
        }
    }
    if let Some(port) = desired.listen_port
        && observed.listen_port != Some(port)
    {
        out.push(WgChange::SetListenPort {
            from: observed.listen_port.filter(|p| *p != 0),
            to: port,
        });
    }
    peers(&desired.peers, &observed.peers, &mut out);
    if observed.mtu != Some(desired.mtu) {
        out.push(WgChange::SetMtu {
            from: observed.mtu,
            to: desired.mtu,
        });
    }
    let remove: Vec<Ipv4Net> = observed
        .addresses
        .iter()
        .filter(|a| **a != desired.address)
        .copied()
        .collect();
    let add = (!observed.addresses.contains(&desired.address)).then_some(desired.address);
    if add.is_some() || !remove.is_empty() {
        out.push(WgChange::SetAddress { remove, add });
    }
    if !observed.up {
        out.push(WgChange::LinkUp);
    }
    let want = &desired.routes;
    out.extend(
        want.iter()
            .filter(|r| !observed.routes.contains(r))
            .map(|r| WgChange::AddRoute(*r)),
    );
    out.extend(
        observed
            .routes
            .iter()
            .filter(|r| !want.contains(r))
            .map(|r| WgChange::RemoveRoute(*r)),
    );
    if desired.forwarding && !observed.forwarding {
        out.push(WgChange::EnableForwarding);
    }
    out
}

fn peers(desired: &[PeerPlan], observed: &[PeerObserved], out: &mut Vec<WgChange>) {
    let mut seen: BTreeMap<PublicKey, &PeerObserved> =
        observed.iter().map(|p| (p.public_key, p)).collect();
    for want in desired {
        match seen.remove(&want.public_key) {
            None => out.push(WgChange::AddPeer(want.clone())),
            Some(have) => {
                let fields = peer_fields(want, have);
                if !fields.is_empty() {
                    out.push(WgChange::UpdatePeer {
                        peer: want.clone(),
                        fields,
                    });
                }
            }
        }
    }
    out.extend(seen.into_keys().map(|public_key| WgChange::RemovePeer {
        public_key,
        node: None,
    }));
}

fn peer_fields(want: &PeerPlan, have: &PeerObserved) -> Vec<PeerField> {
    let mut fields = Vec::new();
    // No endpoint in the plan: the peer roams (a hub learns it), whatever it is is fine.
    if let Some(to) = want.endpoint
        && have.endpoint != Some(to)
    {
        fields.push(PeerField::Endpoint {
            from: have.endpoint,
            to,
        });
    }
    if set_of(want.allowed_ips.iter().map(|n| IpNet::V4(*n))) != set_of(have.allowed_ips.clone()) {
        fields.push(PeerField::AllowedIps {
            from: set_of(have.allowed_ips.clone()),
            to: want.allowed_ips.clone(),
        });
    }
    if want.keepalive.filter(|k| *k != 0) != have.keepalive.filter(|k| *k != 0) {
        fields.push(PeerField::Keepalive {
            from: have.keepalive,
            to: want.keepalive,
        });
    }
    if have.preshared_key {
        fields.push(PeerField::PresharedKeyRemoved);
    }
    fields
}

/// Prefixes compared as sets of networks (host bits cleared, order and duplicates ignored).
fn set_of(nets: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = nets.into_iter().map(|n| n.trunc()).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;

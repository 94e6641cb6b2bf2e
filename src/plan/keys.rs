//! Public keys of every (node, plane) membership: from the topology when the node holds its
//! own key, otherwise derived by the shell from fabric's secrets directory.

use std::collections::BTreeMap;
use std::fmt;

use super::PlanError;
use crate::model::{Ifname, NodeName, PublicKey, Topology};

/// Names one WireGuard key pair: a node's key on a plane.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId {
    pub node: NodeName,
    pub plane: Ifname,
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.plane)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRing(pub BTreeMap<KeyId, PublicKey>);

impl KeyRing {
    /// Every key pair the topology needs, and whether fabric manages its private half.
    pub fn needed(t: &Topology) -> Vec<(KeyId, Option<PublicKey>)> {
        t.nodes
            .values()
            .flat_map(|n| {
                n.memberships.iter().map(move |(p, m)| {
                    (
                        KeyId {
                            node: n.name.clone(),
                            plane: p.clone(),
                        },
                        m.public_key,
                    )
                })
            })
            .collect()
    }

    /// Tests: the topology's public keys, and a fresh one for every membership without.
    #[cfg(test)]
    pub fn generated(t: &Topology) -> KeyRing {
        let mut ring = KeyRing::default();
        for (id, public) in KeyRing::needed(t) {
            let key = public.unwrap_or_else(|| crate::model::PrivateKey::generate().public_key());
            ring.0.insert(id, key);
        }
        ring
    }

    pub fn get(&self, node: &NodeName, plane: &Ifname) -> Result<PublicKey, PlanError> {
        let id = KeyId {
            node: node.clone(),
            plane: plane.clone(),
        };
        self.0.get(&id).copied().ok_or(PlanError::MissingKey(id))
    }
}

//! What a WireGuard interface reports (`*Observed`) and one step towards the plan
//! ([`WgChange`]), each displayed as one readable line (`+` add, `-` remove, `~` change,
//! `!` drift fabric cannot fix from here).

use std::fmt;
use std::net::SocketAddr;

use ipnet::{IpNet, Ipv4Net};

use crate::model::{NodeName, PrivateKey, PublicKey};
use crate::plan::PeerPlan;

/// One interface as read from the system. `exists == false` means everything else is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterfaceObserved {
    pub exists: bool,
    /// The UDP port the interface listens on (0 or `None`: not bound / unknown).
    pub listen_port: Option<u16>,
    /// Public half of the interface's private key; `None` when no key is set.
    pub public_key: Option<PublicKey>,
    pub peers: Vec<PeerObserved>,
    /// IPv4 addresses on the link, with their prefix length.
    pub addresses: Vec<Ipv4Net>,
    pub mtu: Option<u16>,
    /// Administratively up.
    pub up: bool,
    /// Routes through the link that fabric added (tagged `proto 102`).
    pub routes: Vec<Ipv4Net>,
    /// IPv4 forwarding of the network namespace (`net.ipv4.ip_forward`).
    pub forwarding: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerObserved {
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    /// Persistent keepalive in seconds; `None` when off (0).
    pub keepalive: Option<u16>,
    /// A (non-zero) preshared key is set.
    pub preshared_key: bool,
}

/// One field of a peer that differs from the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerField {
    Endpoint {
        from: Option<SocketAddr>,
        to: SocketAddr,
    },
    AllowedIps {
        from: Vec<IpNet>,
        to: Vec<Ipv4Net>,
    },
    Keepalive {
        from: Option<u16>,
        to: Option<u16>,
    },
    /// The plan has no preshared key; the interface has one.
    PresharedKeyRemoved,
}

/// One step from the observed state to the plan. Changes carry the desired values, so a
/// backend needs nothing else to carry them out.
#[derive(Debug, Clone, PartialEq)]
pub enum WgChange {
    CreateInterface,
    SetListenPort {
        from: Option<u16>,
        to: u16,
    },
    SetPrivateKey {
        key: PrivateKey,
        from: Option<PublicKey>,
        to: PublicKey,
    },
    /// The node keeps its own private key and the interface holds another (or none): fabric
    /// cannot set it; it must be fixed on the node.
    ForeignPrivateKey {
        expected: PublicKey,
        found: Option<PublicKey>,
    },
    SetMtu {
        from: Option<u16>,
        to: u16,
    },
    SetAddress {
        remove: Vec<Ipv4Net>,
        add: Option<Ipv4Net>,
    },
    LinkUp,
    /// A route through the link for a peer's AllowedIPs outside the interface's subnet.
    AddRoute(Ipv4Net),
    /// A route fabric added earlier that no peer needs any more.
    RemoveRoute(Ipv4Net),
    /// The node routes between its interfaces: `net.ipv4.ip_forward=1`.
    EnableForwarding,
    AddPeer(PeerPlan),
    RemovePeer {
        public_key: PublicKey,
        /// The node that key belongs to elsewhere in the plan, when known (display only).
        node: Option<NodeName>,
    },
    UpdatePeer {
        peer: PeerPlan,
        fields: Vec<PeerField>,
    },
}

impl WgChange {
    /// Whether a backend can carry this change out (everything but a node-held key).
    pub fn is_applicable(&self) -> bool {
        !matches!(self, WgChange::ForeignPrivateKey { .. })
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "none".to_string(), T::to_string)
}

fn nets<T: fmt::Display>(v: &[T]) -> String {
    if v.is_empty() {
        return "none".to_string();
    }
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

impl fmt::Display for PeerField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerField::Endpoint { from, to } => write!(f, "endpoint {} -> {to}", opt(from)),
            PeerField::AllowedIps { from, to } => {
                write!(f, "allowed {} -> {}", nets(from), nets(to))
            }
            PeerField::Keepalive { from, to } => {
                write!(f, "keepalive {} -> {}", opt(from), opt(to))
            }
            PeerField::PresharedKeyRemoved => f.write_str("preshared key set -> none"),
        }
    }
}

impl fmt::Display for WgChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WgChange::CreateInterface => f.write_str("+ interface"),
            WgChange::SetListenPort { from, to } => {
                write!(f, "~ listen port {} -> {to}", opt(from))
            }
            WgChange::SetPrivateKey { from, to, .. } => {
                write!(f, "~ private key (public {} -> {to})", opt(from))
            }
            WgChange::ForeignPrivateKey { expected, found } => write!(
                f,
                "! private key is held by the node: interface has public {}, topology says \
                 {expected} (set it on the node)",
                opt(found)
            ),
            WgChange::SetMtu { from, to } => write!(f, "~ mtu {} -> {to}", opt(from)),
            WgChange::SetAddress { remove, add } => {
                let mut parts = Vec::new();
                if let Some(a) = add {
                    parts.push(format!("+ address {a}"));
                }
                for r in remove {
                    parts.push(format!("- address {r}"));
                }
                f.write_str(&parts.join("; "))
            }
            WgChange::LinkUp => f.write_str("~ link down -> up"),
            WgChange::AddRoute(n) => write!(f, "+ route {n}"),
            WgChange::RemoveRoute(n) => write!(f, "- route {n}"),
            WgChange::EnableForwarding => f.write_str("~ ip forwarding off -> on"),
            WgChange::AddPeer(p) => {
                write!(f, "+ peer {} ({})", p.node, p.public_key)?;
                if let Some(ep) = p.endpoint {
                    write!(f, " endpoint {ep}")?;
                }
                write!(f, " allowed {}", nets(&p.allowed_ips))?;
                if let Some(k) = p.keepalive {
                    write!(f, " keepalive {k}")?;
                }
                Ok(())
            }
            WgChange::RemovePeer {
                public_key,
                node: Some(node),
            } => write!(f, "- peer {node} ({public_key})"),
            WgChange::RemovePeer { public_key, .. } => write!(f, "- peer ({public_key})"),
            WgChange::UpdatePeer { peer, fields } => {
                write!(f, "~ peer {} ({})", peer.node, peer.public_key)?;
                for (i, field) in fields.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { "; " })?;
                    write!(f, "{field}")?;
                }
                Ok(())
            }
        }
    }
}

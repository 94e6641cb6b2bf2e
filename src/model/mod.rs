//! The validated topology: typed, cross-checked, names resolved. Built only by `validate`.

mod failover;
mod key;
mod names;

pub use failover::{Failback, FailoverPolicy};
pub use key::{KeyError, PrivateKey, PublicKey, Secret};
pub use names::{DnsName, Ifname, LayoutName, NameError, NodeName};

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

use crate::small_map::SmallMap;

/// The whole network.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub domain: DnsName,
    pub planes: BTreeMap<Ifname, Plane>,
    pub vlans: Vec<Vlan>,
    pub nodes: BTreeMap<NodeName, Node>,
    pub sstp: Option<Sstp>,
    pub layouts: BTreeMap<LayoutName, Layout>,
    pub dns: DnsSettings,
    /// The controller's failover policy; `None` when the topology has no `failover:` section.
    pub failover: Option<FailoverPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// Router reachability, SNMP, monitoring. No DNS pushed to members.
    Infrastructure,
    /// Operators and clients; members get split DNS for the domain.
    Access,
}

/// A WireGuard plane (one interface per member, named after the plane).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub name: Ifname,
    pub purpose: Purpose,
    pub subnet: Ipv4Net,
    pub listen_port: u16,
    pub mtu: u16,
    pub keepalive: u16,
    /// Extra prefixes members reach through the plane's hub.
    pub routes: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vlan {
    pub id: u16,
    pub name: String,
    pub subnet: Ipv4Net,
    pub via: NodeName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    Linux,
    Macos,
    Ios,
    RouterosV7,
}

impl Platform {
    pub fn is_routeros(self) -> bool {
        self == Platform::RouterosV7
    }
}

/// A node that runs WireGuard (hub-capable or spoke).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: NodeName,
    pub platform: Platform,
    pub description: Option<String>,
    /// Public underlay address (hubs need one).
    pub endpoint: Option<IpAddr>,
    pub memberships: SmallMap<Ifname, Membership>,
    /// LAN prefixes routed behind this node (its own `routes` plus VLANs `via` it).
    pub routes: Vec<Ipv4Net>,
    /// Boxed, as `rest`: most nodes have neither, and the node map's B-tree holds its values
    /// inline.
    pub sstp: Option<Box<SstpHubSide>>,
    pub rest: Option<Box<Rest>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub address: Ipv4Addr,
    /// Set when the node keeps its own private key; otherwise fabric manages the key.
    pub public_key: Option<PublicKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SstpHubSide {
    pub address: Ipv4Addr,
    pub hostname: DnsName,
    pub certificate: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rest {
    pub port: u16,
    /// The certificate `www-ssl` presents (default: the node's SSTP certificate).
    pub certificate: String,
    pub allow_from: Vec<Ipv4Net>,
}

/// Client routers (RouterOS v6) dialing SSTP to the hubs.
#[derive(Debug, Clone, PartialEq)]
pub struct Sstp {
    pub plane: Ifname,
    pub subnet: Ipv4Net,
    pub hubs: Vec<NodeName>,
    pub port: u16,
    pub keepalive_timeout: u16,
    pub ca_certificate: String,
    pub clients: Vec<ClientRouter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRouter {
    pub name: NodeName,
    pub site: Option<String>,
    /// PPP user name (defaults to the router's name).
    pub user: String,
    pub address: Ipv4Addr,
    pub lans: Vec<Ipv4Net>,
}

/// Who holds each role in one layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub name: LayoutName,
    pub plane_hubs: BTreeMap<Ifname, NodeName>,
    pub sstp_hub: Option<NodeName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsSettings {
    pub ttl: u32,
    pub upstreams: Vec<std::net::SocketAddr>,
    pub services: BTreeMap<DnsName, NodeName>,
    pub records: Vec<DnsRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    /// Relative to the domain; `@` is the apex; may start with `*.`.
    pub name: String,
    pub ttl: Option<u32>,
    pub value: DnsValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DnsValue {
    A(Ipv4Addr),
    Aaaa(std::net::Ipv6Addr),
    Cname(String),
    Txt(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

impl Topology {
    /// The node holding the hub role of `plane` in `layout`.
    pub fn hub_of(&self, layout: &Layout, plane: &Ifname) -> Option<&Node> {
        layout.plane_hubs.get(plane).and_then(|n| self.nodes.get(n))
    }
}

//! Plan types: the desired state that renderers, apply and the daemon consume.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

use super::KeyId;
use crate::model::{DnsName, Ifname, LayoutName, NodeName, Platform, PublicKey, Purpose, Rest};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub layout: LayoutName,
    pub domain: DnsName,
    pub nodes: BTreeMap<NodeName, NodePlan>,
    pub clients: Vec<ClientPlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub name: NodeName,
    pub platform: Platform,
    pub description: Option<String>,
    pub interfaces: Vec<InterfacePlan>,
    pub sstp_server: Option<SstpServerPlan>,
    pub rest: Option<Rest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Hub,
    Spoke,
    /// A RouterOS hub kept configured while another node holds the role.
    Standby,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Spoke => "spoke",
            Role::Standby => "standby hub",
        }
    }
}

/// One WireGuard interface (named after its plane).
#[derive(Debug, Clone, PartialEq)]
pub struct InterfacePlan {
    pub plane: Ifname,
    pub purpose: Purpose,
    pub role: Role,
    /// The node's address with the plane's prefix length.
    pub address: Ipv4Net,
    pub listen_port: Option<u16>,
    pub mtu: u16,
    pub key: KeyId,
    pub public_key: PublicKey,
    /// The node keeps its own private key (topology lists only the public key).
    pub key_held_by_node: bool,
    /// The node routes between this interface and others.
    pub forwarding: bool,
    /// Split DNS for access-plane spokes.
    pub dns: Option<ClientDns>,
    pub peers: Vec<PeerPlan>,
    /// Main-table routes through this interface: the peers' AllowedIPs outside its subnet,
    /// each prefix on one of the node's links only (see `plan::routes`).
    pub routes: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerPlan {
    pub node: NodeName,
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<Ipv4Net>,
    pub keepalive: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientDns {
    pub server: Ipv4Addr,
    pub domain: DnsName,
}

/// SSTP server on a RouterOS hub, with one PPP secret per client router.
#[derive(Debug, Clone, PartialEq)]
pub struct SstpServerPlan {
    pub port: u16,
    pub local_address: Ipv4Addr,
    pub hostname: DnsName,
    pub certificate: String,
    pub keepalive_timeout: u16,
    /// This hub carries client SSTP in the layout (the others stay up for dual-homed clients).
    pub active: bool,
    /// This hub accepts the client routers (its fabric PPP secrets are enabled): the active
    /// hub and those after it in `sstp.hubs`, which clients prefer less (warm standbys).
    /// Hubs before the active one would win the clients' routes while leading nowhere, so
    /// their secrets are disabled and sessions dropped.
    pub serving: bool,
    pub secrets: Vec<PppSecretPlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PppSecretPlan {
    pub client: NodeName,
    pub user: String,
    pub site: Option<String>,
    pub remote_address: Ipv4Addr,
    pub routes: Vec<Ipv4Net>,
}

/// A RouterOS v6 client router, dual-homed to every SSTP hub.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPlan {
    pub name: NodeName,
    pub site: Option<String>,
    pub user: String,
    pub address: Ipv4Addr,
    pub lans: Vec<Ipv4Net>,
    pub dials: Vec<SstpDial>,
    /// Fabric prefixes routed into the tunnels.
    pub routes: Vec<Ipv4Net>,
    /// The infrastructure planes' subnets: what may reach the router itself through its
    /// tunnels (SNMP, Winbox, SSH), past a default firewall's "drop all not coming from LAN".
    pub management_from: Vec<Ipv4Net>,
    pub keepalive_timeout: u16,
    pub ca_certificate: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SstpDial {
    pub hub: NodeName,
    pub host: DnsName,
    pub port: u16,
    pub hub_address: Ipv4Addr,
    /// Route distance: 1 for the preferred hub, 2 for the next…
    pub distance: u8,
}

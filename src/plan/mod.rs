//! Topology + layout → [`Plan`]: the desired state of every node, as pure data.
//!
//! Role rules (per plane, per layout):
//! * the layout's hub of a plane gets one peer per other active member;
//! * every other member is a spoke with one peer, the hub, whose AllowedIPs cover the plane
//!   subnet, every other member's prefixes and the plane's extra routes;
//! * a RouterOS node that is hub of the plane in *another* layout and holds no role in this
//!   one (hub of no plane, not the SSTP hub) is a pre-provisioned standby: it keeps the hub
//!   configuration of that layout; with a role it is a spoke of the plane's hub;
//! * a member "carries" prefixes: its /32, its LANs, the subnets of planes it is hub of, and,
//!   for the layout's SSTP hub on the SSTP plane, the PPP subnet and every client LAN.

pub mod dns;
mod keys;
mod model;
mod routes;

pub use keys::{KeyId, KeyRing};
pub use model::*;
pub use routes::naive_routes;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ipnet::Ipv4Net;

use crate::model::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("layout \"{0}\" is not defined in the topology")]
    UnknownLayout(String),
    #[error("no public key for {0} (run `fabric keys` to create the missing keys)")]
    MissingKey(KeyId),
}

/// The plan of `layout`. `keys` must hold a public key for every membership.
pub fn plan(t: &Topology, keys: &KeyRing, layout: &str) -> Result<Plan, PlanError> {
    let l = find_layout(t, layout)?;
    let shares: BTreeMap<Ifname, PlaneShare> = t
        .planes
        .values()
        .map(|p| (p.name.clone(), share(t, l, p)))
        .collect();
    let mut nodes = BTreeMap::new();
    for node in t.nodes.values() {
        nodes.insert(node.name.clone(), plan_of(t, keys, l, &shares, node)?);
    }
    let clients = t.sstp.as_ref().map(|s| clients(t, s)).unwrap_or_default();
    Ok(Plan {
        layout: l.name.clone(),
        domain: t.domain.clone(),
        nodes,
        clients,
    })
}

/// One node's part of [`plan`] (`plan(..).nodes[node]`), without planning the others: what
/// `fabric apply`, the agent and the daemon need. `None` when the node is not in `t`.
pub fn node_plan(
    t: &Topology,
    keys: &KeyRing,
    layout: &str,
    node: &NodeName,
) -> Result<Option<NodePlan>, PlanError> {
    let l = find_layout(t, layout)?;
    let Some(node) = t.nodes.get(node) else {
        return Ok(None);
    };
    // Only spokes route through a share; a hub lists its members itself.
    let shares: BTreeMap<Ifname, PlaneShare> = node
        .memberships
        .keys()
        .filter(|plane| l.plane_hubs.get(*plane) != Some(&node.name))
        .map(|plane| (plane.clone(), share(t, l, &t.planes[plane])))
        .collect();
    plan_of(t, keys, l, &shares, node).map(Some)
}

fn find_layout<'a>(t: &'a Topology, layout: &str) -> Result<&'a Layout, PlanError> {
    t.layouts
        .iter()
        .find(|(n, _)| n.as_str() == layout)
        .map(|(_, l)| l)
        .ok_or_else(|| PlanError::UnknownLayout(layout.to_string()))
}

/// `shares` holds (at least) every plane `node` is a member of but not the hub of.
fn plan_of(
    t: &Topology,
    keys: &KeyRing,
    l: &Layout,
    shares: &BTreeMap<Ifname, PlaneShare>,
    node: &Node,
) -> Result<NodePlan, PlanError> {
    let mut interfaces: Vec<InterfacePlan> = node
        .memberships
        .keys()
        .map(|plane| interface(t, keys, l, shares, node, plane))
        .collect::<Result<_, _>>()?;
    routes::assign(&mut interfaces);
    Ok(NodePlan {
        name: node.name.clone(),
        platform: node.platform,
        description: node.description.clone(),
        interfaces,
        sstp_server: sstp_server(t, l, node),
        rest: node.rest.as_deref().cloned(),
    })
}

fn interface(
    t: &Topology,
    keys: &KeyRing,
    l: &Layout,
    shares: &BTreeMap<Ifname, PlaneShare>,
    node: &Node,
    plane: &Ifname,
) -> Result<InterfacePlan, PlanError> {
    let p = &t.planes[plane];
    let hub = l.plane_hubs.get(plane);
    if hub == Some(&node.name) {
        return hub_interface(t, keys, l, node, p, Role::Hub);
    }
    if is_standby(t, l, &node.name, plane) {
        let home = t
            .layouts
            .values()
            .find(|o| o.plane_hubs.get(plane) == Some(&node.name))
            .expect("standby has a home layout");
        return hub_interface(t, keys, home, node, p, Role::Standby);
    }
    let hub = hub
        .and_then(|h| t.nodes.get(h))
        .expect("validated: every plane has a hub");
    let share = &shares[plane];
    let allowed = if share.outside.iter().any(|(owner, _)| *owner == node.name) {
        let mut own = vec![p.subnet];
        own.extend(p.routes.iter().copied());
        own.extend(
            share
                .outside
                .iter()
                .filter(|(owner, _)| *owner != node.name)
                .map(|(_, n)| *n),
        );
        normalize(own)
    } else {
        share.shared.clone()
    };
    let peer = PeerPlan {
        node: hub.name.clone(),
        public_key: keys.get(&hub.name, plane)?,
        endpoint: hub.endpoint.map(|ip| SocketAddr::new(ip, p.listen_port)),
        allowed_ips: allowed,
        keepalive: (p.keepalive > 0).then_some(p.keepalive),
    };
    base_interface(t, l, node, p, Role::Spoke, keys, vec![peer])
}

/// What every spoke of a plane routes to its hub: prefixes carried by members beyond their
/// own tunnel address (`outside`, with their owner), and the normalized union for spokes
/// that carry nothing themselves. Built once per plane, not once per spoke.
struct PlaneShare {
    outside: Vec<(NodeName, Ipv4Net)>,
    shared: Vec<Ipv4Net>,
}

fn share(t: &Topology, l: &Layout, p: &Plane) -> PlaneShare {
    let mut outside = Vec::new();
    for m in members(t, l, &p.name) {
        for n in carried(t, l, m, &p.name) {
            if n.prefix_len() < 32 || !p.subnet.contains(&n) {
                outside.push((m.name.clone(), n));
            }
        }
    }
    let mut all = vec![p.subnet];
    all.extend(p.routes.iter().copied());
    all.extend(outside.iter().map(|(_, n)| *n));
    PlaneShare {
        outside,
        shared: normalize(all),
    }
}

fn hub_interface(
    t: &Topology,
    keys: &KeyRing,
    l: &Layout,
    node: &Node,
    p: &Plane,
    role: Role,
) -> Result<InterfacePlan, PlanError> {
    let mut peers = Vec::new();
    for other in members(t, l, &p.name) {
        if other.name == node.name {
            continue;
        }
        peers.push(PeerPlan {
            node: other.name.clone(),
            public_key: keys.get(&other.name, &p.name)?,
            endpoint: None,
            allowed_ips: normalize(carried(t, l, other, &p.name)),
            keepalive: None,
        });
    }
    base_interface(t, l, node, p, role, keys, peers)
}

fn base_interface(
    t: &Topology,
    l: &Layout,
    node: &Node,
    p: &Plane,
    role: Role,
    keys: &KeyRing,
    peers: Vec<PeerPlan>,
) -> Result<InterfacePlan, PlanError> {
    let m = &node.memberships[&p.name];
    let dns = (p.purpose == Purpose::Access && role == Role::Spoke)
        .then(|| {
            t.hub_of(l, &p.name).map(|h| ClientDns {
                server: h.memberships[&p.name].address,
                domain: t.domain.clone(),
            })
        })
        .flatten();
    let hub_elsewhere = l
        .plane_hubs
        .iter()
        .any(|(q, h)| *h == node.name && *q != p.name);
    Ok(InterfacePlan {
        plane: p.name.clone(),
        purpose: p.purpose,
        role,
        address: Ipv4Net::new(m.address, p.subnet.prefix_len())
            .expect("prefix length from a valid subnet"),
        listen_port: node.endpoint.map(|_| p.listen_port),
        mtu: p.mtu,
        key: KeyId {
            node: node.name.clone(),
            plane: p.name.clone(),
        },
        public_key: keys.get(&node.name, &p.name)?,
        key_held_by_node: m.public_key.is_some(),
        forwarding: role != Role::Spoke || !node.routes.is_empty() || hub_elsewhere,
        dns,
        peers,
        routes: Vec::new(),
    })
}

/// Members of `plane` that take part in `layout` (standby hubs sit out).
fn members<'a>(
    t: &'a Topology,
    l: &'a Layout,
    plane: &'a Ifname,
) -> impl Iterator<Item = &'a Node> {
    t.nodes
        .values()
        .filter(move |n| n.memberships.contains_key(plane) && !is_standby(t, l, &n.name, plane))
}

/// A RouterOS hub of `plane` in another layout that holds no role in `l` (hub of no plane,
/// not the SSTP hub). One with a role elsewhere in `l` is a plain member (a spoke) of `plane`:
/// as a standby it would keep live hub peers and routes for a plane another node now hubs.
fn is_standby(t: &Topology, l: &Layout, node: &NodeName, plane: &Ifname) -> bool {
    let n = &t.nodes[node];
    n.platform.is_routeros()
        && !l.plane_hubs.values().any(|h| h == node)
        && l.sstp_hub.as_ref() != Some(node)
        && t.layouts
            .values()
            .any(|o| o.plane_hubs.get(plane) == Some(node))
}

/// Prefixes a member carries on `plane` (what its hub routes to it).
fn carried(t: &Topology, l: &Layout, node: &Node, plane: &Ifname) -> Vec<Ipv4Net> {
    let mut out = vec![Ipv4Net::new(node.memberships[plane].address, 32).expect("/32")];
    out.extend(node.routes.iter().copied());
    for (q, hub) in &l.plane_hubs {
        if hub == &node.name && q != plane {
            out.push(t.planes[q].subnet);
        }
    }
    if let Some(s) = &t.sstp
        && s.plane == *plane
        && l.sstp_hub.as_ref() == Some(&node.name)
    {
        out.push(s.subnet);
        out.extend(s.clients.iter().flat_map(|c| c.lans.iter().copied()));
    }
    out
}

fn sstp_server(t: &Topology, l: &Layout, node: &Node) -> Option<SstpServerPlan> {
    let s = t.sstp.as_ref()?;
    let side = node.sstp.as_ref().filter(|_| s.hubs.contains(&node.name))?;
    let secrets = s
        .clients
        .iter()
        .map(|c| PppSecretPlan {
            client: c.name.clone(),
            user: c.user.clone(),
            site: c.site.clone(),
            remote_address: c.address,
            routes: c.lans.clone(),
        })
        .collect();
    Some(SstpServerPlan {
        port: s.port,
        local_address: side.address,
        hostname: side.hostname.clone(),
        certificate: side.certificate.clone(),
        keepalive_timeout: s.keepalive_timeout,
        active: l.sstp_hub.as_ref() == Some(&node.name),
        serving: sstp_serving(s, l, &node.name),
        secrets,
    })
}

/// Whether `node` has a role in `layout`: hub of a plane or the layout's SSTP hub (CHR01 in
/// `split-role`). A watched hub that keeps a role is given the layout's configuration
/// rather than fenced. An unknown layout: no role.
pub fn keeps_a_role(t: &Topology, layout: &str, node: &NodeName) -> bool {
    t.layouts
        .iter()
        .find(|(name, _)| name.as_str() == layout)
        .is_some_and(|(_, l)| {
            l.plane_hubs.values().any(|h| h == node) || l.sstp_hub.as_ref() == Some(node)
        })
}

/// Whether `hub` takes client routers in layout `l`: client routers prefer the hubs in
/// `sstp.hubs` order (route distance 1, 2, …), so every hub before the layout's SSTP hub must
/// refuse them, or they would stay on it while it leads nowhere.
pub fn sstp_serving(s: &Sstp, l: &Layout, hub: &NodeName) -> bool {
    let rank = |n: &NodeName| s.hubs.iter().position(|h| h == n);
    match (rank(hub), l.sstp_hub.as_ref().and_then(rank)) {
        (Some(me), Some(active)) => me >= active,
        _ => true,
    }
}

fn clients(t: &Topology, s: &Sstp) -> Vec<ClientPlan> {
    let dials: Vec<SstpDial> = s
        .hubs
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let side = t.nodes.get(h)?.sstp.as_ref()?;
            Some(SstpDial {
                hub: h.clone(),
                host: side.hostname.clone(),
                port: s.port,
                hub_address: side.address,
                distance: i as u8 + 1,
            })
        })
        .collect();
    // Everything the fabric routes except other client sites: the planes and the LANs behind
    // nodes (VLANs included). Without the LANs a client site's replies to, say, a VLAN 60
    // host would leave through its WAN default route.
    let routes = normalize(
        t.planes
            .values()
            .map(|p| p.subnet)
            .chain(t.nodes.values().flat_map(|n| n.routes.iter().copied()))
            .collect(),
    );
    let management_from: Vec<Ipv4Net> = t
        .planes
        .values()
        .filter(|p| p.purpose == Purpose::Infrastructure)
        .map(|p| p.subnet)
        .collect();
    s.clients
        .iter()
        .map(|c| ClientPlan {
            name: c.name.clone(),
            site: c.site.clone(),
            user: c.user.clone(),
            address: c.address,
            lans: c.lans.clone(),
            dials: dials.clone(),
            routes: routes.clone(),
            management_from: management_from.clone(),
            keepalive_timeout: s.keepalive_timeout,
            ca_certificate: s.ca_certificate.clone(),
        })
        .collect()
}

/// Sorted, deduplicated, with prefixes inside another one dropped.
pub fn normalize(mut nets: Vec<Ipv4Net>) -> Vec<Ipv4Net> {
    nets.sort_by_key(|n| (n.network(), n.prefix_len()));
    let mut out: Vec<Ipv4Net> = Vec::with_capacity(nets.len());
    for n in nets {
        if !out.last().is_some_and(|last| last.contains(&n)) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests;

//! Cross checks between the overlay and the hubs' underlay: no routed prefix may swallow a
//! node's public endpoint, a hub's REST API may not sit on its SSTP port, and the SSTP
//! hub list and PPP addresses must make sense.

use std::collections::HashSet;

use ipnet::Ipv4Net;

use crate::diag::Findings;
use crate::model::*;

pub fn check(f: &mut Findings, t: &Topology, routed: &[(Ipv4Net, String)]) {
    endpoints_outside_tunnels(f, t, routed);
    rest_ports(f, t);
    sstp_hub_list(f, t);
}

/// A prefix routed into a tunnel that contains a hub's endpoint sends the tunnel's own UDP
/// packets into the tunnel (wg-quick adds the route, RouterOS and `fabric apply` too): the
/// peer never comes up. That includes `0.0.0.0/0`: `fabric apply` routes prefixes without
/// wg-quick's policy routing, so a full tunnel would take the host's default route.
fn endpoints_outside_tunnels(f: &mut Findings, t: &Topology, routed: &[(Ipv4Net, String)]) {
    let mut extra: Vec<(Ipv4Net, String)> = Vec::new();
    for p in t.planes.values() {
        for (i, r) in p.routes.iter().enumerate() {
            extra.push((*r, format!("planes.{}.routes[{i}]", p.name)));
        }
    }
    // Few nodes have an endpoint (hubs); a topology may have thousands of prefixes.
    let endpoints: Vec<(&NodeName, std::net::Ipv4Addr)> = t
        .nodes
        .iter()
        .filter_map(|(name, n)| match n.endpoint {
            Some(std::net::IpAddr::V4(ep)) => Some((name, ep)),
            _ => None,
        })
        .collect();
    for (net, path) in routed.iter().chain(&extra) {
        for &(name, ep) in &endpoints {
            if net.contains(&ep) {
                f.at(
                    path,
                    format!("\"{net}\" contains the endpoint {ep} of node \"{name}\""),
                    "peers would route the tunnel's own packets into the tunnel; keep public endpoints out of routed prefixes",
                );
            }
        }
    }
}

/// RouterOS serves one service per TCP port: REST (`www-ssl`) on the SSTP port takes the
/// port from the SSTP server, or the other way round, on every hub that serves both.
fn rest_ports(f: &mut Findings, t: &Topology) {
    let Some(s) = &t.sstp else { return };
    for hub in &s.hubs {
        if let Some(Node {
            rest: Some(rest), ..
        }) = t.nodes.get(hub)
            && rest.port == s.port
        {
            f.at(
                format!("nodes.{hub}.rest.port"),
                format!(
                    "REST port {} is the SSTP port (sstp.port {})",
                    rest.port, s.port
                ),
                "RouterOS gives a TCP port to one service: move REST elsewhere, e.g. 8443",
            );
        }
    }
}

/// Each hub once; hub PPP addresses are host addresses of `sstp.subnet`.
fn sstp_hub_list(f: &mut Findings, t: &Topology) {
    let Some(s) = &t.sstp else { return };
    let mut seen = HashSet::new();
    for (i, hub) in s.hubs.iter().enumerate() {
        if !seen.insert(hub) {
            f.at(
                format!("sstp.hubs[{i}]"),
                format!("\"{hub}\" is listed twice"),
                "list each hub once: clients dial every listed hub, in this order",
            );
        }
    }
    let special = |a: &std::net::Ipv4Addr| {
        s.subnet.prefix_len() < 31 && (*a == s.subnet.network() || *a == s.subnet.broadcast())
    };
    for (name, n) in &t.nodes {
        if let Some(side) = &n.sstp
            && special(&side.address)
        {
            f.at(
                format!("nodes.{name}.sstp.address"),
                format!(
                    "\"{}\" is the network or broadcast address of {}",
                    side.address, s.subnet
                ),
                "pick a host address",
            );
        }
    }
    for (i, c) in s.clients.iter().enumerate() {
        if special(&c.address) {
            f.at(
                format!("sstp.clients[{i}].address"),
                format!(
                    "\"{}\" is the network or broadcast address of {}",
                    c.address, s.subnet
                ),
                "pick a host address",
            );
        }
    }
}

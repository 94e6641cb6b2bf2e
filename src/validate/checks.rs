//! Cross-section checks on an otherwise well-formed topology: references, duplicates,
//! overlapping prefixes and role assignments.

use ipnet::Ipv4Net;

use crate::diag::Findings;
use crate::model::*;
use crate::raw::RawTopology;

pub fn cross_check(f: &mut Findings, raw: &RawTopology, t: &Topology) {
    references(f, t);
    duplicates(f, t);
    listen_ports(f, t);
    sstp_hubs(f, t);
    layouts(f, t);
    let mut routed = routed_prefixes(raw, t);
    overlapping_prefixes(f, &mut routed);
    super::underlay::check(f, t, &routed);
    super::dns_check::check(f, t);
}

/// The checks that only compare entries with each other — duplicate addresses, names, keys
/// and ports, overlapping prefixes — safe on a topology some of whose entries were dropped
/// for their own findings (a dropped entry is just not compared).
pub fn comparisons(f: &mut Findings, raw: &RawTopology, parsed: &Topology) {
    duplicates(f, parsed);
    listen_ports(f, parsed);
    overlapping_prefixes(f, &mut routed_prefixes(raw, parsed));
}

fn references(f: &mut Findings, t: &Topology) {
    for (i, v) in t.vlans.iter().enumerate() {
        if !t.nodes.contains_key(&v.via) {
            f.at(
                format!("vlans.list[{i}].via"),
                format!("node \"{}\" is not defined", v.via),
                "name a node under nodes",
            );
        }
    }
    for (svc, node) in &t.dns.services {
        match t.nodes.get(node) {
            None => f.at(
                format!("dns.services.{svc}"),
                format!("node \"{node}\" is not defined"),
                "name a node under nodes",
            ),
            Some(n) if n.memberships.is_empty() => f.at(
                format!("dns.services.{svc}"),
                format!("node \"{node}\" has no plane address"),
                "a service record needs an address",
            ),
            Some(_) => {}
        }
    }
}

/// Reports every value that occurs more than once, at each later occurrence, in the order
/// the items are listed. Paths are formatted only for a finding.
///
/// Sorts indices instead of filling a hash map: the index list of a 1,000-node topology
/// stays a few KiB, where a map of the items was a fresh 100+ KiB allocation (a newly
/// zeroed huge page) per check.
fn report_duplicates<K: Ord + std::fmt::Display, P: std::fmt::Display>(
    f: &mut Findings,
    items: Vec<(K, P)>,
    what: &str,
    hint: &str,
) {
    let key = |i: u32| &items[i as usize].0;
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
    // (later occurrence, first occurrence)
    let mut repeats: Vec<(u32, u32)> = order
        .chunk_by(|&a, &b| key(a) == key(b))
        .flat_map(|run| run[1..].iter().map(move |&later| (later, run[0])))
        .collect();
    repeats.sort_unstable();
    for (later, first) in repeats {
        let (value, path) = &items[later as usize];
        let prev = &items[first as usize].1;
        f.at(
            path.to_string(),
            format!("duplicate {what} \"{value}\" (also at {prev})"),
            hint,
        );
    }
}

/// Where a checked value sits in topology.yaml.
enum At<'a> {
    Node(&'a NodeName),
    Membership(&'a NodeName, &'a Ifname, &'static str),
    NodeSstpAddress(&'a NodeName),
    Client(usize, &'static str),
    Vlan(usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Node(n) => write!(f, "nodes.{n}"),
            At::Membership(n, plane, field) => write!(f, "nodes.{n}.planes.{plane}.{field}"),
            At::NodeSstpAddress(n) => write!(f, "nodes.{n}.sstp.address"),
            At::Client(i, field) => write!(f, "sstp.clients[{i}].{field}"),
            At::Vlan(i) => write!(f, "vlans.list[{i}].id"),
        }
    }
}

fn duplicates(f: &mut Findings, t: &Topology) {
    // Sized up front: on a large topology each doubling is a fresh multi-page allocation.
    let memberships: usize = t.nodes.values().map(|n| n.memberships.len()).sum();
    let clients = t.sstp.as_ref().map_or(0, |s| s.clients.len());
    let mut addresses = Vec::with_capacity(memberships + t.nodes.len() + clients);
    let mut keys = Vec::with_capacity(memberships);
    for (name, n) in &t.nodes {
        for (plane, m) in &n.memberships {
            addresses.push((m.address, At::Membership(name, plane, "address")));
            if let Some(k) = m.public_key {
                keys.push((k, At::Membership(name, plane, "public_key")));
            }
        }
        if let Some(s) = &n.sstp {
            addresses.push((s.address, At::NodeSstpAddress(name)));
        }
    }
    let mut names: Vec<(&str, At)> = t.nodes.keys().map(|n| (n.as_str(), At::Node(n))).collect();
    let mut users = Vec::new();
    if let Some(s) = &t.sstp {
        for (i, c) in s.clients.iter().enumerate() {
            addresses.push((c.address, At::Client(i, "address")));
            names.push((c.name.as_str(), At::Client(i, "name")));
            users.push((c.user.as_str(), At::Client(i, "user")));
        }
    }
    let vlan_ids = t
        .vlans
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, At::Vlan(i)))
        .collect();
    report_duplicates(
        f,
        addresses,
        "address",
        "every tunnel address must be unique",
    );
    report_duplicates(
        f,
        keys,
        "public key",
        "each node and plane needs its own key pair",
    );
    report_duplicates(
        f,
        names,
        "name",
        "node and client-router names share one namespace (they become DNS names)",
    );
    report_duplicates(
        f,
        users,
        "SSTP user",
        "each client router needs its own PPP secret",
    );
    report_duplicates(f, vlan_ids, "VLAN id", "each VLAN is listed once");
}

fn listen_ports(f: &mut Findings, t: &Topology) {
    let ports = t
        .planes
        .values()
        .map(|p| (p.listen_port, format!("planes.{}.listen_port", p.name)))
        .collect();
    report_duplicates(
        f,
        ports,
        "listen port",
        "a node on two planes needs a different UDP port for each",
    );
}

fn sstp_hubs(f: &mut Findings, t: &Topology) {
    let Some(s) = &t.sstp else { return };
    for (i, hub) in s.hubs.iter().enumerate() {
        let path = format!("sstp.hubs[{i}]");
        let Some(n) = t.nodes.get(hub) else {
            f.at(
                path,
                format!("node \"{hub}\" is not defined"),
                "name a routeros-v7 node under nodes",
            );
            continue;
        };
        if n.platform != Platform::RouterosV7 {
            f.at(
                &path,
                format!("\"{hub}\" is not a routeros-v7 node"),
                "SSTP hubs are MikroTik CHRs",
            );
        }
        match &n.sstp {
            None => f.at(
                &path,
                format!("node \"{hub}\" has no sstp section"),
                format!("add nodes.{hub}.sstp with address and hostname"),
            ),
            Some(side) if !s.subnet.contains(&side.address) => f.at(
                format!("nodes.{hub}.sstp.address"),
                format!("\"{}\" is outside sstp.subnet {}", side.address, s.subnet),
                "hub PPP addresses live in sstp.subnet",
            ),
            Some(_) => {}
        }
        if !n.memberships.contains_key(&s.plane) {
            f.at(
                &path,
                format!("SSTP hub \"{hub}\" is not on plane {}", s.plane),
                format!("give it an address under nodes.{hub}.planes.{}", s.plane),
            );
        }
        if n.endpoint.is_none() {
            f.at(
                &path,
                format!("SSTP hub \"{hub}\" has no endpoint"),
                format!("set nodes.{hub}.endpoint to its public address"),
            );
        }
    }
}

fn layouts(f: &mut Findings, t: &Topology) {
    for (lname, l) in &t.layouts {
        for plane in t.planes.keys() {
            if !l.plane_hubs.contains_key(plane) {
                f.at(
                    format!("layouts.{lname}"),
                    format!("no hub for plane {plane}"),
                    format!("add {plane}: <node>"),
                );
            }
        }
        for (plane, hub) in &l.plane_hubs {
            let path = format!("layouts.{lname}.{plane}");
            match t.nodes.get(hub) {
                None => f.at(
                    &path,
                    format!("node \"{hub}\" is not defined"),
                    "name a node under nodes",
                ),
                Some(n) if matches!(n.platform, Platform::Macos | Platform::Ios) => f.at(
                    &path,
                    format!("\"{hub}\" runs {:?}, which cannot be a hub", n.platform),
                    "hubs are linux or routeros-v7 nodes",
                ),
                Some(n) if !n.memberships.contains_key(plane) => f.at(
                    &path,
                    format!("hub \"{hub}\" is not a member of plane {plane}"),
                    format!("give it an address under nodes.{hub}.planes.{plane}"),
                ),
                Some(n) if n.endpoint.is_none() => f.at(
                    &path,
                    format!("hub \"{hub}\" has no endpoint"),
                    format!("spokes must reach the hub: set nodes.{hub}.endpoint"),
                ),
                Some(_) => {}
            }
        }
        match (&t.sstp, &l.sstp_hub) {
            (Some(_), None) => f.at(
                format!("layouts.{lname}"),
                "no SSTP hub",
                "add sstp: <one of sstp.hubs>",
            ),
            (None, Some(_)) => f.at(
                format!("layouts.{lname}.sstp"),
                "there is no sstp section",
                "remove it or add an sstp section",
            ),
            (Some(s), Some(hub)) if !s.hubs.contains(hub) => f.at(
                format!("layouts.{lname}.sstp"),
                format!("\"{hub}\" is not in sstp.hubs"),
                "the SSTP role goes to one of sstp.hubs",
            ),
            _ => {}
        }
    }
}

/// Every prefix that some hub routes to exactly one peer, with its YAML path.
fn routed_prefixes(raw: &RawTopology, t: &Topology) -> Vec<(Ipv4Net, String)> {
    let mut owned: Vec<(Ipv4Net, String)> = Vec::new();
    for p in t.planes.values() {
        owned.push((p.subnet, format!("planes.{}.subnet", p.name)));
    }
    for (i, v) in t.vlans.iter().enumerate() {
        owned.push((v.subnet, format!("vlans.list[{i}].subnet")));
    }
    // Each node's own routes, positioned by the raw list (the model's also holds the VLANs
    // via it); only those the model accepted, so an entry with its own finding is not compared.
    for (name, n) in &raw.nodes {
        if n.routes.is_empty() {
            continue;
        }
        let accepted = name
            .parse::<NodeName>()
            .ok()
            .and_then(|name| t.nodes.get(&name))
            .map(|node| &node.routes);
        for (i, r) in n.routes.iter().enumerate() {
            if let (Ok(net), Some(accepted)) = (r.parse::<Ipv4Net>(), accepted)
                && accepted.contains(&net)
            {
                owned.push((net, format!("nodes.{name}.routes[{i}]")));
            }
        }
    }
    if let Some(s) = &t.sstp {
        owned.push((s.subnet, "sstp.subnet".into()));
        for (i, c) in s.clients.iter().enumerate() {
            for (j, lan) in c.lans.iter().enumerate() {
                owned.push((*lan, format!("sstp.clients[{i}].lans[{j}]")));
            }
        }
    }
    owned
}

/// The routed prefixes must be disjoint: WireGuard AllowedIPs silently hand an overlapping
/// prefix to whichever peer was set last.
fn overlapping_prefixes(f: &mut Findings, owned: &mut [(Ipv4Net, String)]) {
    owned.sort_by_key(|(net, path)| (net.network(), net.prefix_len(), path.clone()));
    let mut open: Option<&(Ipv4Net, String)> = None;
    for item in owned.iter() {
        match open {
            Some(outer) if outer.0.contains(&item.0.network()) => {
                f.at(
                    &item.1,
                    format!("\"{}\" overlaps \"{}\" ({})", item.0, outer.0, outer.1),
                    "routed prefixes must be disjoint, or WireGuard AllowedIPs silently steal traffic from one peer; shrink or move one",
                );
                if item.0.broadcast() > outer.0.broadcast() {
                    open = Some(item);
                }
            }
            _ => open = Some(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_reported_at_each_later_occurrence_in_listed_order() {
        let items = vec![
            ("b", "p0"),
            ("a", "p1"),
            ("b", "p2"),
            ("c", "p3"),
            ("a", "p4"),
            ("b", "p5"),
        ];
        let mut f = Findings::default();
        report_duplicates(&mut f, items, "name", "hint");
        let got: Vec<(String, String)> =
            f.0.iter()
                .map(|d| (d.path.clone(), d.message.clone()))
                .collect();
        let want = [
            ("p2", "duplicate name \"b\" (also at p0)"),
            ("p4", "duplicate name \"a\" (also at p1)"),
            ("p5", "duplicate name \"b\" (also at p0)"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}

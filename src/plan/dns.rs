//! Topology → the split-DNS zone and the DNS server's placement (pure).
//!
//! Names: `<node>.<domain>` is the node's access-plane address (else its first plane
//! address); `<node>.<plane>.<domain>` is its address on each plane; `<client>.<domain>` is a
//! client router's PPP address; `dns.services` names point at their node like
//! `<node>.<domain>`; `ns.<domain>` is the server itself. Explicit `dns.records` are added as
//! written (relative names; `@` is the apex). The SOA serial is a hash of the records, so an
//! unchanged topology keeps its serial and any change moves it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::dns::{DnsConfig, RecordData, RecordValue, SoaData, ZoneData};
use crate::model::{DnsValue, Layout, Node, Purpose, Topology};

/// Negative-answer TTL (SOA minimum).
const NEGATIVE_TTL: u32 = 60;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how the DNS server runs in a layout.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsServerPlan {
    /// The node that serves DNS (the hub of the first access plane).
    pub node: String,
    pub listen: Vec<SocketAddr>,
    pub config: DnsConfig,
}

pub fn server(t: &Topology, l: &Layout) -> Option<DnsServerPlan> {
    let access: Vec<_> = t
        .planes
        .values()
        .filter(|p| p.purpose == Purpose::Access)
        .collect();
    let plane = access.first()?;
    let hub = t.hub_of(l, &plane.name)?;
    let listen = access
        .iter()
        .filter_map(|p| hub.memberships.get(&p.name))
        .map(|m| SocketAddr::new(IpAddr::V4(m.address), 53))
        .collect();
    let allowed_sources = access.iter().map(|p| IpNet::V4(p.subnet)).collect();
    let config = DnsConfig {
        allowed_sources,
        upstreams: t.dns.upstreams.clone(),
        upstream_timeout: UPSTREAM_TIMEOUT,
    };
    Some(DnsServerPlan {
        node: hub.name.to_string(),
        listen,
        config,
    })
}

/// The node's name address: on an access plane if it has one, else its first plane.
pub fn preferred(t: &Topology, n: &Node) -> Option<Ipv4Addr> {
    let access = n.memberships.iter().find(|(p, _)| {
        t.planes
            .get(*p)
            .is_some_and(|p| p.purpose == Purpose::Access)
    });
    access
        .or_else(|| n.memberships.iter().next())
        .map(|(_, m)| m.address)
}

pub fn zone(t: &Topology, l: &Layout) -> ZoneData {
    let origin = format!("{}.", t.domain);
    let abs = |rel: &str| {
        if rel == "@" {
            origin.clone()
        } else {
            format!("{rel}.{origin}")
        }
    };
    let ttl = t.dns.ttl;
    let a = |name: String, ip: Ipv4Addr| RecordData {
        name,
        ttl,
        rdata: RecordValue::A(ip),
    };
    let mut records = Vec::new();
    for n in t.nodes.values() {
        if let Some(ip) = preferred(t, n) {
            records.push(a(abs(n.name.as_str()), ip));
        }
        for (plane, m) in &n.memberships {
            records.push(a(abs(&format!("{}.{plane}", n.name)), m.address));
        }
    }
    for c in t.sstp.iter().flat_map(|s| &s.clients) {
        records.push(a(abs(c.name.as_str()), c.address));
    }
    for (svc, node) in &t.dns.services {
        if let Some(ip) = t.nodes.get(node).and_then(|n| preferred(t, n)) {
            records.push(a(abs(svc.as_str()), ip));
        }
    }
    if let Some(s) = server(t, l) {
        for addr in &s.listen {
            if let IpAddr::V4(ip) = addr.ip() {
                records.push(a(abs("ns"), ip));
            }
        }
    }
    let target = |v: &str| {
        if v.ends_with('.') {
            v.to_string()
        } else {
            abs(v)
        }
    };
    for r in &t.dns.records {
        let rdata = match &r.value {
            DnsValue::A(ip) => RecordValue::A(*ip),
            DnsValue::Aaaa(ip) => RecordValue::Aaaa(*ip),
            DnsValue::Cname(v) => RecordValue::Cname(target(v)),
            DnsValue::Txt(v) => RecordValue::Txt(vec![v.clone()]),
            DnsValue::Srv {
                priority,
                weight,
                port,
                target: tg,
            } => RecordValue::Srv {
                priority: *priority,
                weight: *weight,
                port: *port,
                target: target(tg),
            },
        };
        records.push(RecordData {
            name: abs(&r.name),
            ttl: r.ttl.unwrap_or(ttl),
            rdata,
        });
    }
    records.sort_by(|x, y| {
        (&x.name, format!("{:?}", x.rdata)).cmp(&(&y.name, format!("{:?}", y.rdata)))
    });
    records.dedup();
    let serial = serial_of(&records);
    ZoneData {
        origin: origin.clone(),
        soa: SoaData {
            mname: abs("ns"),
            rname: abs("hostmaster"),
            serial,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: NEGATIVE_TTL,
        },
        ns: vec![abs("ns")],
        records,
    }
}

fn serial_of(records: &[RecordData]) -> u32 {
    let text = format!("{records:?}");
    let h = text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h.max(1)
}

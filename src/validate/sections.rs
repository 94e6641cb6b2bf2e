//! Builds each section of the typed model from its raw form, recording findings as it goes.

use std::collections::BTreeMap;

use crate::diag::Findings;
use crate::model::*;
use crate::raw::*;

use super::checks;
use super::fields::{self, required};

const DEFAULT_LISTEN_PORT: i64 = 51820;
const DEFAULT_MTU: i64 = 1420;
const DEFAULT_KEEPALIVE: i64 = 25;

/// Raw → Topology. Returns the findings if there are any.
pub fn build(raw: &RawTopology) -> Result<Topology, Findings> {
    let mut f = Findings::default();
    let domain = required(
        &mut f,
        &raw.domain,
        "domain",
        "the DNS domain of the fabric, e.g. lab.example.com",
    )
    .and_then(|d| fields::parse::<DnsName>(&mut f, &d.to_ascii_lowercase(), "domain"));
    let planes = planes(&mut f, raw);
    let vlans = vlans(&mut f, raw);
    let mut nodes = nodes(&mut f, raw, &planes);
    for v in &vlans {
        if let Some(n) = nodes.get_mut(&v.via) {
            n.routes.push(v.subnet);
        }
    }
    let sstp = raw.sstp.as_ref().and_then(|s| sstp(&mut f, s, raw));
    let layouts = layouts(&mut f, raw);
    let dns = dns(&mut f, raw);
    let failover = raw
        .failover
        .as_ref()
        .and_then(|r| super::failover::policy(&mut f, r, raw, &nodes, &layouts));
    let field_findings = !f.is_empty();
    let topology = Topology {
        // Only a placeholder when `domain` has its own finding (never returned).
        domain: domain.unwrap_or_else(|| "fabric.invalid".parse().expect("valid name")),
        planes,
        vlans,
        nodes,
        sstp,
        layouts,
        dns,
        failover,
    };
    if field_findings {
        // The comparisons among what did parse still run (duplicates, ports, overlaps), so
        // one run shows them too. References and roles wait: they would take an entry that
        // has its own finding for a missing one.
        checks::comparisons(&mut f, raw, &topology);
        return Err(f);
    }
    checks::cross_check(&mut f, raw, &topology);
    if f.is_empty() { Ok(topology) } else { Err(f) }
}

fn planes(f: &mut Findings, raw: &RawTopology) -> BTreeMap<Ifname, Plane> {
    let mut out = BTreeMap::new();
    if raw.planes.is_empty() {
        f.at(
            "planes",
            "no planes defined",
            "define at least one WireGuard plane, e.g. wg0",
        );
    }
    for (name, p) in &raw.planes {
        let path = format!("planes.{name}");
        let Some(ifname) = fields::parse::<Ifname>(f, name, &path) else {
            continue;
        };
        let purpose = required(
            f,
            &p.purpose,
            format_args!("{path}.purpose"),
            "infrastructure or access",
        )
        .and_then(|s| match s.as_str() {
            "infrastructure" => Some(Purpose::Infrastructure),
            "access" => Some(Purpose::Access),
            other => {
                f.at(
                    format!("{path}.purpose"),
                    format!("unknown purpose \"{other}\""),
                    "use infrastructure or access",
                );
                None
            }
        });
        let subnet = required(
            f,
            &p.subnet,
            format_args!("{path}.subnet"),
            "the plane's tunnel subnet, e.g. 10.0.12.0/24",
        )
        .and_then(|s| fields::net(f, s, format_args!("{path}.subnet")));
        let listen_port = fields::port(
            f,
            p.listen_port.unwrap_or(DEFAULT_LISTEN_PORT),
            format_args!("{path}.listen_port"),
        );
        let mtu = fields::ranged(
            f,
            p.mtu.unwrap_or(DEFAULT_MTU),
            1280,
            9000,
            format_args!("{path}.mtu"),
            "MTU",
        );
        let keepalive = fields::ranged(
            f,
            p.keepalive.unwrap_or(DEFAULT_KEEPALIVE),
            0,
            3600,
            format_args!("{path}.keepalive"),
            "keepalive (seconds)",
        );
        let routes: Vec<_> = p
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| fields::net(f, r, format_args!("{path}.routes[{i}]")))
            .collect();
        if let (Some(purpose), Some(subnet), Some(listen_port), Some(mtu), Some(keepalive)) =
            (purpose, subnet, listen_port, mtu, keepalive)
        {
            let plane = Plane {
                name: ifname.clone(),
                purpose,
                subnet,
                listen_port,
                mtu: mtu as u16,
                keepalive: keepalive as u16,
                routes,
            };
            out.insert(ifname, plane);
        }
    }
    out
}

fn vlans(f: &mut Findings, raw: &RawTopology) -> Vec<Vlan> {
    let Some(v) = &raw.vlans else {
        return Vec::new();
    };
    let supernet = required(f, &v.supernet, "vlans.supernet", "e.g. 10.42.0.0/16")
        .and_then(|s| fields::net(f, s, "vlans.supernet"));
    let mut out = Vec::new();
    for (i, vl) in v.list.iter().enumerate() {
        let path = format!("vlans.list[{i}]");
        let id = required(f, &vl.id, format_args!("{path}.id"), "the 802.1Q VLAN id")
            .and_then(|id| fields::ranged(f, *id, 1, 4094, format_args!("{path}.id"), "VLAN id"));
        let subnet = required(
            f,
            &vl.subnet,
            format_args!("{path}.subnet"),
            "e.g. 10.42.60.0/24",
        )
        .and_then(|s| fields::net(f, s, format_args!("{path}.subnet")));
        let via = required(
            f,
            &vl.via,
            format_args!("{path}.via"),
            "the node the VLAN is routed behind",
        )
        .and_then(|s| fields::parse::<NodeName>(f, s, &format!("{path}.via")));
        let name = vl
            .name
            .as_deref()
            .and_then(|n| fields::text(f, n, format_args!("{path}.name"), 64))
            .unwrap_or_default();
        let (Some(id), Some(subnet), Some(via)) = (id, subnet, via) else {
            continue;
        };
        if let Some(sup) = supernet
            && !sup.contains(&subnet)
        {
            f.at(
                format!("{path}.subnet"),
                format!("\"{subnet}\" is outside the VLAN supernet {sup}"),
                "VLAN subnets live inside vlans.supernet",
            );
        }
        // The convention (VLAN id = third octet) can only hold for ids up to 255.
        let third = subnet.network().octets()[2] as i64;
        if id <= 255 && (third != id || subnet.prefix_len() < 24) {
            let [a, b, _, _] = supernet.unwrap_or(subnet).network().octets();
            f.at(
                format!("{path}.subnet"),
                format!("VLAN {id} has subnet \"{subnet}\" (third octet {third})"),
                format!(
                    "the convention is VLAN id = third octet: use {a}.{b}.{id}.0/24 or change the id"
                ),
            );
        }
        out.push(Vlan {
            id: id as u16,
            name,
            subnet,
            via,
        });
    }
    out
}

fn nodes(
    f: &mut Findings,
    raw: &RawTopology,
    planes: &BTreeMap<Ifname, Plane>,
) -> BTreeMap<NodeName, Node> {
    let mut out = BTreeMap::new();
    for (name, n) in &raw.nodes {
        let path = NodePath(name, None);
        let Some(node_name) = fields::parse::<NodeName>(f, name, &path) else {
            continue;
        };
        let platform = required(
            f,
            &n.platform,
            format_args!("{path}.platform"),
            "linux, macos, ios or routeros-v7",
        )
        .and_then(|p| match p.as_str() {
            "linux" => Some(Platform::Linux),
            "macos" => Some(Platform::Macos),
            "ios" => Some(Platform::Ios),
            "routeros-v7" => Some(Platform::RouterosV7),
            other => {
                let hint = if other == "routeros-v6" {
                    "RouterOS v6 has no WireGuard: list v6 routers under sstp.clients"
                } else {
                    "use linux, macos, ios or routeros-v7"
                };
                f.at(
                    format!("{path}.platform"),
                    format!("unknown platform \"{other}\""),
                    hint,
                );
                None
            }
        });
        let description = n
            .description
            .as_deref()
            .and_then(|d| fields::text(f, d, format_args!("{path}.description"), 255));
        let endpoint = n
            .endpoint
            .as_deref()
            .and_then(|e| fields::ip(f, e, format_args!("{path}.endpoint")));
        let mut memberships = crate::small_map::SmallMap::new();
        for (plane, m) in &n.planes {
            let mpath = NodePath(name, Some(plane));
            if !raw.planes.contains_key(plane) {
                let known: Vec<_> = raw.planes.keys().cloned().collect();
                f.at(
                    mpath.to_string(),
                    format!("plane \"{plane}\" is not defined"),
                    format!("defined planes: {}", known.join(", ")),
                );
                continue;
            }
            let Ok(ifname) = plane.parse::<Ifname>() else {
                continue; // reported under planes
            };
            let address = required(
                f,
                &m.address,
                format_args!("{mpath}.address"),
                "the node's tunnel address on this plane",
            )
            .and_then(|a| fields::ipv4(f, a, format_args!("{mpath}.address")));
            // A plane with findings of its own is reported there; skip checks that need it.
            if let (Some(a), Some(p)) = (address, planes.get(&ifname)) {
                if !p.subnet.contains(&a) {
                    f.at(
                        format!("{mpath}.address"),
                        format!("\"{a}\" is outside plane {plane}'s subnet {}", p.subnet),
                        format!("pick a free address in {}", p.subnet),
                    );
                } else if a == p.subnet.network() || a == p.subnet.broadcast() {
                    f.at(
                        format!("{mpath}.address"),
                        format!(
                            "\"{a}\" is the network or broadcast address of {}",
                            p.subnet
                        ),
                        "pick a host address",
                    );
                }
            }
            let public_key = m
                .public_key
                .as_deref()
                .and_then(|k| fields::parse::<PublicKey>(f, k, format_args!("{mpath}.public_key")));
            if let Some(address) = address {
                memberships.insert(
                    ifname,
                    Membership {
                        address,
                        public_key,
                    },
                );
            }
        }
        let routes = n
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| fields::net(f, r, format_args!("{path}.routes[{i}]")))
            .collect();
        let sstp = n
            .sstp
            .as_ref()
            .and_then(|s| sstp_hub_side(f, s, &format!("{path}.sstp")));
        let rest = n.rest.as_ref().and_then(|r| {
            let port = fields::port(f, r.port.unwrap_or(8443), format_args!("{path}.rest.port"))?;
            let allow_from = r
                .allow_from
                .iter()
                .enumerate()
                .filter_map(|(i, a)| fields::net(f, a, format_args!("{path}.rest.allow_from[{i}]")))
                .collect();
            // The one certificate the bootstrap script makes per hub is the SSTP one.
            let certificate = match r.certificate.as_deref() {
                Some(c) => fields::text(f, c, format_args!("{path}.rest.certificate"), 64)?,
                None => n
                    .sstp
                    .as_ref()
                    .and_then(|s| s.certificate.clone())
                    .unwrap_or_else(|| "fabric-sstp".into()),
            };
            Some(Rest {
                port,
                certificate,
                allow_from,
            })
        });
        if let Some(platform) = platform {
            out.insert(
                node_name.clone(),
                Node {
                    name: node_name,
                    platform,
                    description,
                    endpoint,
                    memberships,
                    routes,
                    sstp: sstp.map(Box::new),
                    rest: rest.map(Box::new),
                },
            );
        }
    }
    out
}

/// `nodes.NAME` or `nodes.NAME.planes.PLANE`, formatted only for a finding.
#[derive(Clone, Copy)]
struct NodePath<'a>(&'a str, Option<&'a str>);

impl std::fmt::Display for NodePath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "nodes.{}", self.0),
            Some(plane) => write!(f, "nodes.{}.planes.{plane}", self.0),
        }
    }
}

fn sstp_hub_side(f: &mut Findings, s: &RawSstpHub, path: &str) -> Option<SstpHubSide> {
    let address = required(
        f,
        &s.address,
        format_args!("{path}.address"),
        "the hub's PPP local address",
    )
    .and_then(|a| fields::ipv4(f, a, format_args!("{path}.address")));
    let hostname = required(
        f,
        &s.hostname,
        format_args!("{path}.hostname"),
        "the name in the hub's TLS certificate",
    )
    .and_then(|h| {
        fields::parse::<DnsName>(f, &h.to_ascii_lowercase(), &format!("{path}.hostname"))
    });
    let certificate = s
        .certificate
        .as_deref()
        .map_or(Some("fabric-sstp".to_string()), |c| {
            fields::text(f, c, format_args!("{path}.certificate"), 64)
        });
    Some(SstpHubSide {
        address: address?,
        hostname: hostname?,
        certificate: certificate?,
    })
}

fn sstp(f: &mut Findings, s: &RawSstp, raw: &RawTopology) -> Option<Sstp> {
    let plane = required(
        f,
        &s.plane,
        "sstp.plane",
        "the plane client sites join, e.g. wg0",
    )
    .and_then(|p| fields::parse::<Ifname>(f, p, "sstp.plane"));
    // A plane with findings of its own is reported there, not here.
    if let Some(p) = &plane
        && !raw.planes.contains_key(p.as_str())
    {
        f.at(
            "sstp.plane",
            format!("plane \"{p}\" is not defined"),
            "name one of the planes",
        );
    }
    let subnet = required(
        f,
        &s.subnet,
        "sstp.subnet",
        "the PPP tunnel subnet, e.g. 10.0.13.0/24",
    )
    .and_then(|n| fields::net(f, n, "sstp.subnet"));
    let hubs: Vec<_> = s
        .hubs
        .iter()
        .enumerate()
        .filter_map(|(i, h)| fields::parse::<NodeName>(f, h, &format!("sstp.hubs[{i}]")))
        .collect();
    if s.hubs.is_empty() {
        f.at(
            "sstp.hubs",
            "no SSTP hubs listed",
            "list the CHR nodes clients dial, e.g. [chr01, chr02]",
        );
    }
    let port = fields::port(f, s.port.unwrap_or(443), "sstp.port");
    let keepalive = fields::ranged(
        f,
        s.keepalive_timeout.unwrap_or(15),
        5,
        600,
        "sstp.keepalive_timeout",
        "keepalive timeout (seconds)",
    );
    let ca = s
        .ca_certificate
        .as_deref()
        .map_or(Some("fabric-ca".to_string()), |c| {
            fields::text(f, c, "sstp.ca_certificate", 64)
        });
    let mut clients = Vec::new();
    for (i, c) in s.clients.iter().enumerate() {
        let path = format!("sstp.clients[{i}]");
        let name = required(f, &c.name, format_args!("{path}.name"), "the router's name")
            .and_then(|n| fields::parse::<NodeName>(f, n, &format!("{path}.name")));
        let site = c
            .site
            .as_deref()
            .and_then(|t| fields::text(f, t, format_args!("{path}.site"), 255));
        let address = required(
            f,
            &c.address,
            format_args!("{path}.address"),
            "the router's PPP address in sstp.subnet",
        )
        .and_then(|a| fields::ipv4(f, a, format_args!("{path}.address")));
        if let (Some(a), Some(sub)) = (address, subnet)
            && !sub.contains(&a)
        {
            f.at(
                format!("{path}.address"),
                format!("\"{a}\" is outside sstp.subnet {sub}"),
                format!("pick a free address in {sub}"),
            );
        }
        let lans = c
            .lans
            .iter()
            .enumerate()
            .filter_map(|(j, l)| fields::net(f, l, format_args!("{path}.lans[{j}]")))
            .collect();
        let user = match (&c.user, &name) {
            (Some(u), _) => fields::text(f, u, format_args!("{path}.user"), 64),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        };
        if let (Some(name), Some(address), Some(user)) = (name, address, user) {
            clients.push(ClientRouter {
                name,
                site,
                user,
                address,
                lans,
            });
        }
    }
    Some(Sstp {
        plane: plane?,
        subnet: subnet?,
        hubs,
        port: port?,
        keepalive_timeout: keepalive? as u16,
        ca_certificate: ca?,
        clients,
    })
}

fn layouts(f: &mut Findings, raw: &RawTopology) -> BTreeMap<LayoutName, Layout> {
    let mut out = BTreeMap::new();
    if !raw.layouts.contains_key("primary") {
        f.at(
            "layouts",
            "there is no \"primary\" layout",
            "add layouts.primary: the normal assignment of hubs",
        );
    }
    for (name, roles) in &raw.layouts {
        let path = format!("layouts.{name}");
        let Some(lname) = fields::parse::<LayoutName>(f, name, &path) else {
            continue;
        };
        let mut layout = Layout {
            name: lname.clone(),
            plane_hubs: BTreeMap::new(),
            sstp_hub: None,
        };
        for (role, node) in roles {
            let rpath = format!("{path}.{role}");
            let Some(node) = fields::parse::<NodeName>(f, node, &rpath) else {
                continue;
            };
            if role == "sstp" {
                layout.sstp_hub = Some(node);
            } else if !raw.planes.contains_key(role) {
                f.at(
                    &rpath,
                    format!("\"{role}\" is neither a plane nor sstp"),
                    "layout keys are plane names and sstp",
                );
            } else if let Ok(plane) = role.parse::<Ifname>() {
                layout.plane_hubs.insert(plane, node);
            }
        }
        out.insert(lname, layout);
    }
    out
}

fn dns(f: &mut Findings, raw: &RawTopology) -> DnsSettings {
    let empty = RawDns::default();
    let d = raw.dns.as_ref().unwrap_or(&empty);
    let ttl =
        fields::ranged(f, d.ttl.unwrap_or(300), 0, 604_800, "dns.ttl", "TTL").unwrap_or(300) as u32;
    let upstreams = d
        .upstreams
        .iter()
        .enumerate()
        .filter_map(|(i, u)| fields::dns_server(f, u, format_args!("dns.upstreams[{i}]")))
        .collect();
    let mut services = BTreeMap::new();
    for (svc, node) in &d.services {
        let path = format!("dns.services.{svc}");
        if let (Some(s), Some(n)) = (
            fields::parse::<DnsName>(f, svc, &path),
            fields::parse::<NodeName>(f, node, &path),
        ) {
            services.insert(s, n);
        }
    }
    let records = d
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| record(f, r, &format!("dns.records[{i}]")))
        .collect();
    DnsSettings {
        ttl,
        upstreams,
        services,
        records,
    }
}

fn record(f: &mut Findings, r: &RawRecord, path: &str) -> Option<DnsRecord> {
    let name = required(
        f,
        &r.name,
        format_args!("{path}.name"),
        "relative to the domain; @ for the apex",
    )?
    .to_ascii_lowercase();
    let owner_ok = name == "@" || {
        let rest = name.strip_prefix("*.").unwrap_or(&name);
        name == "*"
            || rest.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    if !owner_ok {
        f.at(
            format!("{path}.name"),
            format!("\"{name}\" is not a valid record name"),
            "labels of letters, digits, - and _, optionally starting with *.",
        );
    }
    let kind = required(
        f,
        &r.kind,
        format_args!("{path}.type"),
        "A, AAAA, CNAME, TXT or SRV",
    )?;
    let value = required(f, &r.value, format_args!("{path}.value"), "the record data")?;
    let vpath = format!("{path}.value");
    let parsed = match kind.to_ascii_uppercase().as_str() {
        "A" => fields::ipv4(f, value, &vpath).map(DnsValue::A),
        "AAAA" => fields::parse::<std::net::Ipv6Addr>(f, value, &vpath).map(DnsValue::Aaaa),
        "CNAME" => fields::text(f, value, &vpath, 253).map(DnsValue::Cname),
        "TXT" => fields::text(f, value, &vpath, 255).map(DnsValue::Txt),
        "SRV" => srv(f, value, &vpath),
        other => {
            f.at(
                format!("{path}.type"),
                format!("unsupported record type \"{other}\""),
                "use A, AAAA, CNAME, TXT or SRV",
            );
            None
        }
    };
    let ttl = r
        .ttl
        .and_then(|t| fields::ranged(f, t, 0, 604_800, format_args!("{path}.ttl"), "TTL"))
        .map(|t| t as u32);
    if !owner_ok {
        return None;
    }
    Some(DnsRecord {
        name,
        ttl,
        value: parsed?,
    })
}

fn srv(f: &mut Findings, value: &str, path: &str) -> Option<DnsValue> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let nums: Vec<Option<u16>> = parts.iter().take(3).map(|p| p.parse().ok()).collect();
    match (parts.len(), nums.as_slice()) {
        (4, [Some(priority), Some(weight), Some(port)]) => Some(DnsValue::Srv {
            priority: *priority,
            weight: *weight,
            port: *port,
            target: parts[3].to_string(),
        }),
        _ => {
            f.at(
                path,
                format!("\"{value}\" is not SRV data"),
                "write \"PRIORITY WEIGHT PORT TARGET\", e.g. \"10 10 443 git\"",
            );
            None
        }
    }
}

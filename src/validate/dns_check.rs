//! The split-DNS zone as `fabric dns` and `fabric serve` will build it: every layout's zone
//! must load (valid names and targets, no CNAME beside other data), service names must not
//! shadow the names fabric generates, and a service must be reachable from the access plane
//! its answers are served on.

use std::collections::BTreeSet;

use crate::diag::Findings;
use crate::dns::ZoneError;
use crate::model::*;

pub fn check(f: &mut Findings, t: &Topology) {
    service_names(f, t);
    services_reachable(f, t);
    zones(f, t);
}

/// `<svc>.<domain>` beside `<node>.<domain>`, `<client>.<domain>` or `ns.<domain>` would give
/// the name two addresses.
fn service_names(f: &mut Findings, t: &Topology) {
    let mut taken: BTreeSet<&str> = t.nodes.keys().map(NodeName::as_str).collect();
    taken.extend(
        t.sstp
            .iter()
            .flat_map(|s| s.clients.iter().map(|c| c.name.as_str())),
    );
    taken.insert("ns");
    for svc in t.dns.services.keys() {
        if taken.contains(svc.as_str()) {
            f.at(
                format!("dns.services.{svc}"),
                format!(
                    "\"{svc}\" is already a name fabric gives a node, client router or the server"
                ),
                "pick another service name (the node's own name already resolves)",
            );
        }
    }
}

/// Service answers go to access-plane members only; the address the zone publishes for the
/// service (its node's preferred address) must be one they route.
fn services_reachable(f: &mut Findings, t: &Topology) {
    let access: Vec<&Plane> = t
        .planes
        .values()
        .filter(|p| p.purpose == Purpose::Access)
        .collect();
    if access.is_empty() {
        return;
    }
    for (svc, node) in &t.dns.services {
        let Some(n) = t.nodes.get(node) else { continue };
        let Some(published) = crate::plan::dns::preferred(t, n) else {
            continue;
        };
        let reached = access.iter().any(|p| {
            p.subnet.contains(&published) || p.routes.iter().any(|r| r.contains(&published))
        });
        if !reached {
            let plane = &access[0].name;
            f.at(
                format!("dns.services.{svc}"),
                format!(
                    "node \"{node}\" is published at {published}, which the access plane {plane} does not reach"
                ),
                format!(
                    "answers go to {plane} members: give {node} an address on {plane}, or add the subnet of {published} to planes.{plane}.routes"
                ),
            );
        }
    }
}

/// Each layout's zone loads; a problem is reported once, at the record that causes it.
fn zones(f: &mut Findings, t: &Topology) {
    let mut seen = BTreeSet::new();
    for l in t.layouts.values() {
        if crate::plan::dns::server(t, l).is_none() {
            continue; // no access plane: no DNS server, no zone
        }
        let zone = crate::plan::dns::zone(t, l);
        if let Err(e) = crate::dns::check_zone(&zone) {
            let message = e.to_string();
            if seen.insert(message.clone()) {
                f.at(
                    record_path(t, &e),
                    format!("the DNS zone does not load: {message}"),
                    hint(&e),
                );
            }
        }
    }
}

fn hint(e: &ZoneError) -> &'static str {
    match e {
        ZoneError::CnameAndOtherData { .. } => {
            "a CNAME must be the only record at its name (node, service and client names have A records): rename it"
        }
        ZoneError::MultipleCnames { .. } => "keep one CNAME per name",
        ZoneError::BadName { .. } => {
            "DNS names are letters, digits, '-' and '_' in dot-separated labels (a trailing '.' makes a name absolute)"
        }
        _ => "fix or remove the record",
    }
}

/// The YAML path of the record behind a zone error (`dns.records` when none matches).
fn record_path(t: &Topology, e: &ZoneError) -> String {
    let origin = format!("{}.", t.domain);
    let abs = |rel: &str| {
        if rel == "@" {
            origin.clone()
        } else if rel.ends_with('.') {
            rel.to_string()
        } else {
            format!("{rel}.{origin}")
        }
    };
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let name = match e {
        ZoneError::CnameAndOtherData { name }
        | ZoneError::MultipleCnames { name }
        | ZoneError::EmptyTxt { name }
        | ZoneError::TxtTooLong { name }
        | ZoneError::TooLarge { name, .. }
        | ZoneError::OutsideZone { name, .. } => name.clone(),
        ZoneError::BadName { name, .. } => name.clone(),
        ZoneError::NoNameServers => return "dns".into(),
    };
    for (i, r) in t.dns.records.iter().enumerate() {
        let target = match &r.value {
            DnsValue::Cname(v) => Some(v.as_str()),
            DnsValue::Srv { target, .. } => Some(target.as_str()),
            _ => None,
        };
        if let (ZoneError::BadName { .. }, Some(v)) = (e, target)
            && same(&abs(v), &name)
        {
            return format!("dns.records[{i}].value");
        }
        let cname_clash = matches!(e, ZoneError::CnameAndOtherData { .. })
            && !matches!(r.value, DnsValue::Cname(_));
        if !cname_clash && same(&abs(&r.name), &name) {
            return format!("dns.records[{i}].name");
        }
    }
    "dns.records".into()
}

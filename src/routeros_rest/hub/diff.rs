//! Desired hub records vs the records read with `GET` → the ordered REST operations that
//! make the hub match (pure). Identity: an interface by `name`; an address by
//! (`interface`, `address`); a peer by (`interface`, `name`), else (`interface`,
//! `public-key`); a route by `dst-address` (among ours only: RouterOS keeps several routes to
//! one destination, so a foreign one is never in the way). Values are compared the way RouterOS prints them (`yes`/`true`,
//! `25s`/`00:00:25`, allowed-address in any order; a missing value is the default).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Desired, Object};
use crate::routeros_rest::{FABRIC_COMMENT_PREFIX, Menu, Record};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// `PUT /rest/<menu>`.
    Add,
    /// `PATCH /rest/<menu>/<id>`.
    Set { id: String },
    /// `DELETE /rest/<menu>/<id>`.
    Remove { id: String },
}

/// One REST operation. `Debug`/`Display` never show a private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    pub menu: Menu,
    /// The object, as in its comment (`wg0:peer=z640`).
    pub what: String,
    /// PUT/PATCH body (empty for DELETE).
    pub body: Record,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, id) = match &self.kind {
            OpKind::Add => ("add", String::new()),
            OpKind::Set { id } => ("set", format!(" {id}")),
            OpKind::Remove { id } => ("remove", format!(" {id}")),
        };
        write!(f, "{verb} /{}{id} ({})", self.menu.path(), self.what)?;
        for (k, v) in &self.body {
            if k == "private-key" {
                write!(f, " {k}=***")?;
            } else {
                write!(f, " {k}={v:?}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Op({self})")
    }
}

/// The operations, in the order they must run, and what was left alone and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub ops: Vec<Op>,
    /// A desired object clashes with one fabric does not own; neither is touched.
    pub conflicts: Vec<String>,
    /// Things the push cannot fix (a hub key that differs while the key is not held).
    pub warnings: Vec<String>,
}

fn ours(r: &Record) -> bool {
    r.get("comment")
        .is_some_and(|c| c.starts_with(FABRIC_COMMENT_PREFIX))
}

/// `wg0:peer=z640` of `fabric:g1a2b3c4d:wg0:peer=z640` (other `fabric:` comments: the rest).
fn what_of(comment: &str) -> &str {
    let rest = comment
        .strip_prefix(FABRIC_COMMENT_PREFIX)
        .unwrap_or(comment);
    match rest.strip_prefix('g').and_then(|r| r.split_once(':')) {
        Some((gen_, what)) if !gen_.is_empty() && gen_.bytes().all(|b| b.is_ascii_hexdigit()) => {
            what
        }
        _ => rest,
    }
}

fn id(r: &Record) -> String {
    r.get(".id").cloned().unwrap_or_default()
}

/// RouterOS durations (`25s`, `1m5s`, `00:00:25`, `25`) in seconds.
fn seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() {
        return Some(0);
    }
    if v.contains(':') {
        return v
            .split(':')
            .try_fold(0u64, |acc, p| Some(acc * 60 + p.parse::<u64>().ok()?));
    }
    if let Ok(n) = v.parse() {
        return Some(n);
    }
    let (mut total, mut num) = (0u64, String::new());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'w' => n * 604_800,
            'd' => n * 86_400,
            'h' => n * 3_600,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0
            }
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" | "yes" => Some(true),
        "false" | "no" | "" => Some(false),
        _ => None,
    }
}

/// Whether the live value of `key` already is `want`.
fn same(key: &str, want: &str, live: Option<&String>) -> bool {
    let have = live.map_or("", String::as_str);
    match key {
        "disabled" | "responder" => boolean(want) == boolean(have),
        "persistent-keepalive" => seconds(want) == seconds(have),
        "allowed-address" => {
            let set = |s: &str| -> BTreeSet<String> {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            set(want) == set(have)
        }
        "listen-port" | "mtu" | "endpoint-port" => {
            want.parse::<u64>().ok() == have.parse::<u64>().ok() || want == have
        }
        _ => want == have,
    }
}

/// The changed fields of `o` against `live` (the new comment included when anything changes
/// or the live comment names another object).
fn changes(o: &Object, live: &Record) -> Record {
    let mut out: Record = o
        .record
        .iter()
        .filter(|(k, v)| *k != "comment" && !same(k, v, live.get(*k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let live_what = live.get("comment").map(|c| what_of(c)).unwrap_or_default();
    if !out.is_empty() || live_what != o.what {
        out.insert("comment".into(), o.record["comment"].clone());
    }
    out
}

/// Desired vs live (`live[menu]` = the records `GET /rest/<menu>` returned) → operations.
pub fn diff(desired: &Desired, live: &BTreeMap<Menu, Vec<Record>>) -> Diff {
    let empty = Vec::new();
    let table = |m: Menu| live.get(&m).unwrap_or(&empty);
    let mut d = Diff::default();
    let mut matched: BTreeSet<(Menu, String)> = BTreeSet::new();
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    let (mut iface_ops, mut addr_ops, mut peer_sets, mut peer_adds, mut route_ops) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in &desired.objects {
        let field = |r: &Record, k: &str| r.get(k).cloned().unwrap_or_default();
        let want = |k: &str| field(&o.record, k);
        let candidates: Vec<&Record> = match o.menu {
            Menu::Wireguard => table(o.menu)
                .iter()
                .filter(|r| field(r, "name") == want("name"))
                .collect(),
            Menu::IpRoute => table(o.menu)
                .iter()
                .filter(|r| ours(r) && field(r, "dst-address") == want("dst-address"))
                .collect(),
            Menu::IpAddress => table(o.menu)
                .iter()
                .filter(|r| {
                    field(r, "interface") == want("interface")
                        && field(r, "address") == want("address")
                })
                .collect(),
            Menu::WireguardPeers => {
                let on_if = |r: &&Record| field(r, "interface") == want("interface");
                let by_name: Vec<&Record> = table(o.menu)
                    .iter()
                    .filter(on_if)
                    .filter(|r| ours(r) && field(r, "name") == want("name"))
                    .collect();
                if by_name.iter().any(|r| !matched.contains(&(o.menu, id(r)))) {
                    by_name
                } else {
                    table(o.menu)
                        .iter()
                        .filter(on_if)
                        .filter(|r| field(r, "public-key") == want("public-key"))
                        .collect()
                }
            }
            _ => Vec::new(),
        };
        let interface = match o.menu {
            Menu::Wireguard => want("name"),
            Menu::IpRoute => want("gateway"),
            _ => want("interface"),
        };
        if o.menu != Menu::Wireguard && blocked.contains(&interface) {
            d.conflicts.push(format!(
                "/{} {}: skipped, interface {interface} is not fabric's",
                o.menu.path(),
                o.what
            ));
            continue;
        }
        let mine = candidates
            .iter()
            .find(|r| ours(r) && !matched.contains(&(o.menu, id(r))));
        let op = match (mine, candidates.iter().find(|r| !ours(r))) {
            (Some(r), _) => {
                matched.insert((o.menu, id(r)));
                let mut body = changes(o, r);
                if let Some(expected) = &o.public_key {
                    let have = field(r, "public-key");
                    if !have.is_empty() && &have != expected {
                        match &o.private_key {
                            Some(k) => {
                                body.insert("private-key".into(), k.expose_base64());
                                body.insert("comment".into(), o.record["comment"].clone());
                            }
                            None => d.warnings.push(format!(
                                "interface {interface}: the hub's public key {have} is not the topology's {expected}, and this push does not hold the hub's private key (import the rendered .rsc, or run `fabric hub push` with the secrets)"
                            )),
                        }
                    }
                }
                (!body.is_empty()).then(|| Op {
                    kind: OpKind::Set { id: id(r) },
                    menu: o.menu,
                    what: o.what.clone(),
                    body,
                })
            }
            (None, Some(foreign)) => {
                d.conflicts.push(format!(
                    "/{} {}: an object fabric does not own ({}, comment {:?}) is in the way; left alone",
                    o.menu.path(),
                    o.what,
                    id(foreign),
                    field(foreign, "comment")
                ));
                if o.menu == Menu::Wireguard {
                    blocked.insert(interface);
                }
                None
            }
            (None, None) => {
                let mut body = o.record.clone();
                match &o.private_key {
                    Some(k) => {
                        body.insert("private-key".into(), k.expose_base64());
                    }
                    None if o.menu == Menu::Wireguard => d.warnings.push(format!(
                        "interface {interface}: created without a private key (RouterOS generates one, so its public key will not be the topology's until the rendered .rsc is imported)"
                    )),
                    None => {}
                }
                Some(Op {
                    kind: OpKind::Add,
                    menu: o.menu,
                    what: o.what.clone(),
                    body,
                })
            }
        };
        if let Some(op) = op {
            match (o.menu, &op.kind) {
                (Menu::Wireguard, _) => iface_ops.push(op),
                (Menu::IpAddress, _) => addr_ops.push(op),
                (Menu::IpRoute, _) => route_ops.push(op),
                (_, OpKind::Add) => peer_adds.push(op),
                _ => peer_sets.push(op),
            }
        }
    }
    let removals = |m: Menu| -> Vec<Op> {
        table(m)
            .iter()
            .filter(|r| ours(r) && !matched.contains(&(m, id(r))))
            .map(|r| Op {
                kind: OpKind::Remove { id: id(r) },
                menu: m,
                what: what_of(r.get("comment").map_or("", String::as_str)).to_string(),
                body: Record::new(),
            })
            .collect()
    };
    // Dependents go first and come back last: a removed peer frees its key and addresses
    // before a new one takes them; an interface goes only once nothing of ours is on it.
    d.ops.extend(removals(Menu::IpRoute));
    d.ops.extend(removals(Menu::WireguardPeers));
    d.ops.extend(removals(Menu::IpAddress));
    d.ops.extend(iface_ops);
    d.ops.extend(addr_ops);
    d.ops.extend(peer_sets);
    d.ops.extend(peer_adds);
    d.ops.extend(route_ops);
    d.ops.extend(removals(Menu::Wireguard));
    d
}

#[cfg(test)]
pub(super) fn seconds_for_test(v: &str) -> Option<u64> {
    seconds(v)
}

//! Desired hub records vs the records read with `GET` → the ordered REST operations that
//! make the hub match (pure). Identity: an interface by `name`; an address by
//! (`interface`, `address`); a peer by (`interface`, `name`), else (`interface`,
//! `public-key`); a route by `dst-address` (among ours only: RouterOS keeps several routes to
//! one destination, so a foreign one is never in the way); a PPP profile or secret by `name`;
//! a client-site list entry by (`list`, `address`), the `fabric-wg` interface list by `name`
//! and its member by (`list`, `interface`) — a hand-made one, enabled and not dynamic, is
//! enough and not a conflict. On an SSTP hub a missing or disabled client-site forward rule
//! is a warning (the push does not place firewall rules).
//! Values are compared the way RouterOS prints them ([`values`](super::values)). A secret's
//! password follows the rule in [`ppp`](super::ppp).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::values::same;
use super::{Desired, Object};
use crate::render::routeros::{FORWARD_DROP, forward_drop_args};
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

/// One REST operation. `Debug`/`Display` never show a private key or a password.
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
            if k == "private-key" || k == "password" {
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
    /// Things the push cannot fix (a hub key that differs while the key is not held, a
    /// client's SSTP password not held).
    pub warnings: Vec<String>,
    /// PPP user → [`password_mark`](super::password_mark) of the password the hub holds once
    /// every operation ran (what the pusher remembers for the next diff).
    pub marks: BTreeMap<String, String>,
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

/// Desired vs live (`live[menu]` = the records `GET /rest/<menu>` returned) → operations,
/// remembering no password marks (every held password of an existing secret is sent unless
/// the hub shows it).
pub fn diff(desired: &Desired, live: &BTreeMap<Menu, Vec<Record>>) -> Diff {
    diff_remembering(desired, live, &BTreeMap::new())
}

/// As [`diff`]; `remembered` = PPP user → the password mark last pushed to this hub.
pub fn diff_remembering(
    desired: &Desired,
    live: &BTreeMap<Menu, Vec<Record>>,
    remembered: &BTreeMap<String, String>,
) -> Diff {
    let empty = Vec::new();
    let table = |m: Menu| live.get(&m).unwrap_or(&empty);
    let mut d = Diff::default();
    let mut matched: BTreeSet<(Menu, String)> = BTreeSet::new();
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    let (mut iface_ops, mut addr_ops, mut peer_sets, mut peer_adds, mut route_ops) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut profile_ops, mut secret_ops, mut site_ops) = (Vec::new(), Vec::new(), Vec::new());
    let mut plane_list_ops = Vec::new();
    for o in &desired.objects {
        let field = |r: &Record, k: &str| r.get(k).cloned().unwrap_or_default();
        let want = |k: &str| field(&o.record, k);
        let candidates: Vec<&Record> = match o.menu {
            Menu::IpRoute => table(o.menu)
                .iter()
                .filter(|r| ours(r) && field(r, "dst-address") == want("dst-address"))
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
            menu => {
                let keys = identity(menu);
                table(menu)
                    .iter()
                    .filter(|r| !keys.is_empty() && keys.iter().all(|k| field(r, k) == want(k)))
                    .collect()
            }
        };
        let interface = match o.menu {
            Menu::Wireguard => want("name"),
            Menu::IpRoute => want("gateway"),
            Menu::PppProfile | Menu::PppSecret | Menu::AddressList | Menu::InterfaceList => {
                String::new()
            }
            _ => want("interface"),
        };
        if o.menu != Menu::Wireguard && !interface.is_empty() && blocked.contains(&interface) {
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
                if o.menu == Menu::PppSecret {
                    password_on_set(o, r, remembered, &mut body, &mut d);
                }
                (!body.is_empty()).then(|| Op {
                    kind: OpKind::Set { id: id(r) },
                    menu: o.menu,
                    what: o.what.clone(),
                    body,
                })
            }
            // The operator's own entry for the site (or plane) already puts it in the list —
            // if it is enabled and stays (not a dynamic entry that times out); a list of
            // that name made by hand serves as well.
            (None, Some(r))
                if matches!(
                    o.menu,
                    Menu::AddressList | Menu::InterfaceList | Menu::InterfaceListMember
                ) && !["disabled", "dynamic"]
                    .iter()
                    .any(|k| field(r, k) == "true") =>
            {
                None
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
            (None, None) if o.menu == Menu::PppSecret && o.password.is_none() => {
                d.warnings.push(format!(
                    "/ppp/secret {}: no SSTP password held for user {} (sstp/<client>.password in the secrets directory); not added",
                    o.what,
                    want("name")
                ));
                None
            }
            (None, None) => {
                let mut body = o.record.clone();
                if let Some(p) = &o.password {
                    body.insert("password".into(), p.expose().to_string());
                    if let Some(m) = &o.password_mark {
                        d.marks.insert(want("name"), m.clone());
                    }
                }
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
                (Menu::PppProfile, _) => profile_ops.push(op),
                (Menu::PppSecret, _) => secret_ops.push(op),
                (Menu::AddressList, _) => site_ops.push(op),
                (Menu::InterfaceList | Menu::InterfaceListMember, _) => plane_list_ops.push(op),
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
    // before a new one takes them; a secret needs its profile; an interface or a profile
    // goes only once nothing of ours is on it. A client site is listed before its secret
    // lets the client connect, and unlisted only once its secret is gone or routes elsewhere.
    // A plane joins `fabric-wg` once it exists (the list first) and leaves before it goes.
    d.ops.extend(removals(Menu::IpRoute));
    d.ops.extend(removals(Menu::WireguardPeers));
    d.ops.extend(removals(Menu::PppSecret));
    d.ops.extend(removals(Menu::IpAddress));
    d.ops.extend(removals(Menu::InterfaceListMember));
    d.ops.extend(iface_ops);
    d.ops.extend(addr_ops);
    d.ops.extend(plane_list_ops);
    d.ops.extend(peer_sets);
    d.ops.extend(peer_adds);
    d.ops.extend(route_ops);
    d.ops.extend(site_ops);
    d.ops.extend(profile_ops);
    d.ops.extend(secret_ops);
    d.ops.extend(removals(Menu::AddressList));
    d.ops.extend(removals(Menu::InterfaceList));
    d.ops.extend(removals(Menu::PppProfile));
    d.ops.extend(removals(Menu::Wireguard));
    // Only an SSTP hub's desired state holds the `fabric-wg` list: only it keeps sites apart.
    let sstp_hub = desired
        .objects
        .iter()
        .any(|o| o.menu == Menu::InterfaceList);
    if sstp_hub && !table(Menu::FirewallFilter).iter().any(keeps_sites_apart) {
        d.warnings.push(format!(
            "/ip/firewall/filter: no enabled rule `{}`: client sites are not kept apart on this hub (the push keeps the lists the rule uses, not firewall rules: import the rendered .rsc once, which places it before the hub's own rules)",
            forward_drop_args()
        ));
    }
    d
}

/// The properties that identify an object of `menu` (routes and peers have their own rules;
/// read-only menus none).
fn identity(menu: Menu) -> &'static [&'static str] {
    match menu {
        Menu::Wireguard | Menu::PppProfile | Menu::PppSecret | Menu::InterfaceList => &["name"],
        Menu::IpAddress => &["interface", "address"],
        Menu::AddressList => &["list", "address"],
        Menu::InterfaceListMember => &["list", "interface"],
        Menu::IpRoute
        | Menu::WireguardPeers
        | Menu::SystemResource
        | Menu::PppActive
        | Menu::FirewallFilter => &[],
    }
}

/// The `.rsc`'s client-site forward rule (or one made by hand to the same effect), enabled.
fn keeps_sites_apart(r: &Record) -> bool {
    FORWARD_DROP
        .iter()
        .all(|(k, v)| r.get(*k).map(String::as_str) == Some(*v))
        && !["disabled", "invalid"]
            .iter()
            .any(|k| r.get(*k).is_some_and(|v| v == "true"))
}

/// A fabric secret already on the hub: its password goes into `body` when the hub shows a
/// different one, or (hidden) when the mark remembered for the user is not the current
/// password's. Without a held password the hub's is left and a warning says so.
fn password_on_set(
    o: &Object,
    live: &Record,
    remembered: &BTreeMap<String, String>,
    body: &mut Record,
    d: &mut Diff,
) {
    let user = o.record.get("name").cloned().unwrap_or_default();
    let Some(password) = &o.password else {
        if let Some(m) = remembered.get(&user) {
            d.marks.insert(user.clone(), m.clone());
        }
        d.warnings.push(format!(
            "/ppp/secret {}: no SSTP password held for user {user}; its password on the hub is left as it is",
            o.what
        ));
        return;
    };
    let send = match live.get("password").filter(|p| !p.is_empty()) {
        Some(shown) => shown != password.expose(),
        None => o.password_mark.is_none() || remembered.get(&user) != o.password_mark.as_ref(),
    };
    if send {
        body.insert("password".into(), password.expose().to_string());
        body.insert("comment".into(), o.record["comment"].clone());
    }
    if let Some(m) = &o.password_mark {
        d.marks.insert(user, m.clone());
    }
}

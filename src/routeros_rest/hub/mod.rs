//! Pushing a RouterOS hub's fabric-owned configuration over REST (issue 5): the standby hub
//! (CHR02) is pre-provisioned from its rendered `.rsc`; when the topology changes, the daemon
//! (or `fabric hub push`) brings it up to date without an `/import`.
//!
//! - [`desired`] (pure): the records a hub should hold for its [`NodePlan`] — one
//!   `/interface/wireguard` per plane, its `/ip/address`, one peer per plan peer and, like the
//!   `.rsc`, one `/ip/route` (gateway = the interface) per route of the plan (peer prefixes
//!   outside the plane's subnet, each on one of the hub's links); on an SSTP hub the `/ppp/profile` and one `/ppp/secret` per client router
//!   ([`ppp`]), one `/ip/firewall/address-list` entry per client site (list
//!   `fabric-client-sites`, which the `.rsc`'s forward rule keeps apart) and the
//!   `/interface/list` `fabric-wg` with the hub's planes as members (what that rule lets
//!   through) — tagged like the `.rsc` (`fabric:g<GEN>:<what>`, GEN a hash of the content).
//!   The rule itself is not pushed (its place among the hub's own rules is the `.rsc`'s
//!   job); the diff warns when the hub does not have it enabled.
//! - [`diff`] (pure): desired vs the records read with `GET` → ordered [`Op`]s. Only objects
//!   whose comment starts with `fabric:` are ours; others are never changed (a clash with one
//!   is reported as a conflict). Ours that are not desired are removed; ours that are
//!   disabled (a fenced hub) are enabled again.
//! - [`push`] (shell): reads the menus (of the address lists only `fabric-client-sites`, of
//!   the interface lists only `fabric-wg`, of the filter rules only those towards
//!   `fabric-client-sites`), diffs, runs the operations in order.
//!
//! Private keys follow the `.rsc` rule: a hub's key is written only when fabric manages it
//! (`key_held_by_node` false) *and* the pusher holds it — and over REST only when the hub's
//! live `public-key` differs from the topology's (so a correct key is never re-sent).
//! `fabric serve` reads only the controller's own keys, so the daemon never sends one; it
//! reports a mismatch instead. Keys are redacted in every `Debug`/`Display`.
//!
//! SSTP passwords: see [`ppp`]; shown as `***` everywhere, not in the content hash.

mod diff;
#[cfg(test)]
mod diff_tests;
pub mod ppp;
#[cfg(test)]
mod ppp_tests;
pub mod push;
mod values;

pub use diff::{Diff, Op, OpKind, diff, diff_remembering};
pub use ppp::password_mark;

use std::fmt;

use super::{Menu, Record};
use crate::model::{PrivateKey, Secret};
use crate::plan::NodePlan;
use crate::render::routeros::{CLIENT_SITES, FABRIC_WG, client_sites};
use crate::render::{Secrets, join_nets};

/// One object fabric wants on the hub.
#[derive(Clone, PartialEq)]
pub struct Object {
    pub menu: Menu,
    /// What the object is, as in its comment after `fabric:g<GEN>:` (`wg0`, `wg0:peer=z640`).
    pub what: String,
    /// Writable properties (strings, as RouterOS takes them), `comment` included.
    pub record: Record,
    /// Interfaces: the public key the topology expects the hub to have on it.
    pub public_key: Option<String>,
    /// Interfaces: the private key, when fabric manages it and the caller holds it.
    pub private_key: Option<PrivateKey>,
    /// PPP secrets: the client's password, when the caller holds it.
    pub password: Option<Secret>,
    /// PPP secrets: [`password_mark`] of `password` (set by [`Desired::mark_passwords`]).
    pub password_mark: Option<String>,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("menu", &self.menu)
            .field("what", &self.what)
            .field("record", &self.record)
            .field("public_key", &self.public_key)
            .field("private_key", &self.private_key.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_mark", &self.password_mark)
            .finish()
    }
}

/// Everything fabric wants on one hub, in dependency order (interfaces, addresses, peers,
/// routes; on an SSTP hub the `fabric-wg` list and members, PPP profile, PPP secrets,
/// client-site list entries).
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `fabric:g<generation>:` prefixes the comments of objects this push writes.
    pub generation: String,
    pub objects: Vec<Object>,
}

impl Desired {
    /// A hash of the desired content (private keys and passwords excluded): what the daemon
    /// remembers per hub to know whether the topology changed since the last successful push.
    pub fn content_hash(&self) -> String {
        let mut h = Fnv::default();
        for o in &self.objects {
            h.write(o.menu.path().as_bytes());
            h.write(o.what.as_bytes());
            for (k, v) in &o.record {
                if k != "comment" {
                    h.write(k.as_bytes());
                    h.write(v.as_bytes());
                }
            }
            if let Some(p) = &o.public_key {
                h.write(p.as_bytes());
            }
        }
        format!("{:016x}", h.0)
    }

    /// Fills in each held password's [`password_mark`] under `key`.
    pub fn mark_passwords(&mut self, key: &[u8]) {
        for o in &mut self.objects {
            o.password_mark = o
                .password
                .as_ref()
                .map(|p| password_mark(key, o.record.get("name").map_or("", String::as_str), p));
        }
    }
}

/// The records `node` (a RouterOS hub) should hold. `secrets` may lack the hub's private key
/// and any SSTP password (a secret without one is not added).
pub fn desired(node: &NodePlan, secrets: &Secrets) -> Desired {
    let mut objects = Vec::new();
    for iface in &node.interfaces {
        let plane = iface.plane.as_str();
        let mut r = rec(&[
            ("name", plane),
            ("mtu", &iface.mtu.to_string()),
            ("disabled", "false"),
        ]);
        if let Some(p) = iface.listen_port {
            r.insert("listen-port".into(), p.to_string());
        }
        objects.push(Object {
            menu: Menu::Wireguard,
            what: plane.to_string(),
            record: r,
            public_key: Some(iface.public_key.to_base64()),
            private_key: (!iface.key_held_by_node)
                .then(|| secrets.private_keys.get(&iface.key).cloned())
                .flatten(),
            password: None,
            password_mark: None,
        });
        objects.push(plain(
            Menu::IpAddress,
            plane,
            rec(&[
                ("address", &iface.address.to_string()),
                ("interface", plane),
                ("disabled", "false"),
            ]),
        ));
        for peer in &iface.peers {
            let mut r = rec(&[
                ("interface", plane),
                ("name", peer.node.as_str()),
                ("public-key", &peer.public_key.to_base64()),
                ("allowed-address", &join_nets(&peer.allowed_ips, ",")),
                (
                    "persistent-keepalive",
                    &format!("{}s", peer.keepalive.unwrap_or(0)),
                ),
                ("disabled", "false"),
            ]);
            match peer.endpoint {
                Some(ep) => {
                    r.insert("endpoint-address".into(), ep.ip().to_string());
                    r.insert("endpoint-port".into(), ep.port().to_string());
                    r.insert("responder".into(), "false".into());
                }
                None => {
                    r.insert("endpoint-address".into(), String::new());
                    r.insert("responder".into(), "true".into());
                }
            }
            objects.push(plain(
                Menu::WireguardPeers,
                &format!("{plane}:peer={}", peer.node),
                r,
            ));
        }
        for net in &iface.routes {
            objects.push(plain(
                Menu::IpRoute,
                &format!("{plane}:route={net}"),
                rec(&[
                    ("dst-address", &net.to_string()),
                    ("gateway", plane),
                    ("disabled", "false"),
                ]),
            ));
        }
    }
    if let Some(sstp) = &node.sstp_server {
        // The interface list the forward rule lets through to client sites: this hub's
        // planes (a plane a push adds reaches the sites at once).
        objects.push(plain(
            Menu::InterfaceList,
            "isolation",
            rec(&[("name", FABRIC_WG)]),
        ));
        for iface in &node.interfaces {
            objects.push(plain(
                Menu::InterfaceListMember,
                "isolation",
                rec(&[
                    ("list", FABRIC_WG),
                    ("interface", iface.plane.as_str()),
                    ("disabled", "false"),
                ]),
            ));
        }
        objects.extend(ppp::objects(sstp, secrets));
        // The client sites the `.rsc`'s forward rule keeps apart, labelled like its entries.
        for address in client_sites(sstp) {
            objects.push(plain(
                Menu::AddressList,
                "isolation",
                rec(&[
                    ("list", CLIENT_SITES),
                    ("address", &address),
                    ("disabled", "false"),
                ]),
            ));
        }
    }
    let mut d = Desired {
        generation: String::new(),
        objects,
    };
    d.generation = d.content_hash()[8..].to_string();
    for o in &mut d.objects {
        o.record.insert(
            "comment".into(),
            format!("fabric:g{}:{}", d.generation, o.what),
        );
    }
    d
}

fn plain(menu: Menu, what: &str, record: Record) -> Object {
    Object::plain(menu, what, record)
}

impl Object {
    fn plain(menu: Menu, what: &str, record: Record) -> Object {
        Object {
            menu,
            what: what.to_string(),
            record,
            public_key: None,
            private_key: None,
            password: None,
            password_mark: None,
        }
    }
}

fn rec(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// FNV-1a, 64 bit (stable across builds, unlike `DefaultHasher`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

//! The stand-in's tables: records per menu with RouterOS-style `.id`s (`*1`, `*2`, … `*A`,
//! hexadecimal as RouterOS prints them), the properties each menu accepts, and the WireGuard
//! [`Effect`]s a change has on the stand-in hub. `/ppp/profile` and `/ppp/secret` live in the
//! tables only (no effect); a secret's `password` is kept but, unless
//! [`Store::show_sensitive`] is set, never answered — as for a REST user without RouterOS'
//! `sensitive` policy. Pure: no I/O.

use std::collections::BTreeMap;

use super::{Menu, Record};

/// A change the stand-in must make to the live interface for a table change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Create or update a peer (the whole record: key, allowed-address, endpoint, keepalive).
    PeerSet {
        interface: String,
        record: Record,
    },
    PeerRemove {
        interface: String,
        public_key: String,
    },
    Link {
        interface: String,
        up: bool,
    },
    /// End the (stand-in) PPP session of the client with this tunnel address: the lab's SSTP
    /// sessions are peers of the hub's `sstp` interface.
    SessionDrop {
        interface: String,
        address: String,
    },
}

/// An API error: status and optional detail (message is the status' reason phrase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            detail: Some(detail.into()),
        }
    }

    pub fn not_found() -> Self {
        ApiError {
            status: 404,
            detail: None,
        }
    }
}

/// Writable properties per menu (anything else in a PUT/PATCH body is refused, like
/// RouterOS' "unknown parameter").
fn writable(menu: Menu) -> &'static [&'static str] {
    match menu {
        Menu::Wireguard => &[
            "name",
            "listen-port",
            "mtu",
            "private-key",
            "comment",
            "disabled",
        ],
        Menu::WireguardPeers => &[
            "interface",
            "name",
            "public-key",
            "preshared-key",
            "allowed-address",
            "endpoint-address",
            "endpoint-port",
            "persistent-keepalive",
            "responder",
            "comment",
            "disabled",
        ],
        Menu::IpAddress => &["address", "interface", "network", "comment", "disabled"],
        Menu::IpRoute => &["dst-address", "gateway", "distance", "comment", "disabled"],
        Menu::PppProfile => &[
            "name",
            "local-address",
            "remote-address",
            "use-encryption",
            "change-tcp-mss",
            "only-one",
            "dns-server",
            "comment",
        ],
        Menu::PppSecret => &[
            "name",
            "password",
            "service",
            "profile",
            "local-address",
            "remote-address",
            "routes",
            "caller-id",
            "comment",
            "disabled",
        ],
        Menu::AddressList => &["list", "address", "comment", "disabled"],
        Menu::InterfaceList => &["name", "comment"],
        Menu::InterfaceListMember => &["list", "interface", "comment", "disabled"],
        Menu::SystemResource | Menu::PppActive | Menu::FirewallFilter => &[],
    }
}

/// Properties a user without the `sensitive` policy never reads back.
const SENSITIVE: [&str; 1] = ["password"];

/// Profiles every RouterOS has.
const BUILT_IN_PROFILES: [&str; 2] = ["default", "default-encryption"];

fn required(menu: Menu) -> &'static [&'static str] {
    match menu {
        Menu::Wireguard => &["name"],
        Menu::WireguardPeers => &["interface", "public-key"],
        Menu::IpAddress => &["address", "interface"],
        Menu::IpRoute => &["dst-address", "gateway"],
        Menu::PppProfile | Menu::PppSecret => &["name"],
        Menu::AddressList => &["list", "address"],
        Menu::InterfaceList => &["name"],
        Menu::InterfaceListMember => &["list", "interface"],
        Menu::SystemResource | Menu::PppActive | Menu::FirewallFilter => &[],
    }
}

/// RouterOS accepts yes/no/true/false; the stand-in stores `true`/`false`.
fn normalize_bool(v: &str) -> Result<String, ApiError> {
    match v {
        "true" | "yes" => Ok("true".into()),
        "false" | "no" => Ok("false".into()),
        _ => Err(ApiError::bad_request(format!(
            "value of disabled out of range: {v}"
        ))),
    }
}

fn enabled(r: &Record) -> bool {
    r.get("disabled").is_none_or(|d| d != "true")
}

/// All tables of one stand-in router. `Debug` shows only how many records each menu holds
/// (a secret's password is never printed).
#[derive(Clone, Default)]
pub struct Store {
    tables: BTreeMap<Menu, Vec<Record>>,
    next_id: u64,
    sensitive_shown: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: BTreeMap<&str, usize> = self
            .tables
            .iter()
            .map(|(m, t)| (m.path(), t.len()))
            .collect();
        f.debug_struct("Store").field("records", &sizes).finish()
    }
}

impl Store {
    /// Answers passwords too (a REST user with the `sensitive` policy); off by default.
    pub fn show_sensitive(mut self, yes: bool) -> Self {
        self.sensitive_shown = yes;
        self
    }

    /// `r` as an answer shows it: without the `sensitive` policy, no password.
    pub fn visible(&self, mut r: Record) -> Record {
        if !self.sensitive_shown {
            r.retain(|k, _| !SENSITIVE.contains(&k.as_str()));
        }
        r
    }

    /// Adds a record as it is (import of live state), assigning its `.id`.
    pub fn insert(&mut self, menu: Menu, mut record: Record) -> Record {
        self.next_id += 1;
        record.insert(".id".into(), format!("*{:X}", self.next_id));
        if !matches!(menu, Menu::PppProfile | Menu::InterfaceList) {
            record
                .entry("disabled".into())
                .or_insert_with(|| "false".into());
        }
        self.tables.entry(menu).or_default().push(record.clone());
        record
    }

    /// Records of `menu` whose properties equal every `filter` pair.
    pub fn list(&self, menu: Menu, filter: &[(String, String)]) -> Vec<Record> {
        self.tables
            .get(&menu)
            .into_iter()
            .flatten()
            .filter(|r| filter.iter().all(|(k, v)| r.get(k) == Some(v)))
            .cloned()
            .collect()
    }

    pub fn get(&self, menu: Menu, id: &str) -> Result<Record, ApiError> {
        self.tables
            .get(&menu)
            .and_then(|t| {
                t.iter()
                    .find(|r| r.get(".id").map(String::as_str) == Some(id))
            })
            .cloned()
            .ok_or_else(ApiError::not_found)
    }

    fn check(menu: Menu, body: &Record) -> Result<Record, ApiError> {
        let mut out = Record::new();
        for (k, v) in body {
            if k == ".id" {
                continue;
            }
            if !writable(menu).contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("unknown parameter {k}")));
            }
            let v = if k == "disabled" || k == "responder" {
                normalize_bool(v)?
            } else if menu == Menu::AddressList && k == "address" {
                // RouterOS shows a single host without its /32.
                v.strip_suffix("/32").unwrap_or(v).to_string()
            } else {
                v.clone()
            };
            out.insert(k.clone(), v);
        }
        Ok(out)
    }

    fn duplicate(&self, menu: Menu, r: &Record, except: Option<&str>) -> bool {
        let key: &[&str] = match menu {
            Menu::Wireguard => &["name"],
            Menu::WireguardPeers => &["interface", "public-key"],
            Menu::IpAddress => &["address", "interface"],
            Menu::IpRoute => &["dst-address", "gateway", "comment"],
            Menu::PppProfile | Menu::PppSecret => &["name"],
            // RouterOS: "already have such entry".
            Menu::AddressList => &["list", "address"],
            Menu::InterfaceList => &["name"],
            Menu::InterfaceListMember => &["list", "interface"],
            Menu::SystemResource | Menu::PppActive | Menu::FirewallFilter => return false,
        };
        self.list(menu, &[]).iter().any(|o| {
            o.get(".id").map(String::as_str) != except && key.iter().all(|k| o.get(*k) == r.get(*k))
        })
    }

    /// PUT (add): the new record and its effects.
    pub fn add(&mut self, menu: Menu, body: &Record) -> Result<(Record, Vec<Effect>), ApiError> {
        if menu.read_only() {
            return Err(ApiError::bad_request("no such command"));
        }
        let r = Self::check(menu, body)?;
        if let Some(missing) = required(menu).iter().find(|k| !r.contains_key(**k)) {
            return Err(ApiError::bad_request(format!("failure: missing {missing}")));
        }
        self.refers_to_known_names(menu, &r)?;
        if menu == Menu::PppSecret
            && let Some(profile) = r.get("profile")
            && !BUILT_IN_PROFILES.contains(&profile.as_str())
            && !self
                .list(Menu::PppProfile, &[])
                .iter()
                .any(|p| p.get("name") == Some(profile))
        {
            return Err(ApiError::bad_request(format!(
                "input does not match any value of profile: {profile}"
            )));
        }
        if self.duplicate(menu, &r, None) {
            return Err(ApiError::bad_request("failure: entry already exists"));
        }
        let r = self.insert(menu, r);
        Ok((r.clone(), effects(menu, None, Some(&r))))
    }

    /// RouterOS refuses a peer or a list member that names an interface or list that does
    /// not exist (the stand-in knows only its WireGuard interfaces).
    fn refers_to_known_names(&self, menu: Menu, r: &Record) -> Result<(), ApiError> {
        let references: &[(Menu, &str)] = match menu {
            Menu::WireguardPeers => &[(Menu::Wireguard, "interface")],
            Menu::InterfaceListMember => &[
                (Menu::InterfaceList, "list"),
                (Menu::Wireguard, "interface"),
            ],
            _ => &[],
        };
        for (named, key) in references {
            if !self
                .list(*named, &[])
                .iter()
                .any(|o| o.get("name") == r.get(*key))
            {
                return Err(ApiError::bad_request(format!(
                    "input does not match any value of {key}: {}",
                    r.get(*key).map_or("", String::as_str)
                )));
            }
        }
        Ok(())
    }

    /// PATCH (set): the updated record and its effects.
    pub fn set(
        &mut self,
        menu: Menu,
        id: &str,
        body: &Record,
    ) -> Result<(Record, Vec<Effect>), ApiError> {
        if menu.read_only() {
            return Err(ApiError::bad_request("no such command"));
        }
        let changes = Self::check(menu, body)?;
        let old = self.get(menu, id)?;
        let mut new = old.clone();
        new.extend(changes);
        if self.duplicate(menu, &new, Some(id)) {
            return Err(ApiError::bad_request("failure: entry already exists"));
        }
        let slot = self
            .tables
            .get_mut(&menu)
            .and_then(|t| {
                t.iter_mut()
                    .find(|r| r.get(".id").map(String::as_str) == Some(id))
            })
            .expect("found above");
        *slot = new.clone();
        Ok((new.clone(), effects(menu, Some(&old), Some(&new))))
    }

    /// DELETE (remove): its effects.
    pub fn remove(&mut self, menu: Menu, id: &str) -> Result<Vec<Effect>, ApiError> {
        if menu.read_only() {
            return Err(ApiError::bad_request("no such command"));
        }
        let old = self.get(menu, id)?;
        self.tables
            .get_mut(&menu)
            .expect("found above")
            .retain(|r| r.get(".id").map(String::as_str) != Some(id));
        Ok(effects(menu, Some(&old), None))
    }
}

/// What a record going from `old` to `new` does to the live WireGuard interface. Addresses
/// are kept in the table only (the stand-in does not change the hub's IP configuration).
fn effects(menu: Menu, old: Option<&Record>, new: Option<&Record>) -> Vec<Effect> {
    let mut out = Vec::new();
    match menu {
        Menu::WireguardPeers => {
            let live = |r: Option<&Record>| r.filter(|r| enabled(r)).cloned();
            let (old, new) = (live(old), live(new));
            if let Some(o) = &old {
                let same_peer = new.as_ref().is_some_and(|n| {
                    n.get("public-key") == o.get("public-key")
                        && n.get("interface") == o.get("interface")
                });
                if !same_peer {
                    out.push(Effect::PeerRemove {
                        interface: o.get("interface").cloned().unwrap_or_default(),
                        public_key: o.get("public-key").cloned().unwrap_or_default(),
                    });
                }
            }
            if let Some(n) = new
                && old.as_ref() != Some(&n)
            {
                out.push(Effect::PeerSet {
                    interface: n.get("interface").cloned().unwrap_or_default(),
                    record: n,
                });
            }
        }
        Menu::Wireguard => {
            if let (Some(o), Some(n)) = (old, new)
                && enabled(o) != enabled(n)
            {
                out.push(Effect::Link {
                    interface: n.get("name").cloned().unwrap_or_default(),
                    up: enabled(n),
                });
            }
        }
        Menu::IpAddress
        | Menu::IpRoute
        | Menu::SystemResource
        | Menu::PppActive
        | Menu::PppProfile
        | Menu::PppSecret
        | Menu::AddressList
        | Menu::InterfaceList
        | Menu::InterfaceListMember
        | Menu::FirewallFilter => {}
    }
    out
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

//! RouterOS v7 REST (`https://host:port/rest/…`): the client fabric uses for the health probe
//! (`/rest/system/resource`) and for fencing a hub (disable its fabric-owned WireGuard peers),
//! and a lab stand-in server that speaks the same subset.
//!
//! The subset, as MikroTik documents it: HTTP Basic auth over TLS; `GET` lists a menu (or one
//! record by `.id`, like `*1`), `PUT` adds (answers the new record), `PATCH` sets (answers the
//! updated record), `DELETE` removes; every JSON value is a string (`"true"`, `"1420"`);
//! errors are an HTTP status plus `{"error": 404, "message": "Not Found", "detail": "…"}`
//! (`detail` optional). Menus: [`Menu`].
//!
//! - [`client`]: [`RestClient`] (reqwest + rustls, only the pinned certificate trusted, short
//!   timeouts).
//! - [`standin`]: the lab's stand-in for a CHR's REST service — **not RouterOS**; it applies
//!   WireGuard peer changes to a wireguard-go interface and keeps the PPP, address-list,
//!   interface-list and (read-only, seeded) filter-rule records in its tables only.

pub mod client;
pub mod hub;
pub mod sstp_usage;
pub mod standin;
mod store;

use std::collections::BTreeMap;

pub use client::{RestClient, RestError};

/// One RouterOS record: property → value, all strings (as RouterOS' REST API sends them).
pub type Record = BTreeMap<String, String>;

/// Comment prefix of every object fabric owns on a router.
pub const FABRIC_COMMENT_PREFIX: &str = "fabric:";

/// The menus fabric uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Menu {
    Wireguard,
    WireguardPeers,
    IpAddress,
    /// `/ip/route`: routes to the LANs behind peers (gateway = the WireGuard interface).
    IpRoute,
    SystemResource,
    /// `/ppp/active`: the PPP sessions a hub carries (read-only; SSTP clients).
    PppActive,
    /// `/ppp/profile`: the SSTP server's profile (`fabric-sstp`) the secrets refer to.
    PppProfile,
    /// `/ppp/secret`: one per SSTP client router (its password is never read back or shown).
    PppSecret,
    /// `/ip/firewall/address-list`: the client-site list the hub's forward rule keeps apart
    /// (only `fabric-client-sites` is read or written).
    AddressList,
    /// `/interface/list`: the `fabric-wg` list the forward rule lets through to client sites
    /// (only that one is read or written).
    InterfaceList,
    /// `/interface/list/member`: the hub's WireGuard interfaces in `fabric-wg`.
    InterfaceListMember,
    /// `/ip/firewall/filter`: read only, to check that the client-site forward rule the
    /// `.rsc` places is there (a push does not place firewall rules).
    FirewallFilter,
}

impl Menu {
    pub const ALL: [Menu; 12] = [
        Menu::Wireguard,
        Menu::WireguardPeers,
        Menu::IpAddress,
        Menu::IpRoute,
        Menu::SystemResource,
        Menu::PppActive,
        Menu::PppProfile,
        Menu::PppSecret,
        Menu::AddressList,
        Menu::InterfaceList,
        Menu::InterfaceListMember,
        Menu::FirewallFilter,
    ];

    /// Menus that only report (no add/set/remove through fabric).
    pub fn read_only(self) -> bool {
        matches!(
            self,
            Menu::SystemResource | Menu::PppActive | Menu::FirewallFilter
        )
    }

    /// The path below `/rest/`.
    pub fn path(self) -> &'static str {
        match self {
            Menu::Wireguard => "interface/wireguard",
            Menu::WireguardPeers => "interface/wireguard/peers",
            Menu::IpAddress => "ip/address",
            Menu::IpRoute => "ip/route",
            Menu::SystemResource => "system/resource",
            Menu::PppActive => "ppp/active",
            Menu::PppProfile => "ppp/profile",
            Menu::PppSecret => "ppp/secret",
            Menu::AddressList => "ip/firewall/address-list",
            Menu::InterfaceList => "interface/list",
            Menu::InterfaceListMember => "interface/list/member",
            Menu::FirewallFilter => "ip/firewall/filter",
        }
    }

    pub fn from_path(path: &str) -> Option<Menu> {
        Menu::ALL.into_iter().find(|m| m.path() == path)
    }
}

/// A JSON object as a [`Record`]: strings kept, other scalars written out (`true`, `25`),
/// `null` as empty; nested values are refused.
pub fn record_from_json(v: &serde_json::Value) -> Result<Record, String> {
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let mut out = Record::new();
    for (k, v) in obj {
        let s = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            _ => return Err(format!("value of {k} is not a string")),
        };
        out.insert(k.clone(), s);
    }
    Ok(out)
}

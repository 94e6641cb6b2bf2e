//! File-shaped topology: serde structs that mirror topology.yaml one to one.
//!
//! Everything that needs checking (addresses, ports, names, keys) stays a loose type here
//! (`String`, `i64`) so that validation can report every problem at once with its YAML path.
//! Unknown fields are collected by the loader (serde_ignored), not rejected by serde, for the
//! same reason.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::small_map::SmallMap;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawTopology {
    pub domain: Option<String>,
    #[serde(default)]
    pub planes: BTreeMap<String, RawPlane>,
    pub vlans: Option<RawVlans>,
    #[serde(default)]
    pub nodes: BTreeMap<String, RawNode>,
    pub sstp: Option<RawSstp>,
    #[serde(default)]
    pub layouts: BTreeMap<String, BTreeMap<String, String>>,
    pub dns: Option<RawDns>,
    pub failover: Option<RawFailover>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawPlane {
    pub purpose: Option<String>,
    pub subnet: Option<String>,
    pub listen_port: Option<i64>,
    pub mtu: Option<i64>,
    pub keepalive: Option<i64>,
    #[serde(default)]
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawVlans {
    pub supernet: Option<String>,
    #[serde(default)]
    pub list: Vec<RawVlan>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawVlan {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub subnet: Option<String>,
    pub via: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawNode {
    pub platform: Option<String>,
    pub description: Option<String>,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub planes: SmallMap<String, RawMembership>,
    #[serde(default)]
    pub routes: Vec<String>,
    // Boxed: most nodes have neither, and a node map's B-tree holds its values inline.
    pub sstp: Option<Box<RawSstpHub>>,
    pub rest: Option<Box<RawRest>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawMembership {
    pub address: Option<String>,
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawSstpHub {
    pub address: Option<String>,
    pub hostname: Option<String>,
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawRest {
    pub port: Option<i64>,
    pub certificate: Option<String>,
    #[serde(default)]
    pub allow_from: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawSstp {
    pub plane: Option<String>,
    pub subnet: Option<String>,
    #[serde(default)]
    pub hubs: Vec<String>,
    pub port: Option<i64>,
    pub keepalive_timeout: Option<i64>,
    pub ca_certificate: Option<String>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawClient {
    pub name: Option<String>,
    pub site: Option<String>,
    pub user: Option<String>,
    pub address: Option<String>,
    #[serde(default)]
    pub lans: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawDns {
    pub ttl: Option<i64>,
    #[serde(default)]
    pub upstreams: Vec<String>,
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    #[serde(default)]
    pub records: Vec<RawRecord>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawRecord {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
    pub ttl: Option<i64>,
}

/// `failover:` — the controller's health-check and failover policy (docs/topology.md).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawFailover {
    pub controller: Option<String>,
    pub watch: Option<String>,
    pub target: Option<String>,
    pub interval_ms: Option<i64>,
    pub probe_timeout_ms: Option<i64>,
    pub probes: Option<i64>,
    pub misses: Option<i64>,
    pub signals_needed: Option<i64>,
    pub hold_down_s: Option<i64>,
    pub failback: Option<String>,
    pub stable_s: Option<i64>,
}

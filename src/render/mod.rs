//! Plan → artifacts (file contents), deterministic byte for byte. Pure: the shell writes them.

pub mod quote;
pub mod routeros;
pub mod wgquick;

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::model::{NodeName, PrivateKey, Secret};
use crate::plan::{KeyId, Plan};

/// The secret inputs of rendering (read from the secrets directory by the shell).
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    pub private_keys: BTreeMap<KeyId, PrivateKey>,
    /// SSTP passwords by client-router name.
    pub passwords: BTreeMap<NodeName, Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    #[serde(rename = "wg-quick")]
    WgQuick,
    #[serde(rename = "routeros-v6")]
    RouterosV6,
    #[serde(rename = "routeros-v7")]
    RouterosV7,
    #[serde(rename = "manifest")]
    Manifest,
}

/// One rendered file. `path` is relative to the output directory.
#[derive(Clone, PartialEq, Serialize)]
pub struct Artifact {
    pub path: String,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plane: Option<String>,
    pub format: Format,
    pub secret: bool,
    #[serde(skip)]
    pub contents: String,
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Contents may hold secrets: never part of Debug output.
        f.debug_struct("Artifact")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// Every artifact of the plan, plus `manifest.json` describing them.
pub fn render(plan: &Plan, secrets: &Secrets) -> Vec<Artifact> {
    let mut out = Vec::new();
    for node in plan.nodes.values() {
        if node.platform.is_routeros() {
            out.push(routeros::render_hub(plan, node, secrets));
        } else {
            for iface in &node.interfaces {
                out.push(wgquick::render(plan, node, iface, secrets));
            }
        }
    }
    for client in &plan.clients {
        out.push(routeros::render_client(plan, client, secrets));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.push(manifest(plan, &out));
    out
}

fn manifest(plan: &Plan, artifacts: &[Artifact]) -> Artifact {
    #[derive(Serialize)]
    struct Manifest<'a> {
        layout: &'a str,
        artifacts: &'a [Artifact],
    }
    let m = Manifest {
        layout: plan.layout.as_str(),
        artifacts,
    };
    let mut contents = serde_json::to_string_pretty(&m).expect("manifest serializes");
    contents.push('\n');
    Artifact {
        path: "manifest.json".into(),
        node: String::new(),
        plane: None,
        format: Format::Manifest,
        secret: false,
        contents,
    }
}

pub fn join_nets(nets: &[Ipv4Net], sep: &str) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

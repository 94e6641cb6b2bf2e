//! Fencing over the RouterOS REST API: disables the watched hub's fabric-owned WireGuard
//! peers so no spoke stays split between two hubs. Runs in the background — a dead hub's
//! REST times out after seconds, and the failover must not wait for it; the outcome is logged.
//!
//! Credentials per hub, in `--routeros-credentials DIR` (default `SECRETS/routeros`):
//! `<node>.crt` (the certificate to pin) and `<node>.password` (user `fabric`, 0600). The URL is
//! `https://<endpoint>:<rest.port>` from the topology.

use std::path::PathBuf;

use anyhow::Context;

use super::decider::Fencer;
use super::load::Loaded;
use crate::model::Secret;
use crate::routeros_rest::client::RestClient;

/// The RouterOS user fabric uses for REST.
pub const REST_USER: &str = "fabric";

pub struct RestFencer {
    pub credentials: PathBuf,
}

impl Fencer for RestFencer {
    fn fence(&mut self, node: &str, loaded: &Loaded) -> anyhow::Result<()> {
        let n = loaded
            .topology
            .nodes
            .values()
            .find(|n| n.name.as_str() == node)
            .with_context(|| format!("fence: no node {node}"))?;
        let (Some(ip), Some(rest)) = (n.endpoint, &n.rest) else {
            anyhow::bail!("fence: {node} has no endpoint or rest section");
        };
        let url = format!("https://{}:{}", ip, rest.port);
        let pem = std::fs::read(self.credentials.join(format!("{node}.crt")))
            .with_context(|| format!("fence: {node}'s pinned certificate"))?;
        let password =
            crate::shell::secrets::read_secret(&self.credentials.join(format!("{node}.password")))?
                .with_context(|| format!("fence: no REST password for {node}"))?;
        let client = RestClient::new(&url, REST_USER, Secret::new(password), &pem)?;
        let node = node.to_string();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return tracing::error!(node, error = %e, "fence: no runtime"),
            };
            match runtime.block_on(client.disable_fabric_peers()) {
                Ok(ids) => tracing::warn!(
                    node,
                    url,
                    disabled = ids.len(),
                    "fenced: fabric-owned peers disabled"
                ),
                Err(e) => {
                    tracing::warn!(node, url, error = %e, "fence not possible (hub unreachable?); spokes follow the new epoch anyway")
                }
            }
        });
        Ok(())
    }
}

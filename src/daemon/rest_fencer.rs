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
pub use super::rest_clients::REST_USER;
use super::rest_clients::client_for;

pub struct RestFencer {
    pub credentials: PathBuf,
}

impl Fencer for RestFencer {
    fn fence(&mut self, node: &str, loaded: &Loaded) -> anyhow::Result<()> {
        let (client, url) = client_for(&loaded.topology, node, &self.credentials)
            .with_context(|| format!("fence: {node}"))?;
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

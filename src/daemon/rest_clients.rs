//! A [`RestClient`] for a RouterOS node of the topology: `https://<endpoint>:<rest.port>`,
//! the pinned certificate `<dir>/<node>.crt` and the password `<dir>/<node>.password`
//! (user [`REST_USER`]). Shared by fencing, hub pushes and the SSTP session poll.

use std::path::Path;

use anyhow::Context;

use crate::model::{Secret, Topology};
use crate::routeros_rest::client::RestClient;

/// The RouterOS user fabric uses for REST.
pub const REST_USER: &str = "fabric";

/// The client for `node`, and its base URL (for logs).
pub fn client_for(t: &Topology, node: &str, dir: &Path) -> anyhow::Result<(RestClient, String)> {
    client_at(t, node, dir, None)
}

/// As [`client_for`], at `url` instead of the topology's address when given.
pub fn client_at(
    t: &Topology,
    node: &str,
    dir: &Path,
    url: Option<&str>,
) -> anyhow::Result<(RestClient, String)> {
    let n = t
        .nodes
        .values()
        .find(|n| n.name.as_str() == node)
        .with_context(|| format!("no node {node}"))?;
    let (Some(ip), Some(rest)) = (n.endpoint, &n.rest) else {
        anyhow::bail!("{node} has no endpoint or rest section");
    };
    let url = url.map_or_else(|| format!("https://{}:{}", ip, rest.port), str::to_string);
    let (pem, password) = credentials(dir, node)?;
    let client = RestClient::new(&url, REST_USER, password, &pem)?;
    Ok((client, url))
}

/// The pinned certificate (PEM) and the REST password of `node` in `dir`.
pub fn credentials(dir: &Path, node: &str) -> anyhow::Result<(Vec<u8>, Secret)> {
    let crt = dir.join(format!("{node}.crt"));
    let pem = std::fs::read(&crt)
        .with_context(|| format!("no pinned REST certificate for {node} ({})", crt.display()))?;
    let pw = dir.join(format!("{node}.password"));
    let password = crate::shell::secrets::read_secret(&pw)?
        .with_context(|| format!("no REST password for {node} ({})", pw.display()))?;
    Ok((pem, Secret::new(password)))
}

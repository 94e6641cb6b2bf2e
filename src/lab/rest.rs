//! The RouterOS REST stand-in in the lab (`fabric lab up --rest-standins`): for every RouterOS
//! hub with a `rest:` section, `fabric lab rest-standin` runs in the hub's namespace on
//! `<endpoint>:<rest.port>` — **a stand-in, not RouterOS** (see `routeros_rest::standin`).
//!
//! Files in `/run/fabric-lab/<prefix>/rest/`: `<node>.crt` (the certificate to pin),
//! `<node>.key`, `<node>.password` (user `fabric`), `<node>.log`. `lab down` stops the
//! process with the rest of the namespace.

use std::fs;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::{LabSpec, Ns};
use crate::model::{Node, Platform};
use crate::shell::output::write_atomic;

/// The Basic-auth user of every lab stand-in.
pub const USER: &str = "fabric";

/// Where the stand-in of `node` keeps its files.
pub fn files(prefix: &str, node: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = super::root(prefix).join("rest");
    (
        d.join(format!("{node}.crt")),
        d.join(format!("{node}.key")),
        d.join(format!("{node}.password")),
    )
}

/// Starts the stand-in for `node` when it is a RouterOS hub with REST; waits until it listens.
pub fn start(spec: &LabSpec, dir: &Path, n: &Ns, node: &Node) -> anyhow::Result<Option<String>> {
    let (Some(rest), Some(IpAddr::V4(ip)), Platform::RouterosV7) =
        (&node.rest, node.endpoint, node.platform)
    else {
        return Ok(None);
    };
    fs::create_dir_all(dir.join("rest"))?;
    let (crt, key, password) = files(&spec.prefix, node.name.as_str());
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let pw: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(&password, format!("{pw}\n").as_bytes(), 0o600)?;
    let log_path = dir.join("rest").join(format!("{}.log", node.name));
    let listen = format!("{ip}:{}", rest.port);
    let fabric = spec.fabric.to_string_lossy();
    let topo = spec.topology.to_string_lossy();
    let secrets = dir.join("secrets");
    let args = [
        fabric.as_ref(),
        "lab",
        "rest-standin",
        "--node",
        node.name.as_str(),
        "-t",
        topo.as_ref(),
        "--secrets",
        &secrets.to_string_lossy(),
        "--layout",
        &spec.layout,
        "--listen",
        &listen,
        "--cert",
        &crt.to_string_lossy(),
        "--key",
        &key.to_string_lossy(),
        "--user",
        USER,
        "--password-file",
        &password.to_string_lossy(),
    ];
    n.spawn_listening(&args, &log_path, "REST stand-in")?;
    Ok(Some(format!(
        "{} REST stand-in (not RouterOS) on https://{listen} (user {USER}, {})",
        n.name,
        password.display()
    )))
}

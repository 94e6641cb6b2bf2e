//! The SSTP-TLS stand-in in the lab (started with `fabric lab up --rest-standins`): for every
//! RouterOS hub with an `sstp:` side, `fabric lab sstp-tls-standin` listens on
//! `<endpoint>:<sstp.port>` in the hub's namespace and completes TLS handshakes with a
//! certificate for the hub's `sstp.hostname` signed by a lab-generated fabric CA — **the SSTP
//! server's TLS only, not SSTP** (nothing is spoken after the handshake). It is what the
//! controller's `tls` signal checks.
//!
//! Files: the CA certificate goes to `<lab>/secrets/ca/fabric-ca.crt`, where `fabric serve
//! --secrets <lab>/secrets` looks by default; the CA key is never written (all hub
//! certificates are issued at `lab up`). Per hub: `<lab>/sstp/<node>.{crt,key,log}`.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{LabSpec, Ns};
use crate::model::{Node, Platform, Topology};
use crate::shell::output::write_atomic;

/// Where the lab's fabric CA certificate is written (inside the lab's secrets dir).
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("secrets").join("ca").join("fabric-ca.crt")
}

fn files(dir: &Path, node: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir.join("sstp");
    (
        d.join(format!("{node}.crt")),
        d.join(format!("{node}.key")),
        d.join(format!("{node}.log")),
    )
}

/// The hubs that get a stand-in: RouterOS hubs with an IPv4 endpoint and an `sstp:` side.
fn hubs(t: &Topology) -> Vec<(&Node, std::net::SocketAddr, String)> {
    let Some(sstp) = &t.sstp else { return vec![] };
    t.nodes
        .values()
        .filter_map(|n| match (n.platform, n.endpoint, &n.sstp) {
            (Platform::RouterosV7, Some(ip @ IpAddr::V4(_)), Some(side)) => Some((
                n,
                std::net::SocketAddr::new(ip, sstp.port),
                side.hostname.as_str().to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// Makes a fresh lab fabric CA, a certificate per hub, and starts each hub's stand-in.
pub fn start_all(spec: &LabSpec, t: &Topology, dir: &Path) -> anyhow::Result<Vec<String>> {
    let hubs = hubs(t);
    if hubs.is_empty() {
        return Ok(vec![]);
    }
    let ca = crate::tls::LocalCa::new("fabric-ca")?;
    fs::create_dir_all(dir.join("sstp"))?;
    for (node, _, hostname) in &hubs {
        let cert = ca.issue(hostname, None)?;
        let (crt, key, _) = files(dir, node.name.as_str());
        write_atomic(&key, cert.key_pem.expose().as_bytes(), 0o600)?;
        write_atomic(&crt, cert.cert_pem.as_bytes(), 0o644)?;
    }
    let ca_file = ca_path(dir);
    fs::create_dir_all(ca_file.parent().expect("has a parent"))?;
    write_atomic(&ca_file, ca.cert_pem.as_bytes(), 0o644)?;
    let mut report = vec![format!("lab fabric CA: {}", ca_file.display())];
    for (node, listen, hostname) in &hubs {
        let n = super::ns(&spec.prefix, node.name.as_str());
        start(spec, dir, &n, node.name.as_str(), *listen)?;
        report.push(format!(
            "{} SSTP-TLS stand-in (TLS only, not SSTP) on {listen} for {hostname}",
            n.name
        ));
    }
    Ok(report)
}

fn start(
    spec: &LabSpec,
    dir: &Path,
    n: &Ns,
    node: &str,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let (crt, key, log_path) = files(dir, node);
    let fabric = spec.fabric.to_string_lossy();
    let listen = listen.to_string();
    let args = [
        fabric.as_ref(),
        "lab",
        "sstp-tls-standin",
        "--listen",
        &listen,
        "--cert",
        &crt.to_string_lossy(),
        "--key",
        &key.to_string_lossy(),
    ];
    n.spawn_listening(&args, &log_path, "SSTP-TLS stand-in")
}

/// Completes TLS handshakes (then closes) until `shutdown`; one task per connection, each
/// bounded by 5 s.
pub async fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let tcp = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let hs = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await;
            if let Ok(Ok(mut tls)) = hs {
                let _ = tls.shutdown().await;
            }
        });
    }
}

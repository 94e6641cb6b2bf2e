//! `fabric dns`: serves the topology's zone until SIGINT/SIGTERM. SIGHUP, or a change of the
//! topology file, rebuilds the zone and swaps it in atomically; an invalid topology keeps the
//! old zone and logs the findings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::dns::{self, ZoneData, ZoneHandle};
use crate::plan::dns::{DnsServerPlan, server, zone};

/// How often the topology file's modification time is compared.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Loads the topology and builds the zone and server plan of `layout`.
pub fn build(path: &Path, layout: &str) -> anyhow::Result<(ZoneData, DnsServerPlan)> {
    let t = super::topology::read(path)?.map_err(anyhow::Error::new)?;
    let l = t
        .layouts
        .values()
        .find(|l| l.name.as_str() == layout)
        .with_context(|| format!("layout \"{layout}\" is not defined"))?;
    let plan = server(&t, l).context("the topology has no access plane, so no DNS server")?;
    Ok((zone(&t, l), plan))
}

pub async fn run(
    path: PathBuf,
    layout: String,
    listen: Vec<SocketAddr>,
    udp_sockets: usize,
) -> anyhow::Result<()> {
    let (zone_data, plan) = build(&path, &layout)?;
    let listen = if listen.is_empty() {
        plan.listen.clone()
    } else {
        listen
    };
    let handle = ZoneHandle::new(zone_data).context("building the zone")?;
    let (udp, tcp) =
        dns::bind(&listen, udp_sockets).with_context(|| format!("binding {listen:?}"))?;
    let bound: Vec<String> = tcp
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    info!(zone = %handle.origin(), serial = handle.serial(), listen = ?bound, "DNS serving");
    println!("serving {} on {}", handle.origin(), bound.join(", "));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(dns::serve(
        udp,
        tcp,
        handle.clone(),
        plan.config.clone(),
        shutdown.clone(),
    ));

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut seen = modified(&path);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            _ = hup.recv() => reload(&path, &layout, &handle, "SIGHUP"),
            _ = tick.tick() => {
                let now = modified(&path);
                if now != seen {
                    seen = now;
                    reload(&path, &layout, &handle, "topology changed");
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    shutdown.cancel();
    server.await.context("DNS server task")??;
    Ok(())
}

fn reload(path: &Path, layout: &str, handle: &ZoneHandle, why: &str) {
    match build(path, layout).and_then(|(z, _)| handle.replace(z).map_err(anyhow::Error::new)) {
        Ok(()) => info!(why, serial = handle.serial(), "zone reloaded"),
        Err(e) => warn!(why, error = %format!("{e:#}"), "reload failed; keeping the old zone"),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

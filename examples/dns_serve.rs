//! Serves a zone from a JSON file (a serialized `fabric::dns::ZoneData`) with the fabric DNS
//! server — for `bench/dns.sh` and manual testing until `fabric dns` is wired to the topology.
//!
//! ```text
//! cargo run --release --example dns_serve -- zone.json 127.0.0.1:15353 \
//!     [--udp-sockets 2] [--threads 2] [--allow 10.0.0.0/8]... [--upstream 127.0.0.1:53]...
//! ```
//! SIGHUP reloads the file (an invalid file keeps the old zone); SIGINT/SIGTERM stop.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Parser;
use fabric::dns::{self, DnsConfig, ZoneData, ZoneHandle};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// JSON file holding a `ZoneData`.
    zone: PathBuf,
    /// Address to listen on (UDP and TCP).
    listen: SocketAddr,
    /// UDP sockets (SO_REUSEPORT) for the address.
    #[arg(long, default_value_t = 2)]
    udp_sockets: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Allowed source networks (loopback is allowed on a loopback listener anyway).
    #[arg(long)]
    allow: Vec<ipnet::IpNet>,
    /// Upstream resolvers for names outside the zone.
    #[arg(long)]
    upstream: Vec<SocketAddr>,
    /// Upstream timeout in milliseconds.
    #[arg(long, default_value_t = 2000)]
    upstream_timeout_ms: u64,
}

fn load(path: &PathBuf) -> anyhow::Result<ZoneData> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path:?}"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let zone = ZoneHandle::new(load(&args.zone)?)?;
    let cfg = DnsConfig {
        allowed_sources: args.allow.clone(),
        upstreams: args.upstream.clone(),
        upstream_timeout: Duration::from_millis(args.upstream_timeout_ms),
    };
    let (udp, tcp) = dns::bind(&[args.listen], args.udp_sockets)?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(dns::serve(udp, tcp, zone.clone(), cfg, shutdown.clone()));
    let (mut hup, mut int, mut term) = (
        signal(SignalKind::hangup())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    loop {
        tokio::select! {
            _ = hup.recv() => match load(&args.zone).and_then(|z| Ok(zone.replace(z)?)) {
                Ok(()) => tracing::info!(serial = zone.serial(), "zone reloaded"),
                Err(error) => tracing::warn!("reload failed, keeping the old zone: {error:#}"),
            },
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
    }
    shutdown.cancel();
    server.await?
}

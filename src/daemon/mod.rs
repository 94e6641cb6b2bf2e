//! `fabric serve`: the controller daemon on the controller node (VPS01).
//!
//! Tasks: the **decider** ([`decider`]) owns the failover state and is the only one that acts;
//! the **monitor** ([`monitor`]) probes the watched hub every interval; the **control socket**
//! ([`control`]) takes `fabric failover|failback|status`; the **DNS server** serves the zone
//! of the current layout; signals: SIGHUP reloads, SIGTERM/SIGINT stop. systemd is told
//! `READY=1` only after the first reconcile succeeded and DNS is bound ([`notify`]), and gets
//! `WATCHDOG=1` at half the watchdog interval while the decider loop is alive.
//!
//! Startup: read `<state-dir>/state.json` → resume that epoch and layout (or epoch 0 on
//! primary) → apply it to the own interfaces → bind DNS → READY → loop. Starts, decisions
//! (with their cause), fences and applies are appended to `<state-dir>/decisions.jsonl`
//! ([`audit`]).

pub mod audit;
pub mod control;
pub mod decider;
pub mod fence_queue;
pub mod hub_locks;
pub mod hub_sync;
pub mod load;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod probe;
pub mod rest_clients;
pub mod rest_fencer;
pub mod rest_side;
pub mod service_checks;
pub mod service_probe;
pub mod sstp_sessions;
pub mod state_file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::failover::{Input, Published, State};
use decider::{Decider, Fencer, SharedBackend};

/// How often the own interfaces are re-applied (repairs drift; a no-op when there is none).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub topology: PathBuf,
    pub secrets: PathBuf,
    pub state_dir: PathBuf,
    pub control: PathBuf,
    /// DNS listen addresses; empty = the access-plane hub's addresses from the topology.
    pub dns_listen: Vec<SocketAddr>,
    pub dns: bool,
    pub udp_sockets: usize,
    /// How often the layout is re-applied to repair drift (and hubs re-verified):
    /// [`RECONCILE_EVERY`] in service.
    pub reconcile_every: Duration,
}

/// What the caller plugs in: the WireGuard backend, the fencer, the probe factory, and the
/// channel on which `(epoch, layout)` is published (agents' endpoint reads the receiver).
pub struct Plugins {
    pub backend: SharedBackend,
    pub fencer: Box<dyn Fencer>,
    pub probes: monitor::ProbeFactory,
    pub published: watch::Sender<Published>,
    /// Take `fabric apply`'s lock (flock in the wireguard run dir) around every apply, so a
    /// hand-run `fabric apply` never interleaves with the daemon (real backend only).
    pub apply_lock: bool,
    /// RouterOS REST credentials (`<node>.crt`, `<node>.password`): when set, hub pushes and
    /// the SSTP session poll run ([`rest_side`]).
    pub routeros_rest: Option<PathBuf>,
    /// Where `GET /metrics` is served ([`metrics`]), when at all.
    pub metrics: Option<tokio::net::TcpListener>,
    /// The per-hub REST locks the hub push shares with the fencer ([`hub_locks`]).
    pub hub_locks: hub_locks::HubLocks,
}

/// Runs until SIGTERM/SIGINT or `shutdown`.
pub async fn run(
    opts: ServeOptions,
    plugins: Plugins,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let loaded = load::load(&opts.topology, &opts.secrets)?;
    let primary = loaded.policy.primary.to_string();
    std::fs::create_dir_all(&opts.state_dir)
        .with_context(|| format!("creating {}", opts.state_dir.display()))?;
    let now = Instant::now();
    let state = match state_file::read(&opts.state_dir)? {
        Some(p) => {
            loaded
                .layout(&p.layout)
                .with_context(|| format!("the persisted layout of epoch {} is gone", p.epoch))?;
            info!(epoch = p.epoch, layout = %p.layout, "resuming persisted state");
            State::resume(&p, &primary, now)
        }
        None => State::new(&primary),
    };
    let own = crate::plan::node_plan(
        &loaded.topology,
        &loaded.keys,
        &state.layout,
        &loaded.policy.controller,
    )?;
    let (targets_tx, targets_rx) = watch::channel(monitor::targets(
        &loaded.topology,
        own.as_ref(),
        &loaded.policy,
    ));
    let mut decider = Decider {
        loaded,
        state,
        state_dir: opts.state_dir.clone(),
        backend: plugins.backend,
        apply_lock: plugins.apply_lock,
        fencer: plugins.fencer,
        published: plugins.published,
        targets: targets_tx,
        zone: None,
        last_round: None,
        decisions: Vec::new(),
        counters: Default::default(),
        started: now,
    };
    let reports = decider.reconcile().await.context("first reconcile")?;
    let changes = reports.iter().map(|r| r.changes.len()).sum::<usize>();
    info!(
        epoch = decider.state.epoch,
        layout = %decider.state.layout,
        changes,
        "first reconcile done"
    );
    audit::append(
        &opts.state_dir,
        "start",
        serde_json::json!({
            "epoch": decider.state.epoch,
            "layout": decider.state.layout,
            "changes": changes,
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );

    let mut tasks = tokio::task::JoinSet::new();
    if opts.dns {
        let l = decider.loaded.layout(&decider.state.layout)?;
        let t = &decider.loaded.topology;
        let server = crate::plan::dns::server(t, l)
            .context("the topology has no access plane, so no DNS server (use --no-dns)")?;
        let listen = if opts.dns_listen.is_empty() {
            server.listen.clone()
        } else {
            opts.dns_listen.clone()
        };
        let zone = crate::dns::ZoneHandle::new(crate::plan::dns::zone(t, l))
            .context("building the zone")?;
        let (udp, tcp) = crate::dns::bind(&listen, opts.udp_sockets)
            .with_context(|| format!("binding DNS on {listen:?}"))?;
        info!(listen = ?listen, "DNS bound");
        decider.zone = Some(zone.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = crate::dns::serve(udp, tcp, zone, server.config, stop).await {
                error!(error = %format!("{e:#}"), "DNS server stopped");
            }
        });
    }

    let rest = rest_side::RestSide::start(
        plugins.routeros_rest,
        plugins.hub_locks,
        &opts.secrets,
        &decider,
        &mut tasks,
        shutdown.clone(),
    );

    let listener = control::bind(&opts.control)?;
    let (calls_tx, mut calls) = mpsc::channel(8);
    if let Some(listener) = plugins.metrics {
        info!(listen = ?listener.local_addr().ok(), "metrics served");
        tasks.spawn(metrics::serve(listener, calls_tx.clone(), shutdown.clone()));
    }
    tasks.spawn(control::serve(listener, calls_tx, shutdown.clone()));
    let (rounds_tx, mut rounds) = mpsc::channel(2);
    tasks.spawn(monitor::run(
        targets_rx,
        plugins.probes,
        rounds_tx,
        shutdown.clone(),
    ));

    // READY before the watchdog task exists: its first ping must not overtake READY=1.
    match notify::notify("READY=1") {
        Ok(sent) => info!(systemd = sent, "ready"),
        Err(e) => warn!(error = %e, "sd_notify READY failed"),
    }
    let started = Instant::now();
    let alive = Arc::new(AtomicU64::new(0));
    if let Some(every) = notify::watchdog_interval() {
        let (alive, stop) = (alive.clone(), shutdown.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
                let age = started.elapsed().as_millis() as u64 - alive.load(Ordering::Relaxed);
                if age < every.as_millis() as u64 {
                    let _ = notify::notify("WATCHDOG=1");
                } else {
                    warn!(
                        age_ms = age,
                        "decider loop stalled; withholding the watchdog ping"
                    );
                }
            }
        });
    }

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut heartbeat = tokio::time::interval(Duration::from_millis(500));
    let mut reconcile = tokio::time::interval(opts.reconcile_every);
    reconcile.reset();
    loop {
        alive.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                reload(&mut decider, &opts).await;
                rest.reloaded(&decider);
            }
            _ = heartbeat.tick() => {}
            _ = reconcile.tick() => {
                match decider.reconcile().await {
                    Ok(reports) => {
                        let n: usize = reports.iter().map(|r| r.changes.len()).sum();
                        decider.counters.drift_repaired += n as u64;
                    }
                    Err(e) => error!(error = %format!("{e:#}"), "periodic reconcile failed"),
                }
                decider.keep_fenced();
                rest.periodic(&decider);
            }
            Some(obs) = rounds.recv() => {
                let before = decider.state.layout.clone();
                if let Err(e) = decider.handle(Input::Round(obs), Instant::now()).await {
                    error!(error = %format!("{e:#}"), "acting on a health decision failed");
                }
                rest.decided(&decider, &before);
            }
            Some((req, reply)) = calls.recv() => {
                let (before, kind) = (decider.state.layout.clone(), req.clone());
                let mut answer = decider.control(req, Instant::now()).await;
                match kind {
                    control::Request::Status => {
                        answer.text.push_str(&rest.status(&decider, Instant::now()));
                    }
                    control::Request::Metrics => {
                        answer.text.push_str(&rest.metrics(&decider, Instant::now()));
                    }
                    _ => {}
                }
                rest.decided(&decider, &before);
                let _ = reply.send(answer);
            }
        }
    }
    info!("stopping");
    let _ = notify::notify("STOPPING=1");
    shutdown.cancel();
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => { warn!("tasks did not stop within 5 s"); break; }
            r = tasks.join_next() => if r.is_none() { break },
        }
    }
    let _ = std::fs::remove_file(&opts.control);
    Ok(())
}

/// SIGHUP: re-read topology and secrets; on success re-apply the current layout with them
/// and remake the health probes (re-reading the fabric CA and REST credentials).
async fn reload(decider: &mut Decider, opts: &ServeOptions) {
    let loaded = match load::load(&opts.topology, &opts.secrets) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %format!("{e:#}"), "reload failed; keeping the old topology");
            decider.counters.reload_failures += 1;
            return;
        }
    };
    if let Err(e) = loaded.layout(&decider.state.layout) {
        warn!(error = %format!("{e:#}"), "reload refused: the current layout would be gone");
        decider.counters.reload_failures += 1;
        return;
    }
    let old = std::mem::replace(&mut decider.loaded, loaded);
    match decider.reconcile().await {
        Ok(r) => {
            info!(
                changes = r.iter().map(|r| r.changes.len()).sum::<usize>(),
                "topology reloaded"
            );
            // The probes are remade from the (possibly unchanged) targets, which re-reads the
            // fabric CA and the REST credentials: a replaced CA or password needs no restart.
            decider.targets.send_modify(|_| {});
        }
        Err(e) => {
            warn!(error = %format!("{e:#}"), "reload: applying failed; keeping the old topology");
            decider.loaded = old;
            decider.counters.reload_failures += 1;
        }
    }
}

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;

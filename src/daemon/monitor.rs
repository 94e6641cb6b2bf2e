//! The monitor: every `interval` it runs all probes of the current [`Targets`] concurrently,
//! bounded by `probe_timeout`, and sends the round's [`Observation`] to the decider.
//! Which probes apply depends on the layout ([`targets`]): the tunnel probe and the handshake
//! age only while the watched hub is one of the controller's WireGuard peers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::probe::{HandshakeProbe, IcmpProbe, Probe};
use crate::failover::Observation;
use crate::model::{FailoverPolicy, Ifname, PublicKey, Topology};
use crate::plan::Plan;

/// What to probe in the current layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub interval: Duration,
    pub timeout: Duration,
    pub probes: u8,
    /// The watched hub's tunnel address, when it is the controller's peer.
    pub tunnel: Option<Ipv4Addr>,
    /// The watched hub's underlay endpoint.
    pub underlay: Option<Ipv4Addr>,
    /// The controller's interface and the watched hub's key on it.
    pub handshake: Option<(Ifname, PublicKey)>,
}

/// The probe targets for `plan` (the layout the controller is on).
pub fn targets(t: &Topology, plan: &Plan, policy: &FailoverPolicy) -> Targets {
    let me = plan.nodes.get(&policy.controller);
    let peer = me.and_then(|n| {
        n.interfaces.iter().find_map(|i| {
            i.peers
                .iter()
                .find(|p| p.node == policy.watch)
                .map(|p| (i.plane.clone(), p.public_key))
        })
    });
    let watched = t.nodes.get(&policy.watch);
    let tunnel = peer.as_ref().and_then(|(plane, _)| {
        watched
            .and_then(|w| w.memberships.get(plane))
            .map(|m| m.address)
    });
    let underlay = watched.and_then(|w| match w.endpoint {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    });
    Targets {
        interval: policy.interval,
        timeout: policy.probe_timeout,
        probes: policy.probes,
        tunnel,
        underlay,
        handshake: peer,
    }
}

/// The real probes for `t`. A probe that cannot be created is logged and left out.
pub fn real_probes(t: &Targets) -> Vec<Box<dyn Probe>> {
    let mut out: Vec<Box<dyn Probe>> = Vec::new();
    for (name, addr) in [("tunnel", t.tunnel), ("underlay", t.underlay)] {
        let Some(addr) = addr else { continue };
        match IcmpProbe::new(name, addr, t.probes) {
            Ok(p) => out.push(Box::new(p)),
            Err(e) => tracing::error!(probe = name, error = %format!("{e:#}"), "probe unavailable"),
        }
    }
    if let Some((ifname, peer)) = &t.handshake {
        out.push(Box::new(HandshakeProbe::new(ifname.clone(), *peer)));
    }
    out
}

/// Makes the probes for a set of targets (real ones in the daemon, fakes in tests).
pub type ProbeFactory = Box<dyn Fn(&Targets) -> Vec<Box<dyn Probe>> + Send>;

/// Runs rounds until `shutdown`. A round whose observation the decider cannot take at once
/// (busy applying) is dropped: a stale round is worth nothing.
pub async fn run(
    mut targets: watch::Receiver<Targets>,
    make: ProbeFactory,
    rounds: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
) {
    let mut current = targets.borrow_and_update().clone();
    let mut probes = Some(make(&current));
    let mut tick = tokio::time::interval(current.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if targets.has_changed().unwrap_or(false) {
            let next = targets.borrow_and_update().clone();
            if next.interval != current.interval {
                tick = tokio::time::interval(next.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            probes = Some(make(&next));
            current = next;
        }
        let mut set = JoinSet::new();
        for mut p in probes.take().unwrap_or_default() {
            let timeout = current.timeout;
            set.spawn(async move {
                let s = p.probe(timeout).await;
                (p, s)
            });
        }
        let mut obs = Observation::default();
        let mut back = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok((p, s)) = r {
                obs.signals.push((p.name(), s));
                back.push(p);
            }
        }
        obs.signals.sort_by_key(|(n, _)| *n);
        probes = Some(back);
        if rounds.try_send(obs).is_err() && rounds.is_closed() {
            return;
        }
    }
}

//! The monitor: every `interval` it runs all probes of the current [`Targets`] concurrently,
//! bounded by `probe_timeout`, and sends the round's [`Observation`] to the decider.
//! Which probes apply depends on the layout ([`targets`]): the tunnel probe and the handshake
//! age only while the watched hub is one of the controller's WireGuard peers; the `tls` and
//! `rest` service probes ([`super::service_probe`]) whenever the hub has an endpoint and an
//! `sstp`/`rest` section, and [`RealProbes`] has the fabric CA / REST credentials for them.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::probe::{HandshakeProbe, IcmpProbe, Probe};
use super::service_checks::{RestCheck, TlsCheck};
use super::service_probe::{SERVICE_CHECK_TIMEOUT, ServiceProbe};
use crate::failover::Observation;
use crate::model::{FailoverPolicy, Ifname, PublicKey, Topology};
use crate::plan::NodePlan;

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
    /// The watched hub's SSTP port on its endpoint, and the name its certificate must carry.
    pub sstp: Option<(SocketAddr, String)>,
    /// The watched hub's name and its RouterOS REST address.
    pub rest: Option<(String, SocketAddr)>,
}

/// The probe targets for `plan` (the layout the controller is on).
pub fn targets(t: &Topology, me: Option<&NodePlan>, policy: &FailoverPolicy) -> Targets {
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
    let sstp = match (
        underlay,
        t.sstp.as_ref(),
        watched.and_then(|w| w.sstp.as_ref()),
    ) {
        (Some(ip), Some(s), Some(side)) => Some((
            SocketAddr::new(IpAddr::V4(ip), s.port),
            side.hostname.as_str().to_string(),
        )),
        _ => None,
    };
    let rest = match (underlay, watched.and_then(|w| w.rest.as_ref())) {
        (Some(ip), Some(r)) => Some((
            policy.watch.to_string(),
            SocketAddr::new(IpAddr::V4(ip), r.port),
        )),
        _ => None,
    };
    Targets {
        interval: policy.interval,
        timeout: policy.probe_timeout,
        probes: policy.probes,
        tunnel,
        underlay,
        handshake: peer,
        sstp,
        rest,
    }
}

/// The ICMP and handshake probes for `t`. A probe that cannot be created is logged and left
/// out.
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

/// Where the service probes find their trust and credentials (`fabric serve --fabric-ca`,
/// `--routeros-credentials`).
#[derive(Debug, Clone)]
pub struct RealProbes {
    /// The fabric CA certificate (PEM), default `SECRETS/ca/fabric-ca.crt`.
    pub fabric_ca: PathBuf,
    /// `<node>.crt` (pinned REST certificate) and `<node>.password` (user `fabric`).
    pub credentials: PathBuf,
}

impl RealProbes {
    /// The daemon's factory: [`real_probes`] plus the `tls` and `rest` service probes. A
    /// service probe whose CA or credentials are missing is left out with one warning per
    /// distinct reason for the life of the process (never once per round).
    pub fn factory(self) -> ProbeFactory {
        let warned = Mutex::new(BTreeSet::new());
        Box::new(move |t: &Targets| {
            let mut out = real_probes(t);
            let skip = |why: String| {
                if warned.lock().expect("not poisoned").insert(why.clone()) {
                    tracing::warn!("{why}");
                }
            };
            if let Some((addr, hostname)) = &t.sstp {
                match self.tls(*addr, hostname) {
                    Ok(p) => out.push(Box::new(p)),
                    Err(e) => skip(format!("signal tls left out: {e:#}")),
                }
            }
            if let Some((node, addr)) = &t.rest {
                match self.rest(node, *addr) {
                    Ok(p) => out.push(Box::new(p)),
                    Err(e) => skip(format!("signal rest left out: {e:#}")),
                }
            }
            out
        })
    }

    fn tls(&self, addr: SocketAddr, hostname: &str) -> anyhow::Result<ServiceProbe> {
        use anyhow::Context;
        let ca = std::fs::read(&self.fabric_ca).with_context(|| {
            format!(
                "no fabric CA certificate at {} (copy fabric-ca.crt there or pass --fabric-ca)",
                self.fabric_ca.display()
            )
        })?;
        let check = TlsCheck::new(addr, hostname, &ca)
            .with_context(|| format!("fabric CA {}", self.fabric_ca.display()))?;
        Ok(ServiceProbe::new("tls", Arc::new(check)))
    }

    fn rest(&self, node: &str, addr: SocketAddr) -> anyhow::Result<ServiceProbe> {
        let (pem, password) = super::rest_clients::credentials(&self.credentials, node)?;
        let client = crate::routeros_rest::client::RestClient::with_timeouts(
            &format!("https://{addr}"),
            super::rest_clients::REST_USER,
            password,
            &pem,
            SERVICE_CHECK_TIMEOUT,
            SERVICE_CHECK_TIMEOUT,
        )?;
        Ok(ServiceProbe::new("rest", Arc::new(RestCheck { client })))
    }
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
                if let Some(d) = p.detail() {
                    obs.details.push((p.name(), d));
                }
                if let Some(rtt) = p.rtt() {
                    obs.rtts.push((p.name(), rtt));
                }
                back.push(p);
            }
        }
        obs.signals.sort_by_key(|(n, _)| *n);
        obs.details.sort();
        obs.rtts.sort();
        probes = Some(back);
        if rounds.try_send(obs).is_err() && rounds.is_closed() {
            return;
        }
    }
}

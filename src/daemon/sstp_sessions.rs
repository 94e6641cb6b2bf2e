//! Polls each SSTP hub's `/ppp/active` over REST every [`POLL_EVERY`], in its own task (never
//! in the decider's path), and renders which hub each client router uses for
//! `fabric status` ([`crate::routeros_rest::sstp_usage`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::rest_clients::client_for;
use crate::model::Topology;
use crate::routeros_rest::Menu;
use crate::routeros_rest::sstp_usage::{HubSessions, usage};

pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// The latest poll per hub: when, and what it found.
pub type Seen = Arc<Mutex<BTreeMap<String, (Instant, HubSessions)>>>;

/// Polls until `shutdown`; `topology` follows reloads.
pub async fn run(
    topology: watch::Receiver<Topology>,
    credentials: PathBuf,
    seen: Seen,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! { _ = shutdown.cancelled() => return, _ = tick.tick() => {} }
        let t = topology.borrow().clone();
        let Some(sstp) = &t.sstp else { continue };
        let mut polls = tokio::task::JoinSet::new();
        for hub in &sstp.hubs {
            let hub = hub.to_string();
            let client = client_for(&t, &hub, &credentials);
            polls.spawn(async move {
                let found = match client {
                    Err(e) => HubSessions::Unknown(format!("{e:#}")),
                    Ok((c, _)) => match c.list(Menu::PppActive, &[]).await {
                        Ok(records) => HubSessions::from_records(&records),
                        Err(e) => HubSessions::Unknown(e.to_string()),
                    },
                };
                (hub, found)
            });
        }
        while let Some(r) = polls.join_next().await {
            if let Ok((hub, found)) = r {
                if let HubSessions::Unknown(why) = &found {
                    tracing::debug!(hub, why, "SSTP sessions unknown");
                }
                seen.lock()
                    .expect("not poisoned")
                    .insert(hub, (Instant::now(), found));
            }
        }
    }
}

/// `sstp …` lines for `fabric status`: per hub what the last poll saw, per client its hub.
pub fn status(t: &Topology, seen: &Seen, now: Instant) -> String {
    let Some(sstp) = &t.sstp else {
        return String::new();
    };
    let seen = seen.lock().expect("not poisoned");
    let mut out = String::new();
    let mut hubs = BTreeMap::new();
    for hub in &sstp.hubs {
        let hub = hub.to_string();
        match seen.get(&hub) {
            Some((at, s)) => {
                let age = now.saturating_duration_since(*at).as_secs_f64();
                let what = match s {
                    HubSessions::Seen(users) => format!("{} SSTP session(s)", users.len()),
                    HubSessions::Unknown(why) => format!("unreachable ({why})"),
                };
                out.push_str(&format!("sstp hub {hub}: {what}, polled {age:.1} s ago\n"));
                hubs.insert(hub, s.clone());
            }
            None => out.push_str(&format!("sstp hub {hub}: not polled yet\n")),
        }
    }
    for c in usage(sstp, &hubs) {
        out.push_str(&format!("sstp {c}\n"));
    }
    out
}

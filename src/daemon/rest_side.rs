//! The daemon's RouterOS REST background work beyond fencing, behind one handle so the main
//! loop only calls hooks: hub pushes ([`hub_sync`](super::hub_sync)) and the SSTP session
//! poll ([`sstp_sessions`](super::sstp_sessions)). Off (every hook a no-op) without
//! `Plugins::routeros_rest`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::decider::Decider;
use super::hub_locks::HubLocks;
use super::hub_sync::{HubSync, Scope};
use super::sstp_sessions::{self, Seen};
use crate::model::Topology;

pub struct RestSide {
    sync: Option<HubSync>,
    seen: Seen,
    topology: watch::Sender<Topology>,
}

impl RestSide {
    /// Starts the SSTP poll in `tasks` and the startup push, when `credentials` is set.
    /// `secrets` is where pushes read SSTP passwords on demand.
    pub fn start(
        credentials: Option<PathBuf>,
        locks: HubLocks,
        secrets: &Path,
        decider: &Decider,
        tasks: &mut tokio::task::JoinSet<()>,
        shutdown: CancellationToken,
    ) -> RestSide {
        let (topology, rx) = watch::channel(decider.loaded.topology.clone());
        let seen = Seen::default();
        let sync = credentials.map(|dir| {
            tasks.spawn(sstp_sessions::run(rx, dir.clone(), seen.clone(), shutdown));
            let sync = HubSync::new(dir, &decider.state_dir, secrets, locks);
            sync.on_start(decider);
            sync
        });
        RestSide {
            sync,
            seen,
            topology,
        }
    }

    /// After a SIGHUP (successful or not): every hub is verified — read, diffed, and changed
    /// only where it differs — like the periodic reconcile, so `systemctl reload` is also the
    /// way to re-sync the routers at once.
    pub fn reloaded(&self, d: &Decider) {
        self.topology.send_replace(d.loaded.topology.clone());
        if let Some(s) = &self.sync {
            s.schedule(&d.loaded, &d.state.layout, Scope::All, "reload");
        }
    }

    /// On the periodic reconcile: verifies every hub (retries failed pushes, repairs drift).
    pub fn periodic(&self, d: &Decider) {
        if let Some(s) = &self.sync {
            s.schedule(&d.loaded, &d.state.layout, Scope::All, "periodic");
        }
    }

    /// After a health round or a control request; `before` is the layout before it.
    pub fn decided(&self, d: &Decider, before: &str) {
        if let Some(s) = &self.sync {
            s.after_decision(d, before);
        }
    }

    /// Metric families for `fabric serve --metrics` (none without REST credentials).
    pub fn metrics(&self, d: &Decider, now: Instant) -> String {
        let Some(s) = &self.sync else {
            return String::new();
        };
        let mut e = super::metrics::Exposition::default();
        super::metrics::hub_push_metrics(&s.outcomes(), now, &mut e);
        super::metrics::sstp_metrics(&d.loaded.topology, &self.seen, &mut e);
        e.text()
    }

    /// Lines appended to `fabric status`.
    pub fn status(&self, d: &Decider, now: Instant) -> String {
        let Some(s) = &self.sync else {
            return String::new();
        };
        s.status(now) + &sstp_sessions::status(&d.loaded.topology, &self.seen, now)
    }
}

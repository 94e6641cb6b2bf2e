//! The decider: owns the failover [`State`], feeds every input through the pure
//! [`step`](crate::failover::step) and carries out the actions in order — persist the epoch,
//! fence, apply the layout to the controller's own interfaces, publish. It is the only task
//! that changes anything, so decisions never interleave.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::audit;
use super::control::{Request, Response};
use super::load::Loaded;
use super::monitor::{self, Targets};
use super::state_file;
use crate::apply::WgBackend;
use crate::apply::node::{self, InterfaceReport};
use crate::dns::ZoneHandle;
use crate::failover::{Action, Input, Observation, Phase, Published, State, step};

/// Cuts the watched hub off from spokes when it is still reachable (RouterOS REST: disable
/// its fabric-owned peers). The REST client lives elsewhere; [`LogFencer`] only logs.
pub trait Fencer: Send + Sync {
    /// The layout moved from primary to `layout` in `epoch`: fence `node` as that layout
    /// needs (never after the daemon has moved past `epoch`).
    fn fence(&mut self, node: &str, at: Epoch<'_>, loaded: &Loaded) -> anyhow::Result<()>;

    /// The periodic reconcile while `layout` (not primary) stays: re-apply the fence (a hub
    /// unreachable at the failover, or restarted since, is fenced once it answers).
    fn keep_fenced(&mut self, node: &str, at: Epoch<'_>, loaded: &Loaded) -> anyhow::Result<()> {
        let _ = (node, at, loaded);
        Ok(())
    }

    /// `epoch` was decided (persisted): a fence of an earlier one must not write any more.
    fn decided(&mut self, epoch: u64) {
        let _ = epoch;
    }
}

/// The layout a fence is for, and the epoch that decided it.
#[derive(Debug, Clone, Copy)]
pub struct Epoch<'a> {
    pub epoch: u64,
    pub layout: &'a str,
}

/// Logs that a fence was due (no RouterOS client wired in).
pub struct LogFencer;

impl Fencer for LogFencer {
    fn fence(&mut self, node: &str, _: Epoch<'_>, _: &Loaded) -> anyhow::Result<()> {
        tracing::warn!(
            node,
            "fence requested; no RouterOS client configured, skipped"
        );
        Ok(())
    }
}

pub type SharedBackend = Arc<Mutex<Box<dyn WgBackend + Send>>>;

pub struct Decider {
    pub loaded: Loaded,
    pub state: State,
    pub state_dir: PathBuf,
    pub backend: SharedBackend,
    /// Take `fabric apply`'s flock around each apply.
    pub apply_lock: bool,
    pub fencer: Box<dyn Fencer>,
    pub published: watch::Sender<Published>,
    pub targets: watch::Sender<Targets>,
    pub zone: Option<ZoneHandle>,
    pub last_round: Option<(Instant, Observation)>,
    pub decisions: Vec<String>,
    pub counters: Counters,
    /// When the daemon started (decision times in `status` are relative to it).
    pub started: Instant,
}

/// Round statistics since start, for `fabric status`.
#[derive(Debug, Default)]
pub struct Counters {
    pub rounds: u64,
    /// Rounds that counted as a miss under the policy.
    pub bad_rounds: u64,
    /// Bad results per signal.
    pub bad_signals: BTreeMap<&'static str, u64>,
    /// Applies of a layout to the controller's own interfaces, and how many failed.
    pub applies: u64,
    pub apply_failures: u64,
    /// Whether the last apply succeeded (`None` before the first).
    pub last_apply_ok: Option<bool>,
    /// Interface changes made by applies, and those the periodic reconcile made: drift from
    /// outside fabric (a hand-made `wg set`, a restarted wireguard-go) or a failed apply's
    /// retry.
    pub apply_changes: u64,
    pub drift_repaired: u64,
    pub fence_failures: u64,
    /// SIGHUP reloads that were refused or failed (the old topology kept running).
    pub reload_failures: u64,
}

impl Decider {
    /// Applies the current layout to the controller's interfaces and points the monitor at it.
    pub async fn reconcile(&mut self) -> anyhow::Result<Vec<InterfaceReport>> {
        let layout = self.state.layout.clone();
        let reports = self.apply_local(&layout).await?;
        publish(&self.published, self.state.published());
        Ok(reports)
    }

    /// While the layout is not the primary one, re-applies the watched hub's fence (the
    /// periodic reconcile calls this).
    pub fn keep_fenced(&mut self) {
        let p = &self.loaded.policy;
        if self.state.layout == p.primary.as_str() {
            return;
        }
        let watch = p.watch.to_string();
        let at = Epoch {
            epoch: self.state.epoch,
            layout: &self.state.layout,
        };
        if let Err(e) = self.fencer.keep_fenced(&watch, at, &self.loaded) {
            tracing::debug!(node = watch, error = %format!("{e:#}"), "keeping the fence");
        }
    }

    async fn apply_local(&mut self, layout: &str) -> anyhow::Result<Vec<InterfaceReport>> {
        let result = self.apply_layout(layout).await;
        let c = &mut self.counters;
        c.applies += 1;
        c.apply_failures += u64::from(result.is_err());
        c.last_apply_ok = Some(result.is_ok());
        if let Ok(reports) = &result {
            c.apply_changes += reports.iter().map(|r| r.changes.len() as u64).sum::<u64>();
        }
        result
    }

    async fn apply_layout(&mut self, layout: &str) -> anyhow::Result<Vec<InterfaceReport>> {
        let own = self.loaded.own_plan(layout)?;
        let targets = monitor::targets(&self.loaded.topology, Some(&own), &self.loaded.policy);
        let names = node::peer_names(&self.loaded.keys);
        let secrets = self.loaded.secrets.clone();
        let backend = self.backend.clone();
        let start = Instant::now();
        let take_lock = self.apply_lock;
        let reports = tokio::task::spawn_blocking(move || {
            let _flock = take_lock
                .then(|| crate::apply::userspace::lock(crate::apply::userspace::LOCK_TIMEOUT))
                .transpose()?;
            let mut b = backend.lock().expect("backend lock");
            node::apply(b.as_mut(), &own, &secrets, &names)
        })
        .await
        .context("apply task")??;
        let changed: usize = reports.iter().map(|r| r.changes.len()).sum();
        tracing::info!(
            layout,
            changes = changed,
            apply_ms = start.elapsed().as_secs_f64() * 1e3,
            "applied layout to own interfaces"
        );
        publish(&self.targets, targets);
        if let Some(zone) = &self.zone {
            let l = self.loaded.layout(layout)?;
            let z = crate::plan::dns::zone(&self.loaded.topology, l);
            if let Err(e) = zone.replace(z) {
                tracing::warn!(error = %e, "DNS zone for the new layout rejected; keeping the old");
            }
        }
        Ok(reports)
    }

    /// One input through `step`, then its actions. The new state is taken only once the
    /// epoch is persisted; a failure after that leaves the state (and the epoch) in place and
    /// the periodic reconcile retries the apply.
    pub async fn handle(&mut self, input: Input, now: Instant) -> anyhow::Result<Vec<Action>> {
        if let Input::Round(obs) = &input {
            self.last_round = Some((now, obs.clone()));
            let c = &mut self.counters;
            c.rounds += 1;
            if obs.bad() >= self.loaded.policy.signals_needed {
                c.bad_rounds += 1;
            }
            for (name, sig) in &obs.signals {
                if *sig == crate::failover::Signal::Bad {
                    *c.bad_signals.entry(name).or_default() += 1;
                }
            }
        }
        let (next, actions) = step(&self.state, &input, &self.loaded.policy, now);
        for a in &actions {
            match a {
                Action::PersistEpoch { epoch, layout } => {
                    state_file::write(
                        &self.state_dir,
                        &Published {
                            epoch: *epoch,
                            layout: layout.clone(),
                        },
                    )
                    .context("persisting the epoch; not acting on the decision")?;
                    self.fencer.decided(*epoch);
                    let from = std::mem::replace(&mut self.state, next.clone()).layout;
                    tracing::warn!(epoch, layout, ?input, "layout decision persisted");
                    let mut fields = audit::cause(&input);
                    fields["epoch"] = json!(epoch);
                    fields["layout"] = json!(layout);
                    fields["from"] = json!(from);
                    audit::append(&self.state_dir, "decision", fields);
                    self.decisions.push(format!(
                        "epoch {epoch}: {layout} ({}) at {:.3} s",
                        describe(&input),
                        now.saturating_duration_since(self.started).as_secs_f64()
                    ));
                }
                Action::Fence { node } => {
                    let at = Epoch {
                        epoch: self.state.epoch,
                        layout: &self.state.layout,
                    };
                    let result = self.fencer.fence(node, at, &self.loaded);
                    if let Err(e) = &result {
                        tracing::error!(node, error = %format!("{e:#}"), "fence failed");
                        self.counters.fence_failures += 1;
                    }
                    let epoch = self.state.epoch;
                    audit::append(
                        &self.state_dir,
                        "fence",
                        outcome(epoch, ("node", node), &result),
                    );
                }
                Action::ApplyLocal { layout } => {
                    let result = self.apply_local(layout).await;
                    let mut fields = outcome(self.state.epoch, ("layout", layout), &result);
                    if let Ok(reports) = &result {
                        let n: usize = reports.iter().map(|r| r.changes.len()).sum();
                        fields["changes"] = json!(n);
                    }
                    audit::append(&self.state_dir, "apply", fields);
                    result?;
                }
                Action::Publish { epoch, layout } => {
                    publish(
                        &self.published,
                        Published {
                            epoch: *epoch,
                            layout: layout.clone(),
                        },
                    );
                }
                Action::Note { text } => tracing::info!(text, "decision"),
            }
        }
        if !actions
            .iter()
            .any(|a| matches!(a, Action::PersistEpoch { .. }))
        {
            self.state = next;
        }
        Ok(actions)
    }

    /// A control request.
    pub async fn control(&mut self, req: Request, now: Instant) -> Response {
        let (input, dry_run) = match req {
            Request::Status => {
                return Response {
                    ok: true,
                    text: self.status(now),
                };
            }
            Request::Metrics => {
                let mut e = super::metrics::Exposition::default();
                super::metrics::decider_metrics(self, now, &mut e);
                return Response {
                    ok: true,
                    text: e.text(),
                };
            }
            Request::Failover { to, dry_run } => (Input::FailoverTo(to), dry_run),
            Request::Failback { dry_run } => (Input::Failback, dry_run),
        };
        if let Input::FailoverTo(to) = &input
            && let Err(e) = self.loaded.layout(to)
        {
            return Response {
                ok: false,
                text: format!("{e:#}"),
            };
        }
        if dry_run {
            return match self.dry_run(&input, now).await {
                Ok(text) => Response { ok: true, text },
                Err(e) => Response {
                    ok: false,
                    text: format!("{e:#}"),
                },
            };
        }
        match self.handle(input, now).await {
            Ok(actions) => Response {
                ok: true,
                text: lines(&actions)
                    + &format!(
                        "now: epoch {} layout {}\n",
                        self.state.epoch, self.state.layout
                    ),
            },
            Err(e) => Response {
                ok: false,
                text: format!("{e:#}"),
            },
        }
    }

    /// The actions `input` would cause and the changes their apply would make. Changes nothing.
    async fn dry_run(&self, input: &Input, now: Instant) -> anyhow::Result<String> {
        let (_, actions) = step(&self.state, input, &self.loaded.policy, now);
        let mut out = String::from("dry run: nothing is changed\n");
        out.push_str(&lines(&actions));
        for a in &actions {
            let Action::ApplyLocal { layout } = a else {
                continue;
            };
            let own = self.loaded.own_plan(layout)?;
            let names = node::peer_names(&self.loaded.keys);
            let secrets = self.loaded.secrets.clone();
            let backend = self.backend.clone();
            let reports = tokio::task::spawn_blocking(move || {
                let b = backend.lock().expect("backend lock");
                node::plan(b.as_ref(), &own, &secrets, &names)
            })
            .await
            .context("plan task")??;
            for r in reports {
                out.push_str(&format!(
                    "  {} {}: {} change(s)\n",
                    self.loaded.policy.controller,
                    r.ifname,
                    r.changes.len()
                ));
                for c in r.changes {
                    out.push_str(&format!("    {c}\n"));
                }
            }
        }
        Ok(out)
    }

    fn status(&self, now: Instant) -> String {
        let p = &self.loaded.policy;
        let phase = match self.state.phase {
            Phase::Healthy => "healthy".to_string(),
            Phase::Suspect { misses } => format!("suspect ({misses}/{} bad rounds)", p.misses),
            Phase::FailedOver { since, good_since } => format!(
                "failed over {:.1} s ago{}",
                now.saturating_duration_since(since).as_secs_f64(),
                good_since.map_or(String::new(), |g| format!(
                    ", {} healthy for {:.1} s",
                    p.watch,
                    now.saturating_duration_since(g).as_secs_f64()
                ))
            ),
            Phase::Manual { since } => format!(
                "manual for {:.1} s (automatic changes paused until `fabric failback`)",
                now.saturating_duration_since(since).as_secs_f64()
            ),
        };
        let mut out = format!(
            "epoch {}\nlayout {}\nphase {phase}\nwatch {} (target {}, failback {:?})\n",
            self.state.epoch, self.state.layout, p.watch, p.target, p.failback
        );
        if let Some((at, obs)) = &self.last_round {
            let signals: BTreeMap<_, _> = obs.signals.iter().cloned().collect();
            out.push_str(&format!(
                "last round {:.1} s ago: {signals:?}\n",
                now.saturating_duration_since(*at).as_secs_f64()
            ));
            for (name, why) in &obs.details {
                out.push_str(&format!("  {name}: {why}\n"));
            }
            if !obs.rtts.is_empty() {
                let rtts: Vec<String> = obs
                    .rtts
                    .iter()
                    .map(|(name, rtt)| format!("{name} {:.2} ms", rtt.as_secs_f64() * 1e3))
                    .collect();
                out.push_str(&format!("  round trip: {}\n", rtts.join(", ")));
            }
        }
        let c = &self.counters;
        out.push_str(&format!(
            "rounds {} ({} bad); bad signals {:?}\n",
            c.rounds, c.bad_rounds, c.bad_signals
        ));
        for d in &self.decisions {
            out.push_str(&format!("decision {d}\n"));
        }
        out.push_str(&format!(
            "history in {}\n",
            self.state_dir.join(audit::FILE).display()
        ));
        out
    }
}

/// `{"epoch", what: name, "ok", "error"?}` for the decision log.
fn outcome<T>(epoch: u64, (what, name): (&str, &str), result: &anyhow::Result<T>) -> Value {
    let mut v = json!({"epoch": epoch, "ok": result.is_ok()});
    v[what] = json!(name);
    if let Err(e) = result {
        v["error"] = json!(format!("{e:#}"));
    }
    v
}

/// Sends `value` only when it differs (receivers wake up for real changes only: the periodic
/// reconcile re-sends the same epoch and targets every 30 s).
fn publish<T: PartialEq>(tx: &watch::Sender<T>, value: T) {
    tx.send_if_modified(|cur| {
        if *cur == value {
            return false;
        }
        *cur = value;
        true
    });
}

fn describe(input: &Input) -> String {
    match input {
        Input::Round(_) => "health checks".into(),
        Input::FailoverTo(l) => format!("fabric failover --to {l}"),
        Input::Failback => "fabric failback".into(),
    }
}

fn lines(actions: &[Action]) -> String {
    actions.iter().map(|a| format!("{a}\n")).collect()
}

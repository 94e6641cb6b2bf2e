//! Keeps RouterOS hubs' fabric-owned configuration in step with the topology over REST
//! ([`crate::routeros_rest::hub`]), in the background: a push never delays a decision, an
//! apply or a failover (a dead hub's REST times out after seconds; the outcome is logged and
//! shown by `fabric status`).
//!
//! When: at startup and after a layout decision — each time only for hubs whose desired
//! content differs from the last successful push
//! (`<state-dir>/hub-push/<node>.hash`, written atomically) — except that a failback to the
//! primary layout always pushes the watched hub: fencing disabled its peers behind the hash's
//! back, and the push enables them again. On every periodic reconcile (30 s) and after a
//! SIGHUP every target is verified regardless of the hash: a push reads the hub and writes only differences, so this
//! retries failed pushes and repairs drift on the router — a hand-made change to a
//! fabric-owned object, or a fence that landed after the failback's re-enabling push.
//!
//! Which hubs ([`targets`]): every RouterOS node with a `rest:` section, except the watched
//! hub while the layout is not the primary one and leaves it no role (it is fenced; pushing
//! would un-fence it). In `split-role` CHR01 keeps the SSTP role and is pushed the layout's
//! configuration (a wg0 spoke of VPS01), which removes its hub peers.
//!
//! SSTP passwords: the daemon loads only the controller's own private keys at start; the
//! passwords of a hub's client routers are read from the secrets directory
//! (`sstp/<client>.password`) when a push is scheduled and dropped with it. A missing one
//! leaves that client's secret out (never added with an empty password); what the hub was
//! last given is remembered as keyed marks ([`HubMarks`]), so a verify does not resend
//! passwords. Warnings and conflicts are logged when they first appear, not every verify.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::{info, warn};

use super::decider::Decider;
use super::hub_locks::HubLocks;
use super::load::Loaded;
use super::rest_clients::client_for;
use crate::model::Platform;
use crate::routeros_rest::hub::{self, push};
use crate::shell::hub_marks::HubMarks;
use crate::shell::output::write_atomic;
use crate::shell::secrets::SecretsDir;

/// Which targets a push round covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Hubs whose desired content changed since their last successful push.
    Changed,
    /// Those, and this hub regardless.
    ChangedAnd(&'a str),
    /// Every target: read, diff, write only what differs.
    All,
}

impl Scope<'_> {
    fn forces(self, node: &str) -> bool {
        match self {
            Scope::Changed => false,
            Scope::ChangedAnd(n) => n == node,
            Scope::All => true,
        }
    }
}

/// The hubs the daemon keeps in step in `layout` (pure).
pub fn targets(loaded: &Loaded, layout: &str) -> Vec<String> {
    let p = &loaded.policy;
    loaded
        .topology
        .nodes
        .values()
        .filter(|n| n.platform == Platform::RouterosV7 && n.rest.is_some())
        .filter(|n| {
            layout == p.primary.as_str()
                || n.name != p.watch
                || crate::plan::keeps_a_role(&loaded.topology, layout, &n.name)
        })
        .map(|n| n.name.to_string())
        .collect()
}

pub struct HubSync {
    credentials: PathBuf,
    dir: PathBuf,
    secrets: SecretsDir,
    marks: HubMarks,
    /// Per hub, the warnings and conflicts already logged (each is logged once while it lasts).
    reported: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    /// One writer at a time per hub (shared with the fencer).
    locks: HubLocks,
    /// The last outcome per hub, for `fabric status` and metrics.
    outcomes: Arc<Mutex<BTreeMap<String, PushOutcome>>>,
}

/// The last push (or verification) of one hub.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub at: Instant,
    /// In step with the layout: pushed or verified, with no conflict and no warning (a
    /// password or key the push could not set) left.
    pub ok: bool,
    pub text: String,
}

impl HubSync {
    pub fn new(credentials: PathBuf, state_dir: &Path, secrets: &Path, locks: HubLocks) -> Self {
        HubSync {
            credentials,
            dir: state_dir.join("hub-push"),
            secrets: SecretsDir::new(secrets),
            marks: HubMarks::new(state_dir),
            reported: Arc::default(),
            locks,
            outcomes: Arc::default(),
        }
    }

    /// At startup: as [`schedule`](Self::schedule); after an earlier failover (epoch > 0) on
    /// the primary layout the watched hub is pushed regardless (its peers may be fenced).
    pub fn on_start(&self, d: &Decider) {
        let primary = d.state.layout == d.loaded.policy.primary.as_str();
        let watch = d.loaded.policy.watch.to_string();
        let scope = if primary && d.state.epoch > 0 {
            Scope::ChangedAnd(&watch)
        } else {
            Scope::Changed
        };
        self.schedule(&d.loaded, &d.state.layout, scope, "startup");
    }

    /// After a decision: pushes for the new layout when it changed (a failback pushes the
    /// watched hub regardless).
    pub fn after_decision(&self, d: &Decider, before: &str) {
        if d.state.layout == before {
            return;
        }
        let primary = d.state.layout == d.loaded.policy.primary.as_str();
        let watch = d.loaded.policy.watch.to_string();
        let scope = if primary {
            Scope::ChangedAnd(&watch)
        } else {
            Scope::Changed
        };
        self.schedule(&d.loaded, &d.state.layout, scope, "layout change");
    }

    /// Starts a background push to the targets of `layout` that `scope` covers. Returns at
    /// once.
    pub fn schedule(&self, loaded: &Loaded, layout: &str, scope: Scope<'_>, why: &str) {
        let plan = match loaded.plan(layout) {
            Ok(p) => p,
            Err(e) => return warn!(error = %format!("{e:#}"), "hub push: no plan"),
        };
        for node in targets(loaded, layout) {
            let Some(np) = plan.nodes.values().find(|n| n.name.as_str() == node) else {
                continue;
            };
            let mut secrets = loaded.secrets.clone();
            let mut problems = Vec::new();
            if let Some(sstp) = &np.sstp_server {
                let (found, bad) = self
                    .secrets
                    .sstp_passwords(sstp.secrets.iter().map(|c| &c.client));
                secrets.passwords = found;
                problems = bad;
            }
            let mut desired = hub::desired(np, &secrets);
            drop(secrets);
            match self.marks.key() {
                Ok(key) => desired.mark_passwords(&key),
                Err(e) => problems.push(format!(
                    "password marks unavailable ({e:#}): passwords are sent on every verify"
                )),
            }
            let hash = desired.content_hash();
            let forced = scope.forces(&node);
            let file = self.dir.join(format!("{node}.hash"));
            if !forced && last_hash(&file).as_deref() == Some(hash.as_str()) {
                continue;
            }
            let client = match client_for(&loaded.topology, &node, &self.credentials) {
                Ok(c) => c,
                Err(e) => {
                    self.record(&node, format!("not pushed: {e:#}"));
                    continue;
                }
            };
            let lock = self.locks.of(&node);
            let outcomes = self.outcomes.clone();
            let (marks, reported) = (self.marks.clone(), self.reported.clone());
            let (why, layout) = (why.to_string(), layout.to_string());
            tokio::spawn(async move {
                let _one = lock.lock().await;
                if !forced && last_hash(&file).as_deref() == Some(hash.as_str()) {
                    return; // an earlier push got there first
                }
                let (client, url) = client;
                let remembered = marks.load(&node).unwrap_or_else(|e| {
                    problems.push(format!("{e:#} (passwords are sent again)"));
                    BTreeMap::new()
                });
                let start = Instant::now();
                let (ok, text) = match push::push_remembering(&client, &desired, &remembered, false)
                    .await
                {
                    Ok(o) => {
                        let all = problems
                            .iter()
                            .chain(&o.diff.warnings)
                            .chain(&o.diff.conflicts);
                        for w in newly_reported(&reported, &node, all) {
                            warn!(node, url, "hub push: {w}");
                        }
                        if o.diff.marks != remembered
                            && let Err(e) = marks.save(&node, &o.diff.marks)
                        {
                            warn!(node, error = %format!("{e:#}"), "hub push: password marks not saved (passwords are sent again next time)");
                        }
                        for op in &o.diff.ops {
                            info!(node, "hub push: {op}");
                        }
                        let dir = file.parent().unwrap_or(Path::new("."));
                        let saved = std::fs::create_dir_all(dir)
                            .map_err(anyhow::Error::from)
                            .and_then(|_| {
                                write_atomic(&file, format!("{hash}\n").as_bytes(), 0o644)
                            });
                        if let Err(e) = saved {
                            warn!(node, error = %format!("{e:#}"), "hub push: hash not saved (the next push repeats the diff)");
                        }
                        if o.done == 0 {
                            tracing::debug!(node, url, why, "hub verified: in step");
                        } else {
                            info!(
                                node,
                                url,
                                why,
                                layout,
                                operations = o.done,
                                conflicts = o.diff.conflicts.len(),
                                push_ms = start.elapsed().as_secs_f64() * 1e3,
                                "hub pushed"
                            );
                        }
                        let text = format!(
                            "pushed {} operation(s), {} conflict(s), {} warning(s) for layout {layout} ({why})",
                            o.done,
                            o.diff.conflicts.len(),
                            o.diff.warnings.len()
                        );
                        (
                            o.diff.conflicts.is_empty() && o.diff.warnings.is_empty(),
                            text,
                        )
                    }
                    Err(e) => {
                        warn!(node, url, why, error = %e, "hub push failed (retried on the next reconcile)");
                        (
                            false,
                            format!("push failed for layout {layout} ({why}): {e}"),
                        )
                    }
                };
                let outcome = PushOutcome {
                    at: Instant::now(),
                    ok,
                    text,
                };
                outcomes.lock().expect("not poisoned").insert(node, outcome);
            });
        }
    }

    /// Records an outcome; logs it when it is new (a missing credential is not repeated
    /// every reconcile).
    fn record(&self, node: &str, text: String) {
        let mut outcomes = self.outcomes.lock().expect("not poisoned");
        if outcomes.get(node).is_none_or(|old| old.text != text) {
            warn!(node, "hub push: {text}");
        }
        let outcome = PushOutcome {
            at: Instant::now(),
            ok: false,
            text,
        };
        outcomes.insert(node.to_string(), outcome);
    }

    /// The last outcome per hub.
    pub fn outcomes(&self) -> BTreeMap<String, PushOutcome> {
        self.outcomes.lock().expect("not poisoned").clone()
    }

    /// `hub push <node>: <outcome> (<age> ago)` lines for `fabric status`.
    pub fn status(&self, now: Instant) -> String {
        self.outcomes
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(node, o)| {
                format!(
                    "hub push {node}: {}, {:.1} s ago\n",
                    o.text,
                    now.saturating_duration_since(o.at).as_secs_f64()
                )
            })
            .collect()
    }
}

/// The messages of this round for `node` that were not in its previous round (the rest were
/// logged already); the round's set replaces the previous one, so a message that went away
/// and comes back is logged again.
fn newly_reported<'a>(
    reported: &Mutex<BTreeMap<String, BTreeSet<String>>>,
    node: &str,
    round: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let now: BTreeSet<String> = round.cloned().collect();
    let before = reported
        .lock()
        .expect("not poisoned")
        .insert(node.to_string(), now.clone())
        .unwrap_or_default();
    now.difference(&before).cloned().collect()
}

fn last_hash(file: &Path) -> Option<String> {
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_hub_is_pushed_only_where_it_keeps_a_role() {
        let loaded = Loaded::shipped();
        for (layout, want) in [
            ("primary", vec!["chr01", "chr02"]),
            ("chr02", vec!["chr02"]),
            // CHR01 keeps the SSTP role: it gets split-role's configuration, not a fence.
            ("split-role", vec!["chr01", "chr02"]),
        ] {
            assert_eq!(targets(&loaded, layout), want, "layout {layout}");
        }
    }

    #[test]
    fn a_warning_is_logged_when_it_appears_not_on_every_verify() {
        let reported = Mutex::default();
        let round = |node: &str, msgs: &[&str]| {
            let msgs: Vec<String> = msgs.iter().map(|m| m.to_string()).collect();
            newly_reported(&reported, node, msgs.iter())
        };
        assert_eq!(round("chr02", &["no password: c"]), ["no password: c"]);
        assert!(
            round("chr02", &["no password: c"]).is_empty(),
            "a verify later"
        );
        assert_eq!(
            round("chr01", &["no password: c"]),
            ["no password: c"],
            "per hub"
        );
        assert_eq!(
            round("chr02", &["no password: c", "conflict: x"]),
            ["conflict: x"]
        );
        assert!(round("chr02", &[]).is_empty(), "fixed");
        assert_eq!(
            round("chr02", &["no password: c"]),
            ["no password: c"],
            "back again"
        );
    }

    #[test]
    fn scopes_say_which_hubs_skip_the_hash_check() {
        assert!(!Scope::Changed.forces("chr01"));
        assert!(Scope::ChangedAnd("chr01").forces("chr01"));
        assert!(!Scope::ChangedAnd("chr01").forces("chr02"));
        assert!(Scope::All.forces("chr02"));
    }
}

//! `fabric agent`: runs on a Linux spoke (Z640, NUC…) that cannot be reached through a dead
//! hub. It long-polls the controller's agent API ([`crate::control::agent_api`]) over HTTPS
//! with the controller's certificate pinned and the node's token, and applies each newer
//! layout with the same code as `fabric apply`, then forces a fresh WireGuard handshake
//! towards the new hub so traffic moves at once.
//!
//! Rules:
//! * an epoch ≤ the one last applied is never applied (the server does not send one; the
//!   agent checks anyway);
//! * the last applied `(epoch, layout)` is persisted atomically in the state directory after
//!   the apply succeeded, and re-applied when the agent starts (converges after a reboot);
//! * with the controller unreachable (or an apply failing) the interfaces keep the last good
//!   configuration and the agent retries with bounded exponential backoff (0.25 s … 10 s).
//!
//! - [`client`]: the HTTPS long-poll client.
//! - [`state`]: the persisted epoch.
//! - [`node_applier`]: the real [`Applier`] (topology → plan → apply → handshake kick).

pub mod client;
pub mod node_applier;
pub mod state;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use client::ControllerClient;
pub use node_applier::NodeApplier;

use crate::control::Published;

/// Applies a layout to this node. Called on a blocking thread.
pub trait Applier: Send + 'static {
    /// Applies `layout`; returns human-readable lines describing what changed.
    fn apply(&mut self, layout: &str) -> anyhow::Result<Vec<String>>;
}

/// Whether an offered decision is newer than the applied one.
pub fn should_apply(applied: Option<&Published>, offered: &Published) -> bool {
    applied.is_none_or(|a| offered.epoch > a.epoch)
}

/// Bounded exponential backoff.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay to wait now; doubles the next one up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Everything the agent loop needs besides the applier.
pub struct AgentLoop {
    pub client: ControllerClient,
    pub state_dir: PathBuf,
    pub backoff: Backoff,
}

async fn apply_blocking<A: Applier>(
    applier: A,
    layout: String,
) -> (A, anyhow::Result<Vec<String>>) {
    let joined = tokio::task::spawn_blocking(move || {
        let mut applier = applier;
        let r = applier.apply(&layout);
        (applier, r)
    })
    .await;
    match joined {
        Ok(x) => x,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl AgentLoop {
    /// Runs until `shutdown`. Returns an error only when the state directory is unusable.
    pub async fn run<A: Applier>(
        self,
        applier: A,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let AgentLoop {
            client,
            state_dir,
            mut backoff,
        } = self;
        let mut applied = state::read(&state_dir)?;
        let mut applier = applier;
        if let Some(p) = &applied {
            tracing::info!(epoch = p.epoch, layout = %p.layout, "re-applying the last applied layout");
            let (a, r) = apply_blocking(applier, p.layout.clone()).await;
            applier = a;
            if let Err(e) = r {
                tracing::error!(cause = %format!("{e:#}"), "re-apply failed; interfaces keep what they have");
            }
        }
        loop {
            let after = applied.as_ref().map_or(0, |p| p.epoch);
            let polled = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = client.poll(after) => r,
            };
            let retry = match polled {
                Ok(None) => {
                    backoff.reset();
                    continue;
                }
                Ok(Some(p)) if !should_apply(applied.as_ref(), &p) => {
                    tracing::warn!(epoch = p.epoch, layout = %p.layout, applied = after, "ignoring a decision that is not newer than the applied one");
                    true
                }
                Ok(Some(p)) => {
                    let start = Instant::now();
                    let (a, r) = apply_blocking(applier, p.layout.clone()).await;
                    applier = a;
                    match r.and_then(|lines| state::write(&state_dir, &p).map(|_| lines)) {
                        Ok(lines) => {
                            tracing::info!(
                                epoch = p.epoch,
                                layout = %p.layout,
                                apply_ms = start.elapsed().as_secs_f64() * 1e3,
                                changes = %lines.join("; "),
                                "applied"
                            );
                            applied = Some(p);
                            backoff.reset();
                            false
                        }
                        Err(e) => {
                            tracing::error!(epoch = p.epoch, layout = %p.layout, cause = %format!("{e:#}"), "apply failed; will retry");
                            true
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(cause = %format!("{e:#}"), "controller unreachable; keeping the current configuration");
                    true
                }
            };
            if retry {
                let d = backoff.next_delay();
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(d) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_epochs_are_applied() {
        let p = |epoch| Published {
            epoch,
            layout: "chr02".into(),
        };
        assert!(should_apply(None, &p(1)));
        assert!(should_apply(Some(&p(1)), &p(2)));
        assert!(!should_apply(Some(&p(2)), &p(2)));
        assert!(!should_apply(Some(&p(3)), &p(2)));
    }

    #[test]
    fn backoff_doubles_up_to_its_bound_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let seen: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seen, [250, 500, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 250);
    }
}

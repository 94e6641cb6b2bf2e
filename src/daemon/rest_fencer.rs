//! Fencing over the RouterOS REST API: when the layout moves away from the watched hub and
//! leaves it no role, disables its fabric-owned WireGuard peers so no spoke stays split
//! between two hubs, and — when client routers would still prefer it (it comes before the
//! layout's SSTP hub in `sstp.hubs`) — disables its fabric-owned PPP secrets and ends those
//! sessions, so the clients' tunnels to it drop and their routes move to the SSTP hub. A hub
//! that keeps a role (CHR01 as SSTP hub in `split-role`) is not fenced: the hub push gives it
//! the layout's configuration, which removes its hub peers.
//!
//! Runs in the background — a dead hub's REST times out after seconds, and the failover must
//! not wait for it; the outcome is logged. One fence at a time; the newest one asked for
//! meanwhile runs when it ends ([`fence_queue`](super::fence_queue)). It writes under the
//! hub's lock, shared with the hub push, and only while no later epoch has been decided
//! ([`hub_locks`](super::hub_locks)): a fence still on its way when the layout moves back
//! never lands after the failback push. The periodic reconcile re-applies the fence while
//! the layout stays ([`Fencer::keep_fenced`]): a hub that was unreachable at the failover, or
//! restarted since with its old configuration, is fenced once it answers.
//!
//! Credentials per hub, in `--routeros-credentials DIR` (default `SECRETS/routeros`):
//! `<node>.crt` (the certificate to pin) and `<node>.password` (user `fabric`, 0600). The URL is
//! `https://<endpoint>:<rest.port>` from the topology.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

use super::decider::{Epoch, Fencer};
use super::fence_queue::{FenceJob, FenceQueue};
use super::hub_locks::{HubLocks, while_epoch};
use super::load::Loaded;
pub use super::rest_clients::REST_USER;
use super::rest_clients::client_for;
use crate::model::NodeName;
use crate::plan::{keeps_a_role, sstp_serving};

pub struct RestFencer {
    pub credentials: PathBuf,
    /// One fence at a time (a dead hub's REST takes seconds to time out); the newest one
    /// asked for meanwhile runs when it ends.
    queue: Arc<FenceQueue<FenceRun>>,
    /// Shared with the hub push: one writer per hub.
    locks: HubLocks,
    /// The latest epoch the daemon decided: a fence of an older one writes nothing.
    decided: Arc<AtomicU64>,
}

impl RestFencer {
    pub fn new(credentials: PathBuf, locks: HubLocks) -> RestFencer {
        RestFencer {
            credentials,
            queue: Arc::default(),
            locks,
            decided: Arc::default(),
        }
    }

    /// What fencing `node` means in `layout`: `None` when it keeps a role there; otherwise
    /// whether its SSTP clients must be refused too.
    fn what(node: &str, layout: &str, loaded: &Loaded) -> anyhow::Result<Option<bool>> {
        let t = &loaded.topology;
        let name: NodeName = node.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        if keeps_a_role(t, layout, &name) {
            return Ok(None);
        }
        let refuse_ppp = t.sstp.as_ref().is_some_and(|s| {
            t.layouts
                .iter()
                .find(|(n, _)| n.as_str() == layout)
                .is_some_and(|(_, l)| !sstp_serving(s, l, &name))
        });
        Ok(Some(refuse_ppp))
    }

    fn start(
        &self,
        node: &str,
        epoch: u64,
        loaded: &Loaded,
        refuse_ppp: bool,
        again: bool,
    ) -> anyhow::Result<()> {
        let (client, url) = client_for(&loaded.topology, node, &self.credentials)
            .with_context(|| format!("fence: {node}"))?;
        let job = FenceRun {
            node: node.to_string(),
            lock: self.locks.of(node),
            epoch,
            refuse_ppp,
            again,
            client,
            url,
        };
        let Some(job) = self.queue.offer(job) else {
            return Ok(()); // runs when the running fence ends
        };
        let (queue, decided) = (self.queue.clone(), self.decided.clone());
        let worker = {
            let queue = queue.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let mut next = Some(job);
                while let Some(job) = next {
                    let node = job.node.clone();
                    match &runtime {
                        // A panic ends this fence only: the queue goes on (or stops running).
                        Ok(runtime) => {
                            let run = std::panic::AssertUnwindSafe(|| job.run(runtime, &decided));
                            if std::panic::catch_unwind(run).is_err() {
                                tracing::error!(node, "fence: panicked");
                            }
                        }
                        Err(e) => tracing::error!(node, error = %e, "fence: no runtime"),
                    }
                    next = queue.finished();
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("fence".into())
            .spawn(worker)
        {
            // Nothing runs: the next fence or keep-fenced round starts afresh.
            while queue.finished().is_some() {}
            return Err(e).context(format!("fence: {node}: no thread"));
        }
        Ok(())
    }
}

/// One fence: what to write to which hub, for which epoch.
struct FenceRun {
    node: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    epoch: u64,
    refuse_ppp: bool,
    /// A keep-fenced repeat: an unchanged hub is not logged.
    again: bool,
    client: crate::routeros_rest::RestClient,
    url: String,
}

impl FenceJob for FenceRun {
    fn epoch(&self) -> u64 {
        self.epoch
    }
    fn again(&self) -> bool {
        self.again
    }
    fn first(&mut self) {
        self.again = false;
    }
}

impl FenceRun {
    /// Writes the fence under the hub's lock unless a later epoch was decided; logs the outcome.
    fn run(self, runtime: &tokio::runtime::Runtime, decided: &AtomicU64) {
        let FenceRun {
            node,
            lock,
            epoch,
            refuse_ppp,
            again,
            client,
            url,
        } = self;
        let fence = async {
            let peers = client
                .disable_fabric_peers()
                .await
                .map_err(|e| format!("disabling WireGuard peers: {e}"))?;
            let ppp = if refuse_ppp {
                client
                    .refuse_fabric_ppp()
                    .await
                    .map_err(|e| format!("refusing SSTP clients: {e}"))?
            } else {
                Default::default()
            };
            Ok::<_, String>((peers, ppp))
        };
        match runtime.block_on(while_epoch(&lock, decided, epoch, fence)) {
            None => {
                tracing::info!(node, epoch, "fence not written: the layout moved on");
            }
            Some(Ok((peers, (secrets, sessions)))) => {
                let changed = !(peers.is_empty() && secrets.is_empty() && sessions.is_empty());
                if !again || changed {
                    tracing::warn!(
                        node,
                        url,
                        disabled = peers.len(),
                        ppp_secrets_disabled = secrets.len(),
                        sstp_sessions_ended = sessions.len(),
                        again,
                        "fenced: fabric-owned peers disabled"
                    );
                }
            }
            Some(Err(e)) if again => {
                tracing::debug!(node, url, error = %e, "keeping the fence: hub not reachable");
            }
            Some(Err(e)) => {
                tracing::warn!(node, url, error = %e, "fence not possible (hub unreachable?); spokes follow the new epoch anyway, the fence is retried with every reconcile");
            }
        }
    }
}

impl Fencer for RestFencer {
    fn fence(&mut self, node: &str, at: Epoch<'_>, loaded: &Loaded) -> anyhow::Result<()> {
        let layout = at.layout;
        match Self::what(node, layout, loaded)? {
            None => {
                tracing::warn!(
                    node,
                    layout,
                    "not fenced: it keeps a role in this layout; the hub push gives it the layout's configuration (its hub peers go)"
                );
                Ok(())
            }
            Some(refuse_ppp) => self.start(node, at.epoch, loaded, refuse_ppp, false),
        }
    }

    fn keep_fenced(&mut self, node: &str, at: Epoch<'_>, loaded: &Loaded) -> anyhow::Result<()> {
        match Self::what(node, at.layout, loaded)? {
            None => Ok(()),
            Some(refuse_ppp) => self.start(node, at.epoch, loaded, refuse_ppp, true),
        }
    }

    fn decided(&mut self, epoch: u64) {
        self.decided.fetch_max(epoch, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_depends_on_the_role_the_layout_leaves_the_hub() {
        let loaded = Loaded::shipped();
        // chr02 layout: chr01 has no role and clients prefer it → peers and SSTP clients.
        assert_eq!(
            RestFencer::what("chr01", "chr02", &loaded).unwrap(),
            Some(true)
        );
        // split-role: chr01 stays the SSTP hub → not fenced (pushed instead).
        assert_eq!(
            RestFencer::what("chr01", "split-role", &loaded).unwrap(),
            None
        );
        // chr02 in chr01's layouts: no role in primary, but clients prefer chr01 there.
        assert_eq!(
            RestFencer::what("chr02", "primary", &loaded).unwrap(),
            Some(false)
        );
    }
}

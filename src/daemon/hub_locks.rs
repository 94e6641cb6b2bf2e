//! One REST writer per RouterOS hub at a time, shared by the fencer and the hub push, and the
//! rule that keeps a late fence from undoing a failback: a fence writes only while the
//! daemon is still in the epoch it was started for, checked under the hub's lock. So a fence
//! in flight when the layout moves back either sees the new epoch and writes nothing, or
//! finishes before the failback push reads the hub — which then re-enables what it disabled.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::failover::Published;

/// Per-hub locks (cheap to clone; clones share the locks).
#[derive(Clone, Default)]
pub struct HubLocks(Arc<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl HubLocks {
    /// The lock of `node`'s REST writes.
    pub fn of(&self, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .expect("not poisoned")
            .entry(node.to_string())
            .or_default()
            .clone()
    }
}

/// Runs `write` under `lock` unless the daemon has published an epoch after `epoch` by the
/// time the lock is held (`None`: the layout moved on, nothing was written).
pub async fn while_epoch<T>(
    lock: &tokio::sync::Mutex<()>,
    published: &watch::Receiver<Published>,
    epoch: u64,
    write: impl Future<Output = T>,
) -> Option<T> {
    let _one = lock.lock().await;
    if published.borrow().epoch > epoch {
        return None;
    }
    Some(write.await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn at(epoch: u64) -> Published {
        Published {
            epoch,
            layout: "chr02".into(),
        }
    }

    #[tokio::test]
    async fn a_fence_waiting_for_the_hub_writes_nothing_once_the_daemon_moved_on() {
        let locks = HubLocks::default();
        let (tx, rx) = watch::channel(at(1));
        let wrote = Arc::new(AtomicBool::new(false));
        // A push holds chr01's lock while the fence of epoch 1 comes in.
        let held = locks.of("chr01").lock_owned().await;
        let fence = {
            let (lock, wrote) = (locks.of("chr01"), wrote.clone());
            tokio::spawn(async move {
                while_epoch(
                    &lock,
                    &rx,
                    1,
                    async move { wrote.store(true, Ordering::SeqCst) },
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        assert!(!wrote.load(Ordering::SeqCst), "the lock is held");
        tx.send_replace(at(2)); // failback
        drop(held);
        assert_eq!(fence.await.unwrap(), None);
        assert!(!wrote.load(Ordering::SeqCst), "a fence after failback");
    }

    #[tokio::test]
    async fn a_fence_of_the_current_epoch_writes_and_other_hubs_do_not_wait() {
        let locks = HubLocks::default();
        let (_tx, rx) = watch::channel(at(3));
        let _chr02 = locks.of("chr02").lock_owned().await;
        let out = while_epoch(&locks.of("chr01"), &rx, 3, async { 7 }).await;
        assert_eq!(out, Some(7));
        // Decided (epoch 4 persisted) but not yet published: still its epoch.
        let out = while_epoch(&locks.of("chr01"), &rx, 4, async { 8 }).await;
        assert_eq!(out, Some(8));
    }
}

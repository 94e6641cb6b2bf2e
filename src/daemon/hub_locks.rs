//! One REST writer per RouterOS hub at a time, shared by the fencer and the hub push, and the
//! rule that keeps a late fence from undoing a failback: a fence writes only while no later
//! epoch has been decided (persisted — whether or not its apply then succeeded), checked under
//! the hub's lock. So a fence in flight when the layout moves back either sees the new epoch
//! and writes nothing, or finishes before the failback push reads the hub — which then
//! re-enables what it disabled.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// Runs `write` under `lock` unless an epoch after `epoch` has been decided by the time the
/// lock is held (`None`: the layout moved on, nothing was written).
pub async fn while_epoch<T>(
    lock: &tokio::sync::Mutex<()>,
    decided: &AtomicU64,
    epoch: u64,
    write: impl Future<Output = T>,
) -> Option<T> {
    let _one = lock.lock().await;
    if decided.load(Ordering::Acquire) > epoch {
        return None;
    }
    Some(write.await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[tokio::test]
    async fn a_fence_waiting_for_the_hub_writes_nothing_once_the_daemon_moved_on() {
        let locks = HubLocks::default();
        let decided = Arc::new(AtomicU64::new(1));
        let wrote = Arc::new(AtomicBool::new(false));
        // A push holds chr01's lock while the fence of epoch 1 comes in.
        let held = locks.of("chr01").lock_owned().await;
        let fence = {
            let (lock, wrote, decided) = (locks.of("chr01"), wrote.clone(), decided.clone());
            tokio::spawn(async move {
                let write = async move { wrote.store(true, Ordering::SeqCst) };
                while_epoch(&lock, &decided, 1, write).await
            })
        };
        tokio::task::yield_now().await;
        assert!(!wrote.load(Ordering::SeqCst), "the lock is held");
        decided.store(2, Ordering::Release); // failback persisted (its apply may still fail)
        drop(held);
        assert_eq!(fence.await.unwrap(), None);
        assert!(!wrote.load(Ordering::SeqCst), "a fence after failback");
    }

    #[tokio::test]
    async fn a_fence_of_the_current_epoch_writes_and_other_hubs_do_not_wait() {
        let locks = HubLocks::default();
        let decided = AtomicU64::new(3);
        let _chr02 = locks.of("chr02").lock_owned().await;
        let out = while_epoch(&locks.of("chr01"), &decided, 3, async { 7 }).await;
        assert_eq!(out, Some(7));
    }
}

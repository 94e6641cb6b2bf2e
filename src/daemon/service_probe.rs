//! The slower service signals (`tls`: a TLS handshake on the watched hub's SSTP port, `rest`:
//! RouterOS REST `/rest/system/resource`) as [`Probe`]s that never hold up a round: a
//! [`ServiceProbe`] starts its [`Check`] in the background at most every [`SERVICE_CHECK_EVERY`]
//! (bounded by [`SERVICE_CHECK_TIMEOUT`]) and each round reports the verdict of the checks
//! finished so far — [`Signal::Unknown`] until the first one finishes.
//!
//! A check's [`Outcome`] becomes a signal in [`Tally::next`] (pure):
//! * `Up` → Good.
//! * `Refused` (the hub answered *no*: connection refused or reset, HTTP error, nonsense
//!   body) → Bad once [`REFUSED_TO_BAD`] checks in a row said so (one refusal, e.g. a service
//!   restart, is Unknown).
//! * `Silent` (timeout, unreachable) → Unknown: reachability is what the ICMP signals measure,
//!   faster and loss-tolerant (6 echoes per round). A TCP/TLS exchange needs ~6 packets to all
//!   arrive, so under 30 % loss most checks time out; counting that would fail over (see
//!   src/validate/failover.rs, "Why the defaults").
//! * `Misconfigured` (certificate not from the fabric CA, expired, wrong name; a TLS alert or
//!   no common TLS version/cipher; REST 401/403)
//!   → Unknown, logged as an error once per change: it is a configuration problem on one side,
//!   and failing over would not fix it (CHR02's certificate comes from the same CA).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::probe::Probe;
use crate::failover::Signal;

/// How often a service check starts (a TLS handshake every 100 ms round would be a real load
/// on a small router for no gain: the ICMP signals already detect a dead hub in 0.6 s).
pub const SERVICE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Deadline of one check: a TLS 1.2 handshake is 3 round trips plus the server's signature;
/// 500 ms fits a 150 ms RTT. The round itself never waits for it.
pub const SERVICE_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// Consecutive refusals before a service signal is Bad.
pub const REFUSED_TO_BAD: u32 = 2;

/// What one service check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Up,
    Refused(String),
    Silent(String),
    Misconfigured(String),
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Refused(_) => "refused",
            Outcome::Silent(_) => "silent",
            Outcome::Misconfigured(_) => "misconfigured",
        }
    }
}

/// One service check (the real ones: `service_checks`; tests: [`FakeCheck`]).
#[async_trait::async_trait]
pub trait Check: Send + Sync + 'static {
    async fn check(&self) -> Outcome;
}

/// The running verdict of a service signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub signal: Signal,
    pub refused_in_a_row: u32,
    pub last: Option<Outcome>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            signal: Signal::Unknown,
            refused_in_a_row: 0,
            last: None,
        }
    }
}

impl Tally {
    /// The verdict after one more check (see the module docs).
    pub fn next(&self, o: Outcome) -> Tally {
        let refused_in_a_row = match o {
            Outcome::Refused(_) => self.refused_in_a_row + 1,
            Outcome::Up => 0,
            Outcome::Silent(_) | Outcome::Misconfigured(_) => self.refused_in_a_row,
        };
        let signal = match o {
            Outcome::Up => Signal::Good,
            Outcome::Refused(_) if refused_in_a_row >= REFUSED_TO_BAD => Signal::Bad,
            _ => Signal::Unknown,
        };
        Tally {
            signal,
            refused_in_a_row,
            last: Some(o),
        }
    }

    /// For `fabric status`: why the signal is not Good.
    pub fn detail(&self) -> Option<String> {
        match &self.last {
            None => Some("no check finished yet".into()),
            Some(Outcome::Up) => None,
            Some(Outcome::Refused(why)) => Some(format!("refused: {why}")),
            Some(Outcome::Silent(why)) => Some(format!("no answer: {why}")),
            Some(Outcome::Misconfigured(why)) => {
                Some(format!("configuration problem (not counted): {why}"))
            }
        }
    }
}

/// A [`Check`] run in the background on its own cadence, as a [`Probe`].
pub struct ServiceProbe {
    name: &'static str,
    check: Arc<dyn Check>,
    every: Duration,
    timeout: Duration,
    tally: Arc<Mutex<Tally>>,
    running: Option<JoinHandle<()>>,
    started: Option<Instant>,
}

impl ServiceProbe {
    pub fn new(name: &'static str, check: Arc<dyn Check>) -> ServiceProbe {
        ServiceProbe::with_cadence(name, check, SERVICE_CHECK_EVERY, SERVICE_CHECK_TIMEOUT)
    }

    pub fn with_cadence(
        name: &'static str,
        check: Arc<dyn Check>,
        every: Duration,
        timeout: Duration,
    ) -> ServiceProbe {
        ServiceProbe {
            name,
            check,
            every,
            timeout,
            tally: Arc::default(),
            running: None,
            started: None,
        }
    }

    fn tally(&self) -> Tally {
        self.tally.lock().expect("not poisoned").clone()
    }

    /// Starts a check unless one is running or the last one started less than `every` ago.
    fn maybe_start(&mut self) {
        let now = Instant::now();
        if self.running.as_ref().is_some_and(|h| !h.is_finished())
            || self
                .started
                .is_some_and(|s| now.duration_since(s) < self.every)
        {
            return;
        }
        self.started = Some(now);
        let (check, tally, timeout, name) = (
            self.check.clone(),
            self.tally.clone(),
            self.timeout,
            self.name,
        );
        self.running = Some(tokio::spawn(async move {
            let o = tokio::time::timeout(timeout, check.check())
                .await
                .unwrap_or_else(|_| Outcome::Silent(format!("no answer within {timeout:?}")));
            let mut t = tally.lock().expect("not poisoned");
            log_change(name, t.last.as_ref(), &o);
            *t = t.next(o);
        }));
    }
}

/// Logs a service signal's outcome when its kind changes (never once per check).
fn log_change(name: &str, before: Option<&Outcome>, now: &Outcome) {
    if before.map(Outcome::kind) == Some(now.kind()) {
        return;
    }
    match now {
        Outcome::Up => tracing::info!(signal = name, "service check: up"),
        Outcome::Refused(why) => tracing::warn!(signal = name, why, "service check: refused"),
        Outcome::Silent(why) => tracing::info!(signal = name, why, "service check: no answer"),
        Outcome::Misconfigured(why) => tracing::error!(
            signal = name,
            why,
            "service check: CONFIGURATION PROBLEM (certificate/credentials), not counted as the hub being down"
        ),
    }
}

impl Drop for ServiceProbe {
    fn drop(&mut self) {
        if let Some(h) = &self.running {
            h.abort();
        }
    }
}

#[async_trait::async_trait]
impl Probe for ServiceProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Never waits for the check: starts one when due, returns the verdict so far.
    async fn probe(&mut self, _timeout: Duration) -> Signal {
        self.maybe_start();
        self.tally().signal
    }

    fn detail(&self) -> Option<String> {
        self.tally().detail()
    }
}

/// A check that answers from a shared, changeable outcome (tests).
#[derive(Clone)]
pub struct FakeCheck {
    pub outcome: Arc<Mutex<Outcome>>,
    /// How long each check takes.
    pub delay: Duration,
    /// Checks started so far.
    pub started: Arc<std::sync::atomic::AtomicU32>,
}

impl FakeCheck {
    pub fn new(outcome: Outcome, delay: Duration) -> FakeCheck {
        FakeCheck {
            outcome: Arc::new(Mutex::new(outcome)),
            delay,
            started: Arc::default(),
        }
    }

    pub fn started(&self) -> u32 {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set(&self, o: Outcome) {
        *self.outcome.lock().expect("not poisoned") = o;
    }
}

#[async_trait::async_trait]
impl Check for FakeCheck {
    async fn check(&self) -> Outcome {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.outcome.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[path = "service_probe_tests.rs"]
mod tests;

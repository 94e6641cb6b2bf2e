//! The failover decision core: a pure state machine. [`step`] takes the current [`State`], one
//! [`Input`] (a probe round's [`Observation`] or an operator command), the policy and `now`,
//! and returns the next state plus the [`Action`]s the executor carries out, in order.
//!
//! Every decision that changes the layout bumps the **epoch** and starts with
//! [`Action::PersistEpoch`]: the executor writes `(epoch, layout)` durably before it touches
//! anything, so a controller killed half-way resumes the same epoch ([`State::resume`]) and
//! converges by re-applying it; agents ignore anything older than the epoch they hold.
//! No I/O, no clock: time is an input.

mod step;

pub use step::step;

use std::fmt;
use std::time::Instant;

/// What the controller publishes to agents: the layout every node must apply, and the epoch
/// of the decision that chose it. Agents never apply an epoch older than the one they hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub epoch: u64,
    pub layout: String,
}

/// The result of one health signal in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Good,
    Bad,
    /// The signal does not apply in the current layout (or has no data yet): never counts.
    Unknown,
}

/// One probe round: each signal's result, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    pub signals: Vec<(&'static str, Signal)>,
    /// Why some signals are not Good, for `fabric status` only (decisions ignore it).
    pub details: Vec<(&'static str, String)>,
    /// Round-trip times of the probes that measure one (ICMP), for status and metrics only.
    pub rtts: Vec<(&'static str, std::time::Duration)>,
}

impl Observation {
    pub fn of(signals: &[(&'static str, Signal)]) -> Observation {
        Observation {
            signals: signals.to_vec(),
            details: Vec::new(),
            rtts: Vec::new(),
        }
    }

    pub fn bad(&self) -> u32 {
        self.count(Signal::Bad)
    }

    pub fn good(&self) -> u32 {
        self.count(Signal::Good)
    }

    fn count(&self, s: Signal) -> u32 {
        self.signals.iter().filter(|(_, v)| *v == s).count() as u32
    }
}

/// What happens to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A probe round finished.
    Round(Observation),
    /// `fabric failover --to LAYOUT` (the caller checked that the layout exists).
    FailoverTo(String),
    /// `fabric failback`: return to the primary layout.
    Failback,
}

/// Where the controller stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// On primary, the watched hub answers.
    Healthy,
    /// On primary, `misses` consecutive bad rounds so far.
    Suspect { misses: u32 },
    /// Switched away automatically; `good_since` is the start of the current run of good
    /// rounds (auto failback counts from there).
    FailedOver {
        since: Instant,
        good_since: Option<Instant>,
    },
    /// An operator chose the layout: no automatic change until `fabric failback`.
    Manual { since: Instant },
}

/// The controller's state. `epoch` and `layout` are what gets persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub epoch: u64,
    pub layout: String,
    pub phase: Phase,
    /// When the layout last changed (hold-down counts from here).
    pub last_change: Option<Instant>,
}

impl State {
    /// A fresh controller: epoch 0 on the primary layout.
    pub fn new(primary: &str) -> State {
        State {
            epoch: 0,
            layout: primary.to_string(),
            phase: Phase::Healthy,
            last_change: None,
        }
    }

    /// A restarted controller, from its persisted `(epoch, layout)`. Off primary it resumes as
    /// failed over, with hold-down and the failback window counting from `now`.
    pub fn resume(persisted: &Published, primary: &str, now: Instant) -> State {
        if persisted.layout == primary {
            State {
                epoch: persisted.epoch,
                layout: persisted.layout.clone(),
                phase: Phase::Healthy,
                last_change: None,
            }
        } else {
            State {
                epoch: persisted.epoch,
                layout: persisted.layout.clone(),
                phase: Phase::FailedOver {
                    since: now,
                    good_since: None,
                },
                last_change: Some(now),
            }
        }
    }

    pub fn published(&self) -> Published {
        Published {
            epoch: self.epoch,
            layout: self.layout.clone(),
        }
    }
}

/// One step for the executor. A layout change is always, in this order: `PersistEpoch`,
/// `Fence` (when moving away from the watched hub), `ApplyLocal`, `Publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `(epoch, layout)` durably before any other effect.
    PersistEpoch { epoch: u64, layout: String },
    /// Disable the watched hub's fabric-owned peers if it is still reachable, so that no spoke
    /// stays split between two hubs.
    Fence { node: String },
    /// Make the controller's own interfaces match `layout`.
    ApplyLocal { layout: String },
    /// Tell agents.
    Publish { epoch: u64, layout: String },
    /// A decision that did not change anything, with the reason (for logs and `--dry-run`).
    Note { text: String },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PersistEpoch { epoch, layout } => {
                write!(f, "persist epoch {epoch} layout {layout}")
            }
            Action::Fence { node } => write!(f, "fence {node}"),
            Action::ApplyLocal { layout } => write!(f, "apply layout {layout} locally"),
            Action::Publish { epoch, layout } => {
                write!(f, "publish epoch {epoch} layout {layout}")
            }
            Action::Note { text } => write!(f, "note: {text}"),
        }
    }
}

#[cfg(test)]
mod tests;

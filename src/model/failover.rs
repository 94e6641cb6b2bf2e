//! The failover policy (`failover:` in topology.yaml), validated: who watches whom, how often,
//! and how much evidence a switch needs.

use std::time::Duration;

use super::{LayoutName, NodeName};

/// Whether the controller returns to `primary` by itself once the watched hub is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    /// Only `fabric failback` returns to primary (default: no flapping back and forth).
    Manual,
    /// Return after the hub has been healthy for `stable` (and hold-down has passed).
    Auto,
}

/// Validated failover policy. Times are durations; the decision core takes `now` as input.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverPolicy {
    /// The node that runs `fabric serve` and whose interfaces the controller applies.
    pub controller: NodeName,
    /// The hub whose health is watched.
    pub watch: NodeName,
    /// The layout used while `watch` is down.
    pub target: LayoutName,
    /// The layout used while `watch` is healthy.
    pub primary: LayoutName,
    /// Time between probe rounds.
    pub interval: Duration,
    /// How long a round waits for any reply.
    pub probe_timeout: Duration,
    /// Echo requests per ICMP signal and round; the signal is bad only when all are lost.
    pub probes: u8,
    /// Consecutive bad rounds before the hub is declared down.
    pub misses: u32,
    /// Bad signals in one round that make the round bad.
    pub signals_needed: u32,
    /// Minimum time between two automatic layout changes.
    pub hold_down: Duration,
    pub failback: Failback,
    /// With `Failback::Auto`: how long the hub must be healthy before returning to primary.
    pub stable: Duration,
}

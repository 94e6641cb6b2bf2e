//! [`step`]: the transition function. See the module docs of [`super`] for the contract.

use std::time::Instant;

use super::{Action, Input, Observation, Phase, State};
use crate::model::{Failback, FailoverPolicy};

/// One transition. Pure: the same inputs give the same outputs.
pub fn step(
    state: &State,
    input: &Input,
    policy: &FailoverPolicy,
    now: Instant,
) -> (State, Vec<Action>) {
    let primary = policy.primary.as_str();
    match input {
        Input::FailoverTo(layout) if layout == primary => manual_failback(state, policy, now),
        Input::FailoverTo(layout) => {
            if *layout == state.layout {
                let mut s = state.clone();
                s.phase = Phase::Manual { since: now };
                let note = format!("already on layout {layout}; automatic changes paused");
                return (s, vec![Action::Note { text: note }]);
            }
            switch(state, layout, Phase::Manual { since: now }, policy, now)
        }
        Input::Failback => manual_failback(state, policy, now),
        Input::Round(obs) => round(state, obs, policy, now),
    }
}

fn manual_failback(state: &State, policy: &FailoverPolicy, now: Instant) -> (State, Vec<Action>) {
    let primary = policy.primary.as_str();
    if state.layout == primary {
        let mut s = state.clone();
        s.phase = Phase::Healthy;
        let note = format!("already on layout {primary}; automatic failover resumed");
        return (s, vec![Action::Note { text: note }]);
    }
    switch(state, primary, Phase::Healthy, policy, now)
}

/// A layout change: new epoch, persisted first.
fn switch(
    state: &State,
    layout: &str,
    phase: Phase,
    policy: &FailoverPolicy,
    now: Instant,
) -> (State, Vec<Action>) {
    let epoch = state.epoch + 1;
    let mut actions = vec![Action::PersistEpoch {
        epoch,
        layout: layout.to_string(),
    }];
    if state.layout == policy.primary.as_str() {
        actions.push(Action::Fence {
            node: policy.watch.to_string(),
        });
    }
    actions.push(Action::ApplyLocal {
        layout: layout.to_string(),
    });
    actions.push(Action::Publish {
        epoch,
        layout: layout.to_string(),
    });
    let next = State {
        epoch,
        layout: layout.to_string(),
        phase,
        last_change: Some(now),
    };
    (next, actions)
}

fn held_down(state: &State, policy: &FailoverPolicy, now: Instant) -> bool {
    state
        .last_change
        .is_some_and(|t| now.saturating_duration_since(t) < policy.hold_down)
}

fn round(
    state: &State,
    obs: &Observation,
    policy: &FailoverPolicy,
    now: Instant,
) -> (State, Vec<Action>) {
    let bad = obs.bad() >= policy.signals_needed;
    let good = obs.bad() == 0 && obs.good() > 0;
    let mut s = state.clone();
    match state.phase {
        Phase::Manual { .. } => (s, vec![]),
        Phase::Healthy | Phase::Suspect { .. } => {
            let misses = match state.phase {
                Phase::Suspect { misses } => misses,
                _ => 0,
            };
            if good {
                s.phase = Phase::Healthy;
                return (s, vec![]);
            }
            if !bad {
                return (s, vec![]); // nothing known this round: neither count nor reset
            }
            let misses = misses + 1;
            s.phase = Phase::Suspect { misses };
            if misses < policy.misses {
                return (s, vec![]);
            }
            if held_down(state, policy, now) {
                if misses > policy.misses {
                    return (s, vec![]); // said so once already
                }
                let text = format!(
                    "{} down ({misses} bad rounds) but the last layout change is within the {} s hold-down",
                    policy.watch,
                    policy.hold_down.as_secs()
                );
                return (s, vec![Action::Note { text }]);
            }
            let phase = Phase::FailedOver {
                since: now,
                good_since: None,
            };
            switch(state, policy.target.as_str(), phase, policy, now)
        }
        Phase::FailedOver { since, good_since } => {
            let good_since = match (good, bad) {
                (true, _) => Some(good_since.unwrap_or(now)),
                (false, true) => None,
                (false, false) => good_since,
            };
            s.phase = Phase::FailedOver { since, good_since };
            let stable =
                good_since.is_some_and(|g| now.saturating_duration_since(g) >= policy.stable);
            if policy.failback == Failback::Auto && stable && !held_down(state, policy, now) {
                return switch(state, policy.primary.as_str(), Phase::Healthy, policy, now);
            }
            (s, vec![])
        }
    }
}

//! Table tests of the decision core: sequences of rounds and commands at given times.

use std::time::{Duration, Instant};

use super::*;
use crate::model::{Failback, FailoverPolicy};

fn policy() -> FailoverPolicy {
    FailoverPolicy {
        controller: "vps01".parse().unwrap(),
        watch: "chr01".parse().unwrap(),
        target: "chr02".parse().unwrap(),
        primary: "primary".parse().unwrap(),
        interval: Duration::from_millis(100),
        probe_timeout: Duration::from_millis(100),
        probes: 6,
        misses: 3,
        signals_needed: 1,
        hold_down: Duration::from_secs(60),
        failback: Failback::Manual,
        stable: Duration::from_secs(300),
    }
}

const BAD: &[(&str, Signal)] = &[("tunnel", Signal::Bad), ("underlay", Signal::Good)];
const GOOD: &[(&str, Signal)] = &[("tunnel", Signal::Good), ("underlay", Signal::Good)];
const UNKNOWN: &[(&str, Signal)] = &[("tunnel", Signal::Unknown)];

/// One row: at `t` ms after the start, feed `input`.
enum Ev {
    Round(u64, &'static [(&'static str, Signal)]),
    Cmd(u64, Input),
}

/// Runs the events; returns the final state and every (time, action) emitted.
fn run(
    policy: &FailoverPolicy,
    start: State,
    t0: Instant,
    events: Vec<Ev>,
) -> (State, Vec<(u64, Action)>) {
    let mut s = start;
    let mut out = Vec::new();
    for e in events {
        let (t, input) = match e {
            Ev::Round(t, sig) => (t, Input::Round(Observation::of(sig))),
            Ev::Cmd(t, i) => (t, i),
        };
        let (next, actions) = step(&s, &input, policy, t0 + Duration::from_millis(t));
        assert!(
            actions
                .iter()
                .all(|a| !matches!(a, Action::PersistEpoch { .. }))
                || matches!(actions[0], Action::PersistEpoch { .. }),
            "PersistEpoch must come first: {actions:?}"
        );
        out.extend(actions.into_iter().map(|a| (t, a)));
        s = next;
    }
    (s, out)
}

fn switches(actions: &[(u64, Action)]) -> Vec<(u64, u64, String)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::PersistEpoch { epoch, layout } => Some((*t, *epoch, layout.clone())),
            _ => None,
        })
        .collect()
}

fn rounds(from: u64, n: u64, sig: &'static [(&'static str, Signal)]) -> Vec<Ev> {
    (0..n).map(|i| Ev::Round(from + i * 100, sig)).collect()
}

#[test]
fn failover_waits_for_three_consecutive_misses() {
    let p = policy();
    let t0 = Instant::now();
    let (s, a) = run(&p, State::new("primary"), t0, rounds(0, 2, BAD));
    assert_eq!(s.phase, Phase::Suspect { misses: 2 });
    assert!(a.is_empty());
    let (s, a) = run(&p, s, t0, rounds(200, 1, BAD));
    assert_eq!(s.epoch, 1);
    assert_eq!(s.layout, "chr02");
    let actions: Vec<Action> = a.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        actions,
        vec![
            Action::PersistEpoch {
                epoch: 1,
                layout: "chr02".into()
            },
            Action::Fence {
                node: "chr01".into()
            },
            Action::ApplyLocal {
                layout: "chr02".into()
            },
            Action::Publish {
                epoch: 1,
                layout: "chr02".into()
            },
        ]
    );
}

#[test]
fn one_good_round_resets_the_miss_count() {
    let p = policy();
    let mut ev = rounds(0, 2, BAD);
    ev.extend(rounds(200, 1, GOOD));
    ev.extend(rounds(300, 2, BAD));
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert!(switches(&a).is_empty());
    assert_eq!(s.phase, Phase::Suspect { misses: 2 });
}

#[test]
fn rounds_with_no_data_neither_count_nor_reset() {
    let p = policy();
    let mut ev = rounds(0, 2, BAD);
    ev.extend(rounds(200, 5, UNKNOWN));
    ev.extend(rounds(700, 1, BAD));
    let (_, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a), vec![(700, 1, "chr02".into())]);
}

#[test]
fn signals_needed_two_ignores_a_single_bad_signal() {
    let mut p = policy();
    p.signals_needed = 2;
    let (s, a) = run(
        &p,
        State::new("primary"),
        Instant::now(),
        rounds(0, 10, BAD),
    );
    assert!(switches(&a).is_empty());
    assert_eq!(s.phase, Phase::Healthy);
    const BOTH: &[(&str, Signal)] = &[("tunnel", Signal::Bad), ("underlay", Signal::Bad)];
    let (_, a) = run(
        &p,
        State::new("primary"),
        Instant::now(),
        rounds(0, 3, BOTH),
    );
    assert_eq!(switches(&a).len(), 1);
}

#[test]
fn manual_failback_mode_never_fails_back_by_itself() {
    let p = policy();
    let mut ev = rounds(0, 3, BAD);
    ev.extend(rounds(300, 10_000, GOOD)); // 1000 s of healthy rounds
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a), vec![(200, 1, "chr02".into())]);
    assert_eq!(s.layout, "chr02");
}

#[test]
fn one_success_does_not_fail_back_before_hold_down_and_stable_window() {
    let mut p = policy();
    p.failback = Failback::Auto;
    p.stable = Duration::from_secs(10);
    let mut ev = rounds(0, 3, BAD);
    ev.extend(rounds(300, 1, GOOD));
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a).len(), 1, "one success is no failback");
    assert!(matches!(
        s.phase,
        Phase::FailedOver {
            good_since: Some(_),
            ..
        }
    ));
}

#[test]
fn auto_failback_after_stable_window_and_hold_down() {
    let mut p = policy();
    p.failback = Failback::Auto;
    p.stable = Duration::from_secs(10);
    let t0 = Instant::now();
    let mut ev = rounds(0, 3, BAD); // switch at 200 ms
    ev.extend(rounds(300, 700, GOOD)); // 70 s of good rounds
    let (s, a) = run(&p, State::new("primary"), t0, ev);
    // stable after 10 s (at 10.3 s) but hold-down runs until 60.2 s
    assert_eq!(
        switches(&a),
        vec![(200, 1, "chr02".into()), (60_200, 2, "primary".into())]
    );
    assert_eq!(s.phase, Phase::Healthy);
    let back: Vec<_> = a
        .iter()
        .filter(|(t, _)| *t == 60_200)
        .map(|(_, a)| a)
        .collect();
    assert!(
        !back.iter().any(|a| matches!(a, Action::Fence { .. })),
        "no fence on failback"
    );
}

#[test]
fn a_bad_round_restarts_the_stable_window() {
    let mut p = policy();
    p.failback = Failback::Auto;
    p.stable = Duration::from_secs(10);
    p.hold_down = Duration::ZERO;
    let mut ev = rounds(0, 3, BAD);
    ev.extend(rounds(300, 95, GOOD)); // 9.5 s good
    ev.extend(rounds(9_800, 1, BAD));
    ev.extend(rounds(9_900, 99, GOOD)); // 9.9 s good: not yet
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a).len(), 1);
    let (_, a) = run(&p, s, Instant::now(), rounds(19_900, 2, GOOD));
    assert_eq!(
        switches(&a).len(),
        1,
        "10 s after the bad round: back to primary"
    );
}

/// CHR01 down/up every 2 s for 2 minutes, auto failback with a short stable window: at most
/// one layout change per hold-down window.
#[test]
fn flapping_hub_changes_layout_at_most_once_per_hold_down() {
    let mut p = policy();
    p.failback = Failback::Auto;
    p.stable = Duration::from_secs(1);
    let mut ev = Vec::new();
    for i in 0..1200u64 {
        let up = (i / 20) % 2 == 1; // 2 s down, 2 s up
        ev.push(Ev::Round(i * 100, if up { GOOD } else { BAD }));
    }
    let (_, a) = run(&p, State::new("primary"), Instant::now(), ev);
    let sw = switches(&a);
    for pair in sw.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= 60_000, "changes too close: {sw:?}");
    }
    assert!(sw.len() <= 3, "{sw:?}");
    assert_eq!(sw[0], (200, 1, "chr02".into()));
}

#[test]
fn flapping_hub_with_manual_failback_fails_over_once() {
    let p = policy();
    let ev: Vec<Ev> = (0..1200u64)
        .map(|i| Ev::Round(i * 100, if (i / 20) % 2 == 1 { GOOD } else { BAD }))
        .collect();
    let (_, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a), vec![(200, 1, "chr02".into())]);
}

#[test]
fn hold_down_delays_a_second_automatic_failover() {
    let p = policy();
    let t0 = Instant::now();
    // operator fails back right after an automatic failover; the hub is still bad
    let mut ev = rounds(0, 3, BAD);
    ev.push(Ev::Cmd(250, Input::Failback));
    ev.extend(rounds(300, 10, BAD));
    let (s, a) = run(&p, State::new("primary"), t0, ev);
    assert_eq!(switches(&a).len(), 2, "failover, manual failback");
    assert!(
        a.iter()
            .any(|(_, a)| matches!(a, Action::Note { text } if text.contains("hold-down")))
    );
    let (_, a) = run(&p, s, t0, rounds(60_300, 1, BAD));
    assert_eq!(switches(&a), vec![(60_300, 3, "chr02".into())]);
}

#[test]
fn manual_failover_then_failback_returns_to_primary() {
    let p = policy();
    let ev = vec![
        Ev::Cmd(0, Input::FailoverTo("split-role".into())),
        Ev::Round(100, GOOD),
        Ev::Round(200, BAD),
        Ev::Round(300, BAD),
        Ev::Round(400, BAD),
        Ev::Round(500, BAD),
        Ev::Cmd(600, Input::Failback),
    ];
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(
        switches(&a),
        vec![(0, 1, "split-role".into()), (600, 2, "primary".into())],
        "no automatic decision while the operator holds the layout"
    );
    assert_eq!(s.phase, Phase::Healthy);
    assert!(a.iter().any(|(t, a)| *t == 0
        && *a
            == Action::Fence {
                node: "chr01".into()
            }));
}

#[test]
fn manual_commands_are_not_held_down() {
    let p = policy();
    let ev = vec![
        Ev::Cmd(0, Input::FailoverTo("chr02".into())),
        Ev::Cmd(10, Input::Failback),
        Ev::Cmd(20, Input::FailoverTo("split-role".into())),
    ];
    let (s, a) = run(&p, State::new("primary"), Instant::now(), ev);
    assert_eq!(switches(&a).len(), 3);
    assert_eq!((s.epoch, s.layout.as_str()), (3, "split-role"));
}

#[test]
fn commands_that_change_nothing_keep_the_epoch() {
    let p = policy();
    let (s, a) = run(
        &p,
        State::new("primary"),
        Instant::now(),
        vec![Ev::Cmd(0, Input::Failback)],
    );
    assert_eq!(s.epoch, 0);
    assert!(matches!(&a[..], [(0, Action::Note { .. })]));
    let (s, _) = run(
        &p,
        s,
        Instant::now(),
        vec![Ev::Cmd(0, Input::FailoverTo("primary".into()))],
    );
    assert_eq!(s.epoch, 0);
}

#[test]
fn restart_resumes_the_persisted_epoch() {
    let p = policy();
    let t0 = Instant::now();
    let persisted = Published {
        epoch: 7,
        layout: "chr02".into(),
    };
    let s = State::resume(&persisted, "primary", t0);
    assert_eq!((s.epoch, s.layout.as_str()), (7, "chr02"));
    assert!(matches!(s.phase, Phase::FailedOver { .. }));
    let (s, a) = run(&p, s, t0, rounds(0, 100, BAD));
    assert!(
        switches(&a).is_empty(),
        "already failed over: nothing to do"
    );
    let (s, a) = run(&p, s, t0, vec![Ev::Cmd(10_000, Input::Failback)]);
    assert_eq!(switches(&a), vec![(10_000, 8, "primary".into())]);
    let resumed = State::resume(&s.published(), "primary", t0);
    assert_eq!((resumed.epoch, resumed.phase), (8, Phase::Healthy));
}

#[test]
fn resumed_controller_honours_hold_down_before_auto_failback() {
    let mut p = policy();
    p.failback = Failback::Auto;
    p.stable = Duration::from_secs(1);
    let t0 = Instant::now();
    let s = State::resume(
        &Published {
            epoch: 3,
            layout: "chr02".into(),
        },
        "primary",
        t0,
    );
    let (_, a) = run(&p, s, t0, rounds(0, 650, GOOD));
    assert_eq!(switches(&a), vec![(60_000, 4, "primary".into())]);
}

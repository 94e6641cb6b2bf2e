//! The service-signal verdicts (pure [`Tally::next`]) and the background cadence of
//! [`ServiceProbe`] with a [`FakeCheck`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FakeCheck, Outcome, REFUSED_TO_BAD, ServiceProbe, Tally};
use crate::daemon::probe::Probe;
use crate::failover::Signal;

fn fold(outcomes: &[Outcome]) -> Tally {
    outcomes
        .iter()
        .fold(Tally::default(), |t, o| t.next(o.clone()))
}

fn refused() -> Outcome {
    Outcome::Refused("connection refused".into())
}

fn silent() -> Outcome {
    Outcome::Silent("timeout".into())
}

fn misconfigured() -> Outcome {
    Outcome::Misconfigured("certificate: UnknownIssuer".into())
}

#[test]
fn verdicts_of_check_sequences() {
    use Signal::*;
    let cases: &[(&[Outcome], Signal)] = &[
        (&[], Unknown),
        (&[Outcome::Up], Good),
        (&[refused()], Unknown),
        (&[refused(), refused()], Bad),
        (&[Outcome::Up, refused()], Unknown),
        (&[refused(), Outcome::Up, refused()], Unknown),
        (&[refused(), refused(), Outcome::Up], Good),
        // Silence neither counts nor clears a run of refusals.
        (&[silent()], Unknown),
        (&[silent(), silent(), silent()], Unknown),
        (&[refused(), silent(), refused()], Bad),
        (&[Outcome::Up, silent()], Unknown),
        // A certificate problem is never Bad, however long it lasts.
        (
            &[misconfigured(), misconfigured(), misconfigured()],
            Unknown,
        ),
        (&[Outcome::Up, misconfigured()], Unknown),
    ];
    assert_eq!(REFUSED_TO_BAD, 2);
    for (outcomes, want) in cases {
        assert_eq!(fold(outcomes).signal, *want, "{outcomes:?}");
    }
}

#[test]
fn details_say_why_a_signal_is_not_good() {
    assert_eq!(fold(&[Outcome::Up]).detail(), None);
    assert!(
        Tally::default()
            .detail()
            .unwrap()
            .contains("no check finished")
    );
    let d = fold(&[misconfigured()]).detail().unwrap();
    assert!(
        d.contains("configuration problem") && d.contains("UnknownIssuer"),
        "{d}"
    );
    assert!(fold(&[refused()]).detail().unwrap().starts_with("refused"));
    assert!(fold(&[silent()]).detail().unwrap().starts_with("no answer"));
}

/// Polls `p` like the monitor does (every 5 ms) until it says `want`, bounded by `within`.
async fn until(p: &mut ServiceProbe, want: Signal, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if p.probe(Duration::from_millis(100)).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test]
async fn unknown_until_the_first_check_then_follows_the_checks() {
    let fake = FakeCheck::new(Outcome::Up, Duration::from_millis(30));
    let mut p = ServiceProbe::with_cadence(
        "tls",
        Arc::new(fake.clone()),
        Duration::from_millis(20),
        Duration::from_millis(200),
    );
    assert_eq!(p.probe(Duration::from_millis(100)).await, Signal::Unknown);
    assert!(until(&mut p, Signal::Good, Duration::from_secs(2)).await);
    assert_eq!(p.detail(), None);
    fake.set(refused());
    assert!(until(&mut p, Signal::Bad, Duration::from_secs(2)).await);
    fake.set(Outcome::Up);
    assert!(until(&mut p, Signal::Good, Duration::from_secs(2)).await);
    fake.set(misconfigured());
    assert!(until(&mut p, Signal::Unknown, Duration::from_secs(2)).await);
    assert!(p.detail().unwrap().contains("configuration problem"));
}

#[tokio::test]
async fn a_hanging_check_never_holds_up_a_round_and_times_out_as_silent() {
    let fake = FakeCheck::new(Outcome::Up, Duration::from_secs(30));
    let mut p = ServiceProbe::with_cadence(
        "rest",
        Arc::new(fake.clone()),
        Duration::from_millis(10),
        Duration::from_millis(100),
    );
    for _ in 0..5 {
        let start = Instant::now();
        assert_eq!(p.probe(Duration::from_millis(100)).await, Signal::Unknown);
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "{:?}",
            start.elapsed()
        );
    }
    // The check's own deadline ends it as silence (Unknown, with the reason).
    let deadline = Instant::now() + Duration::from_secs(2);
    while p.detail().is_some_and(|d| d.contains("no check finished")) && Instant::now() < deadline {
        p.probe(Duration::from_millis(100)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let d = p.detail().unwrap();
    assert!(d.starts_with("no answer"), "{d}");
    assert_eq!(p.probe(Duration::from_millis(100)).await, Signal::Unknown);
}

#[tokio::test]
async fn checks_start_at_most_once_per_cadence() {
    let fake = FakeCheck::new(Outcome::Up, Duration::ZERO);
    let mut p = ServiceProbe::with_cadence(
        "tls",
        Arc::new(fake.clone()),
        Duration::from_secs(60),
        Duration::from_millis(100),
    );
    for _ in 0..50 {
        p.probe(Duration::from_millis(100)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(fake.started(), 1);
    assert_eq!(p.probe(Duration::from_millis(100)).await, Signal::Good);
}

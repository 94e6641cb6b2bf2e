//! The `tls` and `rest` service signals of `fabric serve` in the netns lab (root), with the
//! lab's stand-ins on CHR01 (`fabric lab up --rest-standins`: the RouterOS REST stand-in and
//! a TLS listener on the SSTP port whose certificate the lab fabric CA signed — TLS only,
//! not SSTP, and not RouterOS):
//! * both signals are Good while CHR01 is up, and cutting CHR01's underlay still fails over
//!   within the usual time (they go silent = Unknown, the ICMP signals decide);
//! * with a CA that did not sign CHR01's certificate, `tls` is a logged configuration
//!   problem, not a dead hub: no failover; the right CA put in place + SIGHUP → `tls` Good;
//! * 30 % random loss on CHR01's underlay for 20 s with both signals on: no failover (their
//!   timed-out checks are Unknown, never Bad);
//! * CHR01 up but its SSTP TLS service gone (the stand-in killed by PID → connection
//!   refused): `tls` turns Bad and the controller fails over.
//!
//! Traffic stays inside the lab's namespaces (TEST-NET underlay). Labs are torn down on drop.

mod support;

use std::time::Duration;

use support::netns::poll_until;
use support::serve_lab::{Lab, ONE_LAB};

/// A lab with the stand-ins and `fabric serve` using their REST credentials (plus `extra`).
fn lab(tag: &str, extra: &[String]) -> Lab {
    let mut lab = Lab::up_args(tag, &[], &["--rest-standins"]);
    let root = fabric::lab::root(&lab.prefix);
    lab.serve_args = vec![
        "--routeros-credentials".into(),
        root.join("rest").to_string_lossy().into_owned(),
    ];
    lab.serve_args.extend_from_slice(extra);
    lab.start_serve();
    lab
}

/// The `last round` line of `fabric status` once it contains every one of `want`.
fn wait_signals(lab: &Lab, want: &[&str], within: Duration) -> String {
    let mut last = String::new();
    let ok = poll_until(within, Duration::from_millis(50), || {
        last = lab.status().unwrap_or_default();
        want.iter().all(|w| last.contains(w))
    });
    assert!(
        ok,
        "status never showed {want:?}:\n{last}\n{}",
        lab.log_text()
    );
    last
}

#[test]
fn tls_and_rest_are_good_while_chr01_is_up_and_a_cut_still_fails_over_in_time() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab("t", &[]);
    let status = wait_signals(
        &lab,
        &[
            "\"tls\": Good",
            "\"rest\": Good",
            "\"tunnel\": Good",
            "\"underlay\": Good",
        ],
        Duration::from_secs(5),
    );
    eprintln!("{status}");
    assert!(!lab.log_text().contains("left out"), "{}", lab.log_text());
    let link = lab.underlay_link("203.0.113.10");
    lab.inet(&["link", "set", &link, "down"]);
    let took = lab.wait_persisted(1, "chr02", Duration::from_secs(3));
    eprintln!(
        "with tls and rest signals: failover persisted {:.3} s after the cut",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_millis(1500),
        "detection took {took:?}"
    );
}

#[test]
fn a_certificate_from_another_ca_is_a_configuration_problem_not_a_failover() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let other = tempfile::tempdir().unwrap();
    let ca = other.path().join("other-ca.crt");
    std::fs::write(
        &ca,
        fabric::tls::LocalCa::new("fabric-ca").unwrap().cert_pem,
    )
    .unwrap();
    let lab = lab(
        "w",
        &["--fabric-ca".into(), ca.to_string_lossy().into_owned()],
    );
    let status = wait_signals(
        &lab,
        &[
            "\"tls\": Unknown",
            "tls: configuration problem",
            "\"rest\": Good",
        ],
        Duration::from_secs(5),
    );
    eprintln!("{status}");
    // Several checks later (one a second), still on epoch 0.
    let failed_over = poll_until(Duration::from_secs(3), Duration::from_millis(100), || {
        lab.persisted().is_some()
    });
    assert!(!failed_over, "failed over:\n{}", lab.log_text());
    let log = lab.log_text();
    assert_eq!(
        log.matches("CONFIGURATION PROBLEM").count(),
        1,
        "logged once, not once per check:\n{log}"
    );
    // The operator puts the right CA in place and reloads: no restart needed.
    let right = fabric::lab::sstp_tls::ca_path(&fabric::lab::root(&lab.prefix));
    std::fs::copy(right, &ca).unwrap();
    lab.sighup();
    let status = wait_signals(&lab, &["\"tls\": Good"], Duration::from_secs(5));
    eprintln!("after SIGHUP with the right CA:\n{status}");
    assert!(
        lab.persisted().is_none(),
        "failed over:\n{}",
        lab.log_text()
    );
}

#[test]
fn chr01_up_but_its_sstp_tls_service_gone_fails_over() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab("r", &[]);
    wait_signals(&lab, &["\"tls\": Good"], Duration::from_secs(5));
    // The stand-in's PID: the lab started it in chr01's namespace.
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", &format!("{}-chr01", lab.prefix)])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sstp-tls-standin"))
        })
        .expect("the SSTP-TLS stand-in runs in chr01's namespace")
        .to_string();
    let killed = std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .unwrap();
    assert!(killed.success());
    let took = lab.wait_persisted(1, "chr02", Duration::from_secs(6));
    eprintln!(
        "SSTP TLS refused: failover persisted {:.3} s after the kill",
        took.as_secs_f64()
    );
    let status = lab.status().unwrap();
    assert!(status.contains("\"underlay\": Good"), "{status}");
}

#[test]
fn thirty_percent_loss_with_tls_and_rest_on_does_not_fail_over() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let lab = lab("l", &[]);
    wait_signals(
        &lab,
        &["\"tls\": Good", "\"rest\": Good"],
        Duration::from_secs(5),
    );
    let link = lab.underlay_link("203.0.113.10");
    lab.add_loss(&link, 30);
    let mut silent = 0;
    let mut seen = std::collections::BTreeSet::new();
    let failed_over = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        let s = lab.status().expect("daemon answers");
        if let Some(round) = s.lines().find(|l| l.starts_with("last round")) {
            let tls = round
                .split("\"tls\": ")
                .nth(1)
                .and_then(|r| r.split([',', '}']).next());
            seen.insert(tls.unwrap_or("-").to_string());
        }
        silent += s.matches("tls: no answer").count();
        !(s.contains("epoch 0") && s.contains("layout primary"))
    });
    assert!(
        !failed_over,
        "failed over under 30 % loss:\n{}",
        lab.log_text()
    );
    assert_eq!(lab.persisted(), None);
    let status = lab.status().unwrap();
    let counts = status
        .lines()
        .find(|l| l.starts_with("rounds "))
        .expect("status shows round counters")
        .to_string();
    eprintln!(
        "30 % loss for 20 s with tls and rest on, no failover: {counts}; tls verdicts seen {seen:?}, \
         'no answer' in {silent} of ~200 status polls"
    );
    assert!(!seen.contains("Bad"), "tls was Bad under loss: {seen:?}");
    let dropped = lab.loss_drops();
    assert!(
        dropped.len() == 2 && dropped.iter().all(|n| *n > 0),
        "{dropped:?}"
    );
}

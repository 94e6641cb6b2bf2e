//! The service signals inside the daemon: their targets from the topology, the real factory
//! leaving them out without CA/credentials (one warning each, however often it runs) and
//! adding them with, and the monitor reporting their verdicts and details round by round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::monitor::{self, RealProbes, Targets};
use super::probe::{FakeProbe, Probe};
use super::service_probe::{FakeCheck, Outcome, ServiceProbe};
use crate::failover::Signal;

const TOPOLOGY: &str = include_str!("../../topology.yaml");

fn loaded(dir: &std::path::Path) -> super::load::Loaded {
    let topology = dir.join("topology.yaml");
    std::fs::write(&topology, TOPOLOGY).unwrap();
    let t = crate::validate::load(TOPOLOGY).unwrap();
    crate::shell::secrets::SecretsDir::new(dir.join("secrets"))
        .generate_missing(&t)
        .unwrap();
    super::load::load(&topology, &dir.join("secrets")).unwrap()
}

#[test]
fn targets_name_the_watched_hubs_sstp_port_hostname_and_rest_port() {
    let dir = tempfile::tempdir().unwrap();
    let l = loaded(dir.path());
    for layout in ["primary", "chr02", "split-role"] {
        let t = monitor::targets(&l.topology, Some(&l.own_plan(layout).unwrap()), &l.policy);
        assert_eq!(
            t.sstp,
            Some((
                "203.0.113.10:443".parse().unwrap(),
                "chr01.lab.example.com".into()
            )),
            "{layout}"
        );
        assert_eq!(
            t.rest,
            Some(("chr01".into(), "203.0.113.10:8443".parse().unwrap())),
            "{layout}"
        );
    }
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Logged(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logged {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logged {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logged {
    type Writer = Logged;
    fn make_writer(&'a self) -> Logged {
        self.clone()
    }
}

fn service_only(t: &Targets) -> Targets {
    Targets {
        tunnel: None,
        underlay: None,
        handshake: None,
        ..t.clone()
    }
}

#[test]
fn the_real_factory_leaves_out_service_probes_without_ca_or_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let l = loaded(dir.path());
    let targets = service_only(&monitor::targets(
        &l.topology,
        Some(&l.own_plan("primary").unwrap()),
        &l.policy,
    ));
    let names = |f: &monitor::ProbeFactory| -> Vec<&'static str> {
        f(&targets).iter().map(|p| p.name()).collect()
    };
    let ca = dir.path().join("secrets/ca/fabric-ca.crt");
    let creds = dir.path().join("secrets/routeros");
    let factory = RealProbes {
        fabric_ca: ca.clone(),
        credentials: creds.clone(),
    }
    .factory();
    let logged = Logged::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logged.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            assert!(names(&factory).is_empty());
        }
    });
    let text = logged.text();
    assert_eq!(text.matches("signal tls left out").count(), 1, "{text}");
    assert_eq!(text.matches("signal rest left out").count(), 1, "{text}");
    assert!(text.contains("no fabric CA certificate at"), "{text}");

    std::fs::create_dir_all(ca.parent().unwrap()).unwrap();
    std::fs::write(&ca, crate::tls::LocalCa::new("fabric-ca").unwrap().cert_pem).unwrap();
    assert_eq!(names(&factory), vec!["tls"]);

    std::fs::create_dir_all(&creds).unwrap();
    let rest = crate::tls::self_signed(&["chr01".into()], &[]).unwrap();
    std::fs::write(creds.join("chr01.crt"), rest.cert_pem).unwrap();
    assert_eq!(
        names(&factory),
        vec!["tls"],
        "a certificate but no password"
    );
    crate::shell::output::write_atomic(&creds.join("chr01.password"), b"pw\n", 0o600).unwrap();
    assert_eq!(names(&factory), vec!["tls", "rest"]);

    std::fs::write(&ca, "not a certificate").unwrap();
    assert_eq!(
        names(&factory),
        vec!["rest"],
        "an unreadable CA leaves tls out"
    );
}

/// The real monitor with a good tunnel and a `tls` service probe whose checks are refused:
/// rounds keep coming every interval, `tls` turns Bad after two refusals and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_service_verdicts_and_why() {
    let check = FakeCheck::new(Outcome::Up, Duration::from_millis(5));
    let c = check.clone();
    let factory: monitor::ProbeFactory = Box::new(move |_| {
        vec![
            Box::new(FakeProbe::new("tunnel", Signal::Good)) as Box<dyn Probe>,
            Box::new(ServiceProbe::with_cadence(
                "tls",
                Arc::new(c.clone()),
                Duration::from_millis(20),
                Duration::from_millis(100),
            )),
        ]
    });
    let targets = Targets {
        interval: Duration::from_millis(10),
        timeout: Duration::from_millis(10),
        probes: 1,
        tunnel: None,
        underlay: None,
        handshake: None,
        sstp: None,
        rest: None,
    };
    let (_tx, rx) = watch::channel(targets);
    let (rounds_tx, mut rounds) = mpsc::channel(2);
    let stop = CancellationToken::new();
    let task = tokio::spawn(monitor::run(rx, factory, rounds_tx, stop.clone()));
    let first = rounds.recv().await.unwrap();
    assert_eq!(
        first.signals,
        vec![("tls", Signal::Unknown), ("tunnel", Signal::Good)]
    );
    let wait_for = async |rounds: &mut mpsc::Receiver<_>, want: Signal| {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let obs: crate::failover::Observation = rounds.recv().await.unwrap();
            if obs.signals.contains(&("tls", want)) {
                return obs;
            }
        }
        panic!("tls never {want:?}");
    };
    let up = wait_for(&mut rounds, Signal::Good).await;
    assert!(up.details.is_empty(), "{:?}", up.details);
    check.set(Outcome::Refused("connection refused".into()));
    let down = wait_for(&mut rounds, Signal::Bad).await;
    assert_eq!(
        down.details,
        vec![("tls", "refused: connection refused".to_string())]
    );
    stop.cancel();
    task.await.unwrap();
}

//! The daemon in process: fake WireGuard backend, fake probes, no DNS. The monitor, decider,
//! control socket, state file and publish channel are the real ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::control::{Request, call};
use super::probe::{FakeProbe, Probe};
use super::*;
use crate::apply::{FakeBackend, WgBackend};
use crate::failover::{Published, Signal};

const TOPOLOGY: &str = include_str!("../../topology.yaml");

struct Harness {
    dir: tempfile::TempDir,
    opts: ServeOptions,
    backend: SharedBackend,
    tunnel: FakeProbe,
    published: watch::Receiver<Published>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Where `GET /metrics` is served (loopback, a free port).
    metrics: std::net::SocketAddr,
}

fn start(dir: tempfile::TempDir, backend: SharedBackend) -> Harness {
    start_with(dir, backend, Box::new(decider::LogFencer))
}

fn start_with(
    dir: tempfile::TempDir,
    backend: SharedBackend,
    fencer: Box<dyn decider::Fencer>,
) -> Harness {
    start_full(dir, backend, fencer, RECONCILE_EVERY)
}

fn start_full(
    dir: tempfile::TempDir,
    backend: SharedBackend,
    fencer: Box<dyn decider::Fencer>,
    reconcile_every: Duration,
) -> Harness {
    let topology = dir.path().join("topology.yaml");
    if !topology.exists() {
        std::fs::write(&topology, TOPOLOGY).unwrap();
        let t = crate::validate::load(TOPOLOGY).unwrap();
        crate::shell::secrets::SecretsDir::new(dir.path().join("secrets"))
            .generate_missing(&t)
            .unwrap();
    }
    let opts = ServeOptions {
        topology,
        secrets: dir.path().join("secrets"),
        state_dir: dir.path().join("state"),
        control: dir.path().join("control.sock"),
        dns_listen: vec![],
        dns: false,
        udp_sockets: 1,
        reconcile_every,
    };
    let tunnel = FakeProbe::new("tunnel", Signal::Good);
    let fake = tunnel.clone();
    let (tx, published) = watch::channel(Published {
        epoch: 0,
        layout: String::new(),
    });
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let metrics = std_listener.local_addr().unwrap();
    let plugins = Plugins {
        backend: backend.clone(),
        fencer,
        probes: Box::new(move |_| vec![Box::new(fake.clone()) as Box<dyn Probe>]),
        published: tx,
        apply_lock: false,
        routeros_rest: None,
        hub_locks: Default::default(),
        metrics: Some(tokio::net::TcpListener::from_std(std_listener).unwrap()),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(opts.clone(), plugins, shutdown.clone()));
    Harness {
        dir,
        opts,
        backend,
        tunnel,
        published,
        shutdown,
        task,
        metrics,
    }
}

impl Harness {
    async fn request(&self, req: Request) -> super::control::Response {
        let path = self.opts.control.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match call(&path, &req, Duration::from_secs(10)) {
                    Ok(r) => return r,
                    Err(e) if Instant::now() > deadline => panic!("control socket: {e:#}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
        .await
        .unwrap()
    }

    /// `GET path` on the metrics listener: (status line, body).
    async fn scrape(&self, path: &str) -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(self.metrics).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: fabric\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut text))
            .await
            .expect("metrics answered within 5 s")
            .unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        (head.lines().next().unwrap().to_string(), body.to_string())
    }

    /// Waits (at most 5 s) until `n` more applies — periodic reconciles, each followed by its
    /// keep-fenced call — have run than when called.
    async fn wait_reconciles(&self, n: f64) {
        let applies =
            || async { sample(&self.scrape("/metrics").await.1, "fabric_applies_total").unwrap() };
        let goal = applies().await + n;
        let deadline = Instant::now() + Duration::from_secs(5);
        while applies().await < goal {
            assert!(Instant::now() < deadline, "{n} reconciles within 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_published(&mut self, epoch: u64, layout: &str) -> Duration {
        let start = Instant::now();
        let want = Published {
            epoch,
            layout: layout.into(),
        };
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            self.published.wait_for(|p| *p == want),
        )
        .await
        .map(|_| ());
        let ok = r.is_ok();
        let now = self.published.borrow().clone();
        assert!(ok, "not published: {want:?}; now {now:?}");
        start.elapsed()
    }

    fn wg0_endpoints(&self) -> Vec<String> {
        let b = self.backend.lock().unwrap();
        b.read(&"wg0".parse().unwrap())
            .unwrap()
            .peers
            .iter()
            .filter_map(|p| p.endpoint.map(|e| e.to_string()))
            .collect()
    }

    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(6), self.task).await;
        r.expect("daemon stops within its 5 s shutdown deadline")
            .unwrap()
            .unwrap();
        assert!(
            !self.opts.control.exists(),
            "control socket removed on shutdown"
        );
        self.dir
    }
}

fn fake_backend() -> SharedBackend {
    Arc::new(Mutex::new(
        Box::new(FakeBackend::default()) as Box<dyn WgBackend + Send>
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_hub_fails_over_persists_publishes_and_applies_then_failback() {
    let mut h = start(tempfile::tempdir().unwrap(), fake_backend());
    h.wait_published(0, "primary").await;
    assert!(h.request(Request::Status).await.ok);
    assert!(
        h.wg0_endpoints()
            .contains(&"203.0.113.10:51820".to_string())
    );

    h.tunnel.set(Signal::Bad);
    let took = h.wait_published(1, "chr02").await;
    assert!(
        took < Duration::from_secs(2),
        "5 misses at 100 ms took {took:?}"
    );
    assert_eq!(
        state_file::read(&h.opts.state_dir).unwrap(),
        Some(Published {
            epoch: 1,
            layout: "chr02".into()
        })
    );
    assert_eq!(h.wg0_endpoints(), vec!["203.0.113.20:51820".to_string()]);

    h.tunnel.set(Signal::Good);
    let dry = h.request(Request::Failback { dry_run: true }).await;
    assert!(
        dry.ok && dry.text.contains("persist epoch 2 layout primary"),
        "{}",
        dry.text
    );
    assert_eq!(h.published.borrow().epoch, 1, "dry run changes nothing");
    let r = h.request(Request::Failback { dry_run: false }).await;
    assert!(r.ok, "{}", r.text);
    h.wait_published(2, "primary").await;
    assert!(
        h.wg0_endpoints()
            .contains(&"203.0.113.10:51820".to_string())
    );
    // The decision log tells the story: start, the health decision with its signals, the
    // fence of chr01, the apply, the operator's failback and its apply.
    let log = std::fs::read_to_string(h.opts.state_dir.join(audit::FILE)).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<String> = records
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().map(str::to_string).unwrap_or_default();
            format!(
                "{} {} {}{}{}",
                field("event"),
                r["epoch"],
                field("layout"),
                field("node"),
                field("cause")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "start 0 primary",
            "decision 1 chr02health checks",
            "fence 1 chr01",
            "apply 1 chr02",
            "decision 2 primaryfabric failback",
            "apply 2 primary",
        ],
        "{log}"
    );
    assert_eq!(records[1]["signals"]["tunnel"], "Bad", "{log}");
    assert_eq!(records[1]["from"], "primary");
    assert!(
        records
            .iter()
            .all(|r| r["time"].as_str().unwrap().ends_with('Z'))
    );
    assert!(records[3]["ok"].as_bool().unwrap() && records[3]["changes"].as_u64() > Some(0));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_the_persisted_epoch_and_reapplies_it() {
    let backend = fake_backend();
    let mut h = start(tempfile::tempdir().unwrap(), backend.clone());
    h.wait_published(0, "primary").await;
    let r = h
        .request(Request::Failover {
            to: "split-role".into(),
            dry_run: false,
        })
        .await;
    assert!(r.ok, "{}", r.text);
    h.wait_published(1, "split-role").await;
    let dir = h.stop().await;
    // a fresh (empty) backend: the restart must re-apply split-role from the state file
    let mut h = start(dir, fake_backend());
    h.wait_published(1, "split-role").await;
    let status = h.request(Request::Status).await.text;
    assert!(
        status.contains("epoch 1") && status.contains("layout split-role"),
        "{status}"
    );
    assert!(
        !h.wg0_endpoints()
            .contains(&"203.0.113.10:51820".to_string())
    );
    let bad = h
        .request(Request::Failover {
            to: "nowhere".into(),
            dry_run: false,
        })
        .await;
    assert!(!bad.ok && bad.text.contains("not defined"), "{}", bad.text);
    h.stop().await;
}

/// Dies like `kill -9` between persisting the epoch and applying it.
struct DiesWhileFencing;

impl decider::Fencer for DiesWhileFencing {
    fn fence(&mut self, _: &str, _: decider::Epoch<'_>, _: &load::Loaded) -> anyhow::Result<()> {
        panic!("controller killed in the middle of a failover");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_persist_and_apply_restart_converges_on_the_persisted_epoch() {
    let backend = fake_backend();
    let h = start_with(
        tempfile::tempdir().unwrap(),
        backend.clone(),
        Box::new(DiesWhileFencing),
    );
    let mut published = h.published.clone();
    tokio::time::timeout(
        Duration::from_secs(5),
        published.wait_for(|p| p.layout == "primary"),
    )
    .await
    .unwrap()
    .unwrap();
    h.tunnel.set(Signal::Bad);
    let died = tokio::time::timeout(Duration::from_secs(5), h.task).await;
    assert!(
        died.expect("dies within 5 s").is_err(),
        "the daemon task panicked"
    );
    assert_eq!(
        state_file::read(&h.opts.state_dir).unwrap(),
        Some(Published {
            epoch: 1,
            layout: "chr02".into()
        }),
        "the epoch was persisted before anything else"
    );
    let before: Vec<String> = {
        let b = backend.lock().unwrap_or_else(|e| e.into_inner());
        let wg0 = b.read(&"wg0".parse().unwrap()).unwrap();
        wg0.peers
            .iter()
            .filter_map(|p| p.endpoint.map(|e| e.to_string()))
            .collect()
    };
    assert_eq!(
        before,
        vec!["203.0.113.10:51820".to_string()],
        "not applied yet"
    );
    assert!(
        h.opts.control.exists(),
        "a killed daemon leaves its socket behind"
    );

    // restart on the same interfaces (the backend's lock was not poisoned: the panic happened
    // outside it) with a working fencer: epoch 1 is resumed and applied, the stale socket replaced
    let mut h = start(h.dir, backend);
    h.wait_published(1, "chr02").await;
    assert_eq!(h.wg0_endpoints(), vec!["203.0.113.20:51820".to_string()]);
    let status = h.request(Request::Status).await.text;
    assert!(
        status.contains("epoch 1") && status.contains("failed over"),
        "{status}"
    );
    h.stop().await;
}

/// The value of the sample `name{labels}` (exact text before the value) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_health_rounds_failover_and_failback() {
    let mut h = start(tempfile::tempdir().unwrap(), fake_backend());
    h.wait_published(0, "primary").await;
    let (status, body) = h.scrape("/metrics").await;
    assert!(status.contains("200"), "{status}");
    for (series, value) in [
        ("fabric_epoch", 0.0),
        ("fabric_layout{layout=\"primary\"}", 1.0),
        ("fabric_layout{layout=\"chr02\"}", 0.0),
        ("fabric_phase{phase=\"healthy\"}", 1.0),
        ("fabric_last_apply_success", 1.0),
        ("fabric_apply_failures_total", 0.0),
        ("fabric_decisions_total", 0.0),
    ] {
        assert_eq!(sample(&body, series), Some(value), "{series} in\n{body}");
    }
    // Every family is announced with HELP and TYPE before its samples.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE"
        );
    }

    h.tunnel.set(Signal::Bad);
    h.wait_published(1, "chr02").await;
    let (_, body) = h.scrape("/metrics").await;
    assert_eq!(sample(&body, "fabric_epoch"), Some(1.0), "{body}");
    assert_eq!(sample(&body, "fabric_layout{layout=\"chr02\"}"), Some(1.0));
    assert_eq!(
        sample(&body, "fabric_phase{phase=\"failed_over\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "fabric_decisions_total"), Some(1.0));
    assert_eq!(
        sample(&body, "fabric_signal{signal=\"tunnel\"}"),
        Some(-1.0)
    );
    assert!(sample(&body, "fabric_signal_bad_total{signal=\"tunnel\"}") >= Some(1.0));
    let rounds = sample(&body, "fabric_health_rounds_total").unwrap();
    assert!(sample(&body, "fabric_health_bad_rounds_total").unwrap() >= 1.0 && rounds >= 1.0);
    assert!(
        sample(&body, "fabric_applies_total").unwrap() >= 2.0,
        "{body}"
    );
    assert!(sample(&body, "fabric_health_last_round_age_seconds").unwrap() < 5.0);

    h.tunnel.set(Signal::Good);
    assert!(h.request(Request::Failback { dry_run: false }).await.ok);
    h.wait_published(2, "primary").await;
    let (_, body) = h.scrape("/metrics").await;
    assert_eq!(
        sample(&body, "fabric_phase{phase=\"healthy\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(sample(&body, "fabric_decisions_total"), Some(2.0));
    assert_eq!(
        sample(&body, "fabric_layout{layout=\"primary\"}"),
        Some(1.0)
    );

    let (status, _) = h.scrape("/other").await;
    assert!(status.contains("404"), "{status}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_made_by_hand_is_repaired_by_the_periodic_reconcile_and_counted() {
    let backend = fake_backend();
    let mut h = start_full(
        tempfile::tempdir().unwrap(),
        backend.clone(),
        Box::new(decider::LogFencer),
        Duration::from_millis(200),
    );
    h.wait_published(0, "primary").await;
    let wg0: crate::model::Ifname = "wg0".parse().unwrap();
    let peers = || backend.lock().unwrap().read(&wg0).unwrap().peers;
    let victim = peers()[0].public_key;
    backend
        .lock()
        .unwrap()
        .apply(
            &wg0,
            &[crate::apply::WgChange::RemovePeer {
                public_key: victim,
                node: None,
            }],
        )
        .unwrap();
    assert!(!peers().iter().any(|p| p.public_key == victim));
    let deadline = Instant::now() + Duration::from_secs(5);
    let repaired = loop {
        let (_, body) = h.scrape("/metrics").await;
        let n = sample(&body, "fabric_drift_repaired_total").unwrap();
        if n >= 1.0 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(repaired, 1.0, "one peer put back");
    assert!(peers().iter().any(|p| p.public_key == victim));
    h.stop().await;
}

/// Records what the decider asks of the fencer.
#[derive(Clone, Default)]
struct RecordingFencer(Arc<Mutex<Vec<String>>>);

impl RecordingFencer {
    fn record(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }
}

impl decider::Fencer for RecordingFencer {
    fn fence(
        &mut self,
        node: &str,
        at: decider::Epoch<'_>,
        _: &load::Loaded,
    ) -> anyhow::Result<()> {
        self.record(format!("fence {node} {}", at.layout));
        Ok(())
    }

    fn keep_fenced(
        &mut self,
        node: &str,
        at: decider::Epoch<'_>,
        _: &load::Loaded,
    ) -> anyhow::Result<()> {
        self.record(format!("keep {node} {}", at.layout));
        Ok(())
    }

    fn decided(&mut self, epoch: u64) {
        self.record(format!("decided {epoch}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_is_kept_on_every_reconcile_until_failback() {
    let fencer = RecordingFencer::default();
    let calls = fencer.0.clone();
    let mut h = start_full(
        tempfile::tempdir().unwrap(),
        fake_backend(),
        Box::new(fencer),
        Duration::from_millis(100),
    );
    h.wait_published(0, "primary").await;
    h.wait_reconciles(3.0).await;
    assert!(
        calls.lock().unwrap().is_empty(),
        "no fence in primary: {:?}",
        calls.lock().unwrap()
    );
    let r = h
        .request(Request::Failover {
            to: "chr02".into(),
            dry_run: false,
        })
        .await;
    assert!(r.ok, "{}", r.text);
    h.wait_published(1, "chr02").await;
    h.wait_reconciles(3.0).await;
    {
        let c = calls.lock().unwrap();
        // The decision reaches the fencer before the fence it orders.
        assert_eq!(c[0], "decided 1", "{c:?}");
        let c: Vec<&String> = c[1..].iter().collect();
        assert_eq!(c[0], "fence chr01 chr02", "{c:?}");
        assert!(c.len() >= 3, "{c:?}");
        assert!(c[1..].iter().all(|x| *x == "keep chr01 chr02"), "{c:?}");
    }
    assert!(h.request(Request::Failback { dry_run: false }).await.ok);
    h.wait_published(2, "primary").await;
    assert!(
        calls.lock().unwrap().contains(&"decided 2".to_string()),
        "the failback is told to the fencer: {:?}",
        calls.lock().unwrap()
    );
    // The reconcile running at the failback may still keep the fence once; after it, none.
    h.wait_reconciles(1.0).await;
    let before = calls.lock().unwrap().len();
    h.wait_reconciles(3.0).await;
    assert_eq!(
        calls.lock().unwrap().len(),
        before,
        "no fence kept after failback: {:?}",
        calls.lock().unwrap()
    );
    h.stop().await;
}

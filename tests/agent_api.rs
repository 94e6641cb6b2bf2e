//! The agent API in process on 127.0.0.1: authentication (401 for an unknown token), the
//! pinned certificate (a client pinned to another certificate refuses the server), the
//! long-poll (wakes on publish, 204 after the window, never hands out an epoch that is not
//! newer than the caller's), graceful shutdown, and the agent loop with a fake applier
//! (applies newer epochs only, persists them, survives an unreachable controller).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fabric::agent::{AgentLoop, Applier, Backoff, ControllerClient};
use fabric::control::{Published, serve_with};
use fabric::model::Secret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Server {
    addr: SocketAddr,
    cert: String,
    tx: watch::Sender<Published>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn published(epoch: u64, layout: &str) -> Published {
    Published {
        epoch,
        layout: layout.into(),
    }
}

async fn start_on(
    listener: TcpListener,
    cert: fabric::tls::SelfSigned,
    long_poll: Duration,
) -> Server {
    let addr = listener.local_addr().unwrap();
    let tls = fabric::tls::server_config(cert.cert_pem.as_bytes(), &cert.key_pem).unwrap();
    let (tx, rx) = watch::channel(published(0, "primary"));
    let shutdown = CancellationToken::new();
    let tokens = HashMap::from([(TOKEN.to_string(), "z640".to_string())]);
    let task = tokio::spawn(serve_with(
        listener,
        tls,
        tokens,
        rx,
        shutdown.clone(),
        long_poll,
    ));
    Server {
        addr,
        cert: cert.cert_pem,
        tx,
        shutdown,
        task,
    }
}

fn loopback_cert() -> fabric::tls::SelfSigned {
    fabric::tls::self_signed(
        &["fabric-controller".into()],
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap()
}

async fn start(long_poll: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, loopback_cert(), long_poll).await
}

impl Server {
    fn client(&self, token: &str) -> ControllerClient {
        ControllerClient::with_long_poll(
            &format!("https://{}", self.addr),
            self.cert.as_bytes(),
            Secret::new(token),
            Duration::from_secs(20),
        )
        .unwrap()
    }
}

#[tokio::test]
async fn unknown_token_is_refused_with_401() {
    let s = start(Duration::from_millis(200)).await;
    let e = s.client("not-the-token").poll(0).await.unwrap_err();
    assert!(format!("{e:#}").contains("401"), "{e:#}");
    let e = s.client("").poll(0).await.unwrap_err();
    assert!(format!("{e:#}").contains("401"), "{e:#}");
    // A prefix of the right token is not the token.
    let e = s.client(&TOKEN[..31]).poll(0).await.unwrap_err();
    assert!(format!("{e:#}").contains("401"), "{e:#}");
    assert_eq!(s.client(TOKEN).poll(0).await.unwrap(), None);
}

#[tokio::test]
async fn client_pinned_to_another_certificate_refuses_the_server() {
    let s = start(Duration::from_millis(200)).await;
    let other = loopback_cert();
    let c = ControllerClient::new(
        &format!("https://{}", s.addr),
        other.cert_pem.as_bytes(),
        Secret::new(TOKEN),
    )
    .unwrap();
    let e = format!("{:#}", c.poll(0).await.unwrap_err());
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    // The right pin, but the certificate does not name the address dialled.
    let c = ControllerClient::new(
        &format!("https://localhost:{}", s.addr.port()),
        s.cert.as_bytes(),
        Secret::new(TOKEN),
    )
    .unwrap();
    let e = format!("{:#}", c.poll(0).await.unwrap_err());
    assert!(
        e.contains("certificate") || e.contains("NotValidForName"),
        "{e}"
    );
}

#[tokio::test]
async fn long_poll_wakes_on_publish_and_answers_204_after_the_window() {
    let s = start(Duration::from_secs(15)).await;
    let c = s.client(TOKEN);
    let waiting = tokio::spawn(async move { c.poll(0).await });
    // Let the request reach the server (bounded: the request is pending, not answered).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "nothing newer than 0 yet");
    let t = Instant::now();
    s.tx.send(published(1, "chr02")).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken by the publish")
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(published(1, "chr02")));
    eprintln!("publish → long-poll answer: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(1));

    let short = start(Duration::from_millis(300)).await;
    let t = Instant::now();
    assert_eq!(short.client(TOKEN).poll(0).await.unwrap(), None);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn never_delivers_an_epoch_that_is_not_newer_than_the_callers() {
    let s = start(Duration::from_millis(300)).await;
    let c = s.client(TOKEN);
    s.tx.send(published(5, "chr02")).unwrap();
    assert_eq!(c.poll(0).await.unwrap(), Some(published(5, "chr02")));
    assert_eq!(c.poll(4).await.unwrap(), Some(published(5, "chr02")));
    assert_eq!(c.poll(5).await.unwrap(), None);
    s.tx.send(published(3, "primary")).unwrap();
    assert_eq!(
        c.poll(5).await.unwrap(),
        None,
        "an older epoch is never sent"
    );
    assert_eq!(c.poll(7).await.unwrap(), None);
}

#[tokio::test]
async fn shutdown_answers_pending_polls_and_returns_promptly() {
    let s = start(Duration::from_secs(30)).await;
    let c = s.client(TOKEN);
    let waiting = tokio::spawn(async move { c.poll(0).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    s.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(3), s.task)
        .await
        .expect("serve returns within 3 s")
        .unwrap();
    let r = waiting.await.unwrap();
    assert!(format!("{:#}", r.unwrap_err()).contains("503"));
    eprintln!("shutdown with a pending long-poll: {:?}", t.elapsed());
}

/// Records the layouts it was asked to apply.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Applier for Recorder {
    fn apply(&mut self, layout: &str) -> anyhow::Result<Vec<String>> {
        self.0.lock().unwrap().push(layout.to_string());
        Ok(vec![format!("applied {layout}")])
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn agent_applies_newer_epochs_persists_them_and_resumes_from_the_state() {
    let s = start(Duration::from_secs(5)).await;
    let state = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let stop = CancellationToken::new();
    let agent = AgentLoop {
        client: s.client(TOKEN),
        state_dir: state.path().to_path_buf(),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
    };
    let task = tokio::spawn(agent.run(rec.clone(), stop.clone()));
    s.tx.send(published(2, "chr02")).unwrap();
    wait_until("epoch 2 applied", || {
        fabric::agent::state::read(state.path()).unwrap() == Some(published(2, "chr02"))
    })
    .await;
    s.tx.send(published(1, "primary")).unwrap(); // older: never delivered
    s.tx.send(published(3, "split-role")).unwrap();
    wait_until("epoch 3 applied", || {
        fabric::agent::state::read(state.path()).unwrap() == Some(published(3, "split-role"))
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(*rec.0.lock().unwrap(), ["chr02", "split-role"]);

    // A restarted agent re-applies what it had and asks only for newer epochs.
    let rec2 = Recorder::default();
    let stop = CancellationToken::new();
    let agent = AgentLoop {
        client: s.client(TOKEN),
        state_dir: state.path().to_path_buf(),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
    };
    let task = tokio::spawn(agent.run(rec2.clone(), stop.clone()));
    wait_until("re-apply at start", || !rec2.0.lock().unwrap().is_empty()).await;
    s.tx.send(published(4, "primary")).unwrap();
    wait_until("epoch 4", || rec2.0.lock().unwrap().len() == 2).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(*rec2.0.lock().unwrap(), ["split-role", "primary"]);
}

#[tokio::test]
async fn agent_keeps_retrying_while_the_controller_is_unreachable() {
    // Reserve a port, free it, point the agent at it: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cert = loopback_cert();
    let client = ControllerClient::with_long_poll(
        &format!("https://127.0.0.1:{port}"),
        cert.cert_pem.as_bytes(),
        Secret::new(TOKEN),
        Duration::from_secs(5),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let stop = CancellationToken::new();
    let agent = AgentLoop {
        client,
        state_dir: state.path().to_path_buf(),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
    };
    let task = tokio::spawn(agent.run(rec.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rec.0.lock().unwrap().is_empty(),
        "nothing applied while unreachable"
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let s = start_on(listener, cert, Duration::from_secs(5)).await;
    s.tx.send(published(1, "chr02")).unwrap();
    wait_until("applied after the controller came back", || {
        rec.0.lock().unwrap().len() == 1
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

/// Fails its first apply (like a wireguard-go that is not up yet).
#[derive(Clone, Default)]
struct FailsFirst(Arc<Mutex<u32>>);

impl Applier for FailsFirst {
    fn apply(&mut self, layout: &str) -> anyhow::Result<Vec<String>> {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        if *n == 1 {
            anyhow::bail!("wireguard-go refused {layout}");
        }
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_failed_apply_is_not_recorded_and_is_retried() {
    let s = start(Duration::from_secs(5)).await;
    let state = tempfile::tempdir().unwrap();
    let applier = FailsFirst::default();
    let stop = CancellationToken::new();
    let agent = AgentLoop {
        client: s.client(TOKEN),
        state_dir: state.path().to_path_buf(),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
    };
    let task = tokio::spawn(agent.run(applier.clone(), stop.clone()));
    s.tx.send(published(1, "chr02")).unwrap();
    wait_until("applied on the second attempt", || {
        fabric::agent::state::read(state.path()).unwrap() == Some(published(1, "chr02"))
    })
    .await;
    assert_eq!(*applier.0.lock().unwrap(), 2);
    stop.cancel();
    task.await.unwrap().unwrap();
}

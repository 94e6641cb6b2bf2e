//! `fabric agent` end to end in the netns lab (root): the shipped topology is booted with
//! `fabric lab up`; a stand-in publisher (this test, using the real agent API `serve` with a
//! `watch` channel it controls) listens on VPS01's underlay address inside VPS01's namespace;
//! `fabric agent` runs in Z640's namespace. CHR01's underlay is cut, VPS01 is moved to
//! layout `chr02` (the failover daemon's job in production), `(epoch 2, chr02)` is published,
//! and Z640 must reach VPS01 over wg0 through CHR02 again; the time from the publish to the
//! first ping reply is printed. An older epoch published afterwards is never applied.
//!
//! The second test runs the RouterOS REST stand-in (`fabric lab rest-standin`) in CHR01's
//! namespace and drives it with the REST client from VPS01's namespace: health probe,
//! listing, fencing (Z640 loses VPS01 while CHR01's fabric peers are disabled) and undoing it.
//! Traffic stays inside the lab's namespaces; the underlay is TEST-NET only.

mod support;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fabric::control::Published;
use support::netns::{poll_until, require_root};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");
const CONTROLLER: &str = "198.51.100.20:8444";

/// A lab (torn down on drop, also on panic) with the agent and the publisher running.
struct Lab {
    prefix: String,
    topology: String,
    agent: Option<Child>,
    publisher: Option<(CancellationToken, std::thread::JoinHandle<()>)>,
}

impl Lab {
    fn fabric_lab(&self, args: &[&str]) -> Output {
        Command::new(FABRIC)
            .args(["lab", "--prefix", &self.prefix])
            .args(args)
            .output()
            .unwrap()
    }

    fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--"];
        args.extend_from_slice(cmd);
        self.fabric_lab(&args)
    }

    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    fn secrets(&self) -> PathBuf {
        fabric::lab::root(&self.prefix).join("secrets")
    }

    fn ping_once(&self, node: &str, addr: &str) -> bool {
        self.exec(node, &["ping", "-c1", "-W1", addr])
            .status
            .success()
    }

    fn wg_endpoints(&self, node: &str) -> String {
        text(&self.exec(node, &["wg", "show", "wg0", "endpoints"]).stdout)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        if let Some((stop, t)) = self.publisher.take() {
            stop.cancel();
            let _ = t.join();
        }
        let _ = self.fabric_lab(&["down"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn published(epoch: u64, layout: &str) -> Published {
    Published {
        epoch,
        layout: layout.into(),
    }
}

/// Runs `f` on a thread that entered namespace `ns`, in a runtime of its own (every socket
/// the future opens is made in that namespace).
fn in_ns<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    ns: &str,
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    let ns = File::open(Path::new("/run/netns").join(ns)).unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a valid namespace fd.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
    .join()
    .unwrap()
}

/// A TCP listener created inside namespace `ns` (a socket keeps the namespace it was made
/// in; only the helper thread enters the namespace).
fn listen_in(ns: &str, addr: &str) -> std::net::TcpListener {
    let ns = File::open(Path::new("/run/netns").join(ns)).unwrap();
    let addr = addr.to_string();
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only, with a valid namespace fd.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let l = std::net::TcpListener::bind(&addr).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    })
    .join()
    .unwrap()
}

/// Starts the agent API (the real `serve`) on the listener; returns the publish handle.
fn start_publisher(lab: &mut Lab, listener: std::net::TcpListener) -> watch::Sender<Published> {
    let dir = fabric::shell::secrets::SecretsDir::new(lab.secrets());
    let t = fabric::shell::topology::read(Path::new(&lab.topology))
        .unwrap()
        .unwrap();
    let tokens = dir.agent_tokens(&t).unwrap();
    let tls = dir.controller_tls().unwrap();
    let (tx, rx) = watch::channel(published(1, "primary"));
    let stop = CancellationToken::new();
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            fabric::control::serve(l, tls, tokens, rx, s).await
        });
    });
    lab.publisher = Some((stop, thread));
    tx
}

fn applied(state: &Path) -> Option<Published> {
    fabric::agent::state::read(state).ok().flatten()
}

/// Time from a publish to Z640's first ping reply from VPS01 (pings every 10 ms).
fn publish_and_time(
    lab: &Lab,
    tx: &watch::Sender<Published>,
    p: Published,
    log: &dyn Fn() -> String,
) -> Duration {
    let (done_tx, done_rx) = mpsc::channel();
    let ns = lab.ns("z640");
    let t0 = Instant::now();
    tx.send(p).unwrap();
    // One echo at a time, 50 ms reply wait, until a reply or 15 s. (A single `ping -w15`
    // gives up at the first send error when ping sockets are enabled, as in the lab, and
    // WireGuard reports one while the new handshake is in flight.)
    std::thread::spawn(move || {
        let deadline = t0 + Duration::from_secs(15);
        let mut ok = false;
        while !ok && Instant::now() < deadline {
            ok = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "ping",
                    "-n",
                    "-c1",
                    "-W0.05",
                    "10.0.12.20",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
        }
        let _ = done_tx.send((ok, t0.elapsed()));
    });
    let (ok, elapsed) = done_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        ok,
        "z640 did not reach vps01 within 15 s of the publish; agent log:\n{}",
        log()
    );
    elapsed
}

#[test]
fn agent_moves_z640_to_the_published_hub_and_never_applies_an_older_epoch() {
    require_root();
    let mut lab = boot(format!("a{}", std::process::id() % 100_000), &[]);

    let listener = listen_in(&lab.ns("vps01"), CONTROLLER);
    let tx = start_publisher(&mut lab, listener);

    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let log = File::create(work.path().join("agent.log")).unwrap();
    let ns = fabric::lab::Ns::new(lab.ns("z640"), &fabric::lab::root(&lab.prefix));
    let secrets = lab.secrets().to_string_lossy().into_owned();
    let state_arg = state.to_string_lossy().into_owned();
    let controller = format!("https://{CONTROLLER}");
    let agent = ns
        .command(&[
            FABRIC,
            "agent",
            "--node",
            "z640",
            "--controller",
            &controller,
            "-t",
            &lab.topology,
            "--secrets",
            &secrets,
            "--state-dir",
            &state_arg,
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    lab.agent = Some(agent);
    let agent_log = || std::fs::read_to_string(work.path().join("agent.log")).unwrap_or_default();
    assert!(
        poll_until(
            Duration::from_secs(15),
            Duration::from_millis(20),
            || applied(&state) == Some(published(1, "primary"))
        ),
        "the agent applies the current decision (1, primary): {}",
        agent_log()
    );

    // Rounds: the current hub dies (its underlay link goes down), VPS01 follows the decision
    // (in production: the controller's own apply) and has a session with the new hub before
    // the spokes are told, then the decision is published and Z640 must reach VPS01 again.
    let sec = lab.secrets().to_string_lossy().into_owned();
    let hubs = [
        ("chr01", "10.0.12.1", "203.0.113.10:51820", "primary"),
        ("chr02", "10.0.12.2", "203.0.113.20:51820", "chr02"),
    ];
    let mut times = Vec::new();
    for round in 0..5u64 {
        let (old, new) = if round % 2 == 0 {
            (hubs[0], hubs[1])
        } else {
            (hubs[1], hubs[0])
        };
        let link = |node: &str, state: &str| {
            let ok = Command::new("ip")
                .args(["-n", &lab.ns(node), "link", "set", "eth0", state])
                .status()
                .unwrap();
            assert!(ok.success());
            if state == "up" {
                // Routes through a link go away while it is down (lab underlay: lab/mod.rs).
                for route in [
                    &["192.0.2.254", "dev", "eth0"][..],
                    &["default", "via", "192.0.2.254", "dev", "eth0"],
                ] {
                    let _ = Command::new("ip")
                        .args(["-n", &lab.ns(node), "route", "replace"])
                        .args(route)
                        .status();
                }
            }
        };
        link(new.0, "up");
        link(old.0, "down");
        if round == 0 {
            assert!(
                !lab.ping_once("z640", "10.0.12.20"),
                "z640 must lose vps01 with chr01 cut"
            );
        }
        let out = lab.exec(
            "vps01",
            &[
                FABRIC,
                "apply",
                "--node",
                "vps01",
                "-t",
                &lab.topology,
                "--secrets",
                &sec,
                "--layout",
                new.3,
            ],
        );
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            poll_until(Duration::from_secs(10), Duration::from_millis(10), || lab
                .ping_once("vps01", new.1)),
            "vps01 reaches {}",
            new.0
        );
        let epoch = round + 2;
        let took = publish_and_time(&lab, &tx, published(epoch, new.3), &agent_log);
        eprintln!(
            "round {round}: publish (epoch {epoch}, {}) -> first ping reply z640 -> vps01 via {}: {took:?}",
            new.3, new.0
        );
        // The agent records the epoch right after its apply; the ping may win that race.
        assert!(
            poll_until(
                Duration::from_secs(5),
                Duration::from_millis(5),
                || applied(&state) == Some(published(epoch, new.3))
            ),
            "{}",
            agent_log()
        );
        let endpoints = lab.wg_endpoints("z640");
        assert!(
            endpoints.contains(new.2),
            "z640's hub is {}: {endpoints}",
            new.0
        );
        times.push(took);
    }
    times.sort();
    eprintln!(
        "publish -> first ping over the new hub, {} rounds: min {:?}, median {:?}, max {:?}",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert!(times[times.len() - 1] < Duration::from_secs(2), "{times:?}");
    // After 5 rounds: epoch 6, layout chr02. One more hub change without any traffic: the
    // agent's kick alone must bring up a session with the new hub (chr01) at once.
    {
        let link = |node: &str, state: &str| {
            Command::new("ip")
                .args(["-n", &lab.ns(node), "link", "set", "eth0", state])
                .status()
                .unwrap();
        };
        link("chr01", "up");
        for route in [
            &["192.0.2.254", "dev", "eth0"][..],
            &["default", "via", "192.0.2.254", "dev", "eth0"],
        ] {
            let _ = Command::new("ip")
                .args(["-n", &lab.ns("chr01"), "route", "replace"])
                .args(route)
                .status();
        }
        link("chr02", "down");
        let out = lab.exec(
            "vps01",
            &[
                FABRIC,
                "apply",
                "--node",
                "vps01",
                "-t",
                &lab.topology,
                "--secrets",
                &sec,
                "--layout",
                "primary",
            ],
        );
        assert!(out.status.success());
        // Like the rounds above: VPS01 talks to the new hub before spokes are told (this also
        // waits out the kernel's link-watch delay after the hub's link came back up).
        assert!(poll_until(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || lab.ping_once("vps01", "10.0.12.1")
        ));
        let t0 = Instant::now();
        tx.send(published(7, "primary")).unwrap();
        let handshake = || {
            let out = text(
                &lab.exec("z640", &["wg", "show", "wg0", "latest-handshakes"])
                    .stdout,
            );
            let lines: Vec<&str> = out.lines().collect();
            applied(&state) == Some(published(7, "primary"))
                && lines.len() == 1
                && lines[0]
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|ts| ts != "0")
        };
        assert!(
            poll_until(Duration::from_secs(10), Duration::from_millis(5), handshake),
            "no handshake with chr01 without traffic: {}",
            agent_log()
        );
        eprintln!(
            "publish (epoch 7, primary) -> handshake with chr01, no traffic: {:?}",
            t0.elapsed()
        );
        assert!(lab.wg_endpoints("z640").contains("203.0.113.10:51820"));
    }

    // An older epoch is never applied; a newer one after it is (proves the agent kept going).
    tx.send(published(3, "split-role")).unwrap(); // older than 7
    tx.send(published(8, "primary")).unwrap();
    assert!(
        poll_until(
            Duration::from_secs(10),
            Duration::from_millis(20),
            || applied(&state) == Some(published(8, "primary"))
        ),
        "{}",
        agent_log()
    );
    let endpoints = lab.wg_endpoints("z640");
    assert!(
        endpoints.contains("203.0.113.10:51820"),
        "still chr01: {endpoints}"
    );
    let applied_lines: Vec<String> = agent_log()
        .lines()
        .filter(|l| l.contains(" applied"))
        .map(String::from)
        .collect();
    assert!(
        applied_lines.iter().all(|l| !l.contains("split-role")),
        "the older epoch 3 (split-role) was applied: {applied_lines:#?}"
    );
    eprintln!("agent log:\n{}", agent_log());
}

fn boot(prefix: String, extra: &[&str]) -> Lab {
    let topology = support::fabric::topology_path()
        .to_string_lossy()
        .into_owned();
    let lab = Lab {
        prefix,
        topology,
        agent: None,
        publisher: None,
    };
    let mut args = vec!["up", "-t", &lab.topology, "--layout", "primary"];
    args.extend_from_slice(extra);
    let up = lab.fabric_lab(&args);
    assert!(
        up.status.success(),
        "lab up: {}{}",
        text(&up.stdout),
        text(&up.stderr)
    );
    assert!(
        poll_until(Duration::from_secs(20), Duration::from_millis(50), || lab
            .ping_once("z640", "10.0.12.20")),
        "z640 reaches vps01 through chr01"
    );
    lab
}

#[test]
fn rest_standin_in_chr01_is_probed_and_fenced_from_vps01() {
    use fabric::routeros_rest::{Menu, RestClient};
    require_root();
    let lab = boot(
        format!("r{}", std::process::id() % 100_000),
        &["--rest-standins"],
    );
    let (crt, _, pw) = fabric::lab::rest::files(&lab.prefix, "chr01");
    let password = std::fs::read_to_string(&pw).unwrap().trim().to_string();
    let standin_log = || {
        std::fs::read_to_string(fabric::lab::root(&lab.prefix).join("rest/chr01.log"))
            .unwrap_or_default()
    };
    let pinned = std::fs::read(&crt).unwrap();
    let client = move || {
        RestClient::new(
            "https://203.0.113.10:8443",
            fabric::lab::rest::USER,
            fabric::model::Secret::new(password.clone()),
            &pinned,
        )
        .unwrap()
    };

    let c = client.clone();
    let (probe, peers, fenced) = in_ns(&lab.ns("vps01"), move || async move {
        let c = c();
        let t = Instant::now();
        let res = c.system_resource().await.unwrap();
        let probe = t.elapsed();
        assert!(res["platform"].contains("stand-in"));
        let peers = c.list(Menu::WireguardPeers, &[]).await.unwrap();
        let fenced = c.disable_fabric_peers().await.unwrap();
        (probe, peers, fenced)
    });
    eprintln!("REST probe from vps01 to the chr01 stand-in: {probe:?}");
    let names: Vec<&str> = peers
        .iter()
        .filter_map(|p| p.get("name").map(String::as_str))
        .collect();
    for n in ["z640", "nuc", "vps01"] {
        assert!(names.contains(&n), "chr01 peers {names:?}");
    }
    assert!(peers.iter().all(|p| p["comment"].starts_with("fabric:")));
    assert_eq!(fenced.len(), peers.len(), "every fabric peer fenced");
    let wg = text(&lab.exec("chr01", &["wg", "show", "wg0", "peers"]).stdout);
    assert!(
        wg.trim().is_empty(),
        "chr01's wg0 has no peers while fenced: {wg}"
    );
    assert!(
        !lab.ping_once("z640", "10.0.12.20"),
        "z640 cannot reach vps01 through a fenced chr01"
    );

    let c = client.clone();
    let enabled = in_ns(&lab.ns("vps01"), move || async move {
        c().enable_fabric_peers().await.unwrap()
    });
    assert_eq!(enabled.len(), peers.len());
    let t = Instant::now();
    assert!(
        poll_until(Duration::from_secs(20), Duration::from_millis(20), || lab
            .ping_once("z640", "10.0.12.20")),
        "z640 reaches vps01 again after the fence is lifted: {}",
        standin_log()
    );
    eprintln!("fence lifted -> z640 reaches vps01: {:?}", t.elapsed());
}

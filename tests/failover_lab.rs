//! `fabric serve` end to end in the netns lab (root): the controller runs in vps01's
//! namespace; CHR01's underlay veth is cut in the inet namespace → the controller fails over
//! to the policy's target within a bound, persists the epoch, and vps01's own wg0 follows
//! (`chr02`: its peer is CHR02 and CHR02's tunnel address answers; `split-role`: vps01 is the
//! wg0 hub). Manual `fabric failover --to split-role` + `fabric failback`; `kill -9` after a
//! persisted epoch → the restarted controller resumes it; a bad topology on SIGHUP keeps the
//! old one; 30 % random loss on CHR01's underlay (nftables) → no failover.
//! Traffic stays inside the lab's namespaces (TEST-NET underlay). Labs are torn down on drop.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::netns::{poll_until, require_root};

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");
/// Labs boot several wireguard-go processes each; one at a time keeps timings honest.
static ONE_LAB: Mutex<()> = Mutex::new(());

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A lab plus a controller in vps01's namespace; everything is torn down on drop.
struct Lab {
    prefix: String,
    dir: tempfile::TempDir,
    topology: PathBuf,
    serve: Option<Child>,
}

impl Lab {
    /// Boots the lab with the shipped topology, `failover.target` replaced by `target`.
    fn up(tag: &str, target: &str) -> Lab {
        let target = format!("  target: {target} ");
        Lab::up_with(tag, &[("  target: chr02 ", &target)])
    }

    /// Boots the lab with the shipped topology, each `(from, to)` replaced once.
    fn up_with(tag: &str, edits: &[(&str, &str)]) -> Lab {
        require_root();
        let prefix = format!("f{}{tag}", std::process::id() % 100_000);
        let dir = tempfile::tempdir().unwrap();
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("topology.yaml"))
                .unwrap();
        let topology = dir.path().join("topology.yaml");
        let mut edited = shipped;
        for (from, to) in edits {
            assert!(edited.contains(from), "{from:?} not in topology.yaml");
            edited = edited.replacen(from, to, 1);
        }
        std::fs::write(&topology, edited).unwrap();
        let lab = Lab {
            prefix,
            dir,
            topology,
            serve: None,
        };
        let out = lab.lab(&["up", "-t", lab.topology.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "lab up: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        lab
    }

    fn lab(&self, args: &[&str]) -> Output {
        Command::new(FABRIC)
            .args(["lab", "--prefix", &self.prefix])
            .args(args)
            .output()
            .unwrap()
    }

    fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--"];
        args.extend_from_slice(cmd);
        self.lab(&args)
    }

    fn control(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    /// Starts `fabric serve` in vps01's namespace. The child *is* the daemon (the namespace
    /// wrapper execs), so its PID is the daemon's.
    fn start_serve(&mut self) {
        let secrets = fabric::lab::root(&self.prefix).join("secrets");
        self.start_serve_with(&[], &secrets);
    }

    /// Starts `fabric serve` behind `wrapper` (e.g. `setpriv …`) with the given secrets.
    fn start_serve_with(&mut self, wrapper: &[&str], secrets: &Path) {
        let ns = self.vps01();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.push(FABRIC);
        let child = ns
            .command(
                &[
                    argv.as_slice(),
                    &[
                        "serve",
                        "-t",
                        self.topology.to_str().unwrap(),
                        "--secrets",
                        secrets.to_str().unwrap(),
                        "--state-dir",
                        self.state_dir().to_str().unwrap(),
                        "--control",
                        self.control().to_str().unwrap(),
                    ],
                ]
                .concat(),
            )
            .env("NOTIFY_SOCKET", self.dir.path().join("notify.sock"))
            .env("WATCHDOG_USEC", "400000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.serve = Some(child);
        let ok = poll_until(Duration::from_secs(15), Duration::from_millis(50), || {
            self.status().is_some_and(|s| s.contains("last round"))
        });
        assert!(ok, "fabric serve did not come up:\n{}", self.log_text());
    }

    fn vps01(&self) -> fabric::lab::Ns {
        fabric::lab::Ns::new(
            format!("{}-vps01", self.prefix),
            &fabric::lab::root(&self.prefix),
        )
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// `fabric status` output, or None when the daemon does not answer.
    fn status(&self) -> Option<String> {
        let out = self.fabric(&["status"]);
        out.status.success().then(|| text(&out.stdout))
    }

    /// `fabric ARGS --control SOCK`.
    fn fabric(&self, args: &[&str]) -> Output {
        Command::new(FABRIC)
            .args(args)
            .args(["--control", self.control().to_str().unwrap()])
            .output()
            .unwrap()
    }

    fn persisted(&self) -> Option<(u64, String)> {
        let t = std::fs::read_to_string(self.state_dir().join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        Some((v["epoch"].as_u64()?, v["layout"].as_str()?.to_string()))
    }

    /// Waits until the persisted state is `(epoch, layout)`; returns how long it took.
    fn wait_persisted(&self, epoch: u64, layout: &str, within: Duration) -> Duration {
        let start = Instant::now();
        let ok = poll_until(within, Duration::from_millis(10), || {
            self.persisted() == Some((epoch, layout.to_string()))
        });
        assert!(
            ok,
            "no epoch {epoch} / {layout} within {within:?}: {:?}\n{}",
            self.persisted(),
            self.log_text()
        );
        start.elapsed()
    }

    /// The underlay veth of `node` in the inet namespace (`ip route get` its endpoint).
    fn underlay_link(&self, endpoint: &str) -> String {
        let out = Command::new("ip")
            .args([
                "-n",
                &format!("{}-inet", self.prefix),
                "route",
                "get",
                endpoint,
            ])
            .output()
            .unwrap();
        let route = text(&out.stdout);
        let mut words = route.split_whitespace();
        words.find(|w| *w == "dev");
        words.next().expect("a dev in `ip route get`").to_string()
    }

    /// Brings a cut underlay link back: link up, and the host route the kernel dropped with it.
    fn restore(&self, link: &str, endpoint: &str) {
        self.inet(&["link", "set", link, "up"]);
        self.inet(&["route", "replace", &format!("{endpoint}/32"), "dev", link]);
    }

    fn inet(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &format!("{}-inet", self.prefix)])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
    }

    fn wg(&self, args: &[&str]) -> String {
        let mut cmd = vec!["wg", "show"];
        cmd.extend_from_slice(args);
        let out = self.exec("vps01", &cmd);
        assert!(out.status.success(), "wg show: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Pings from vps01 until one reply or the deadline.
    fn vps01_reaches(&self, addr: &str) -> bool {
        poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            self.exec("vps01", &["ping", "-c1", "-W1", addr])
                .status
                .success()
        })
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.serve.take() {
            c.kill().unwrap(); // SIGKILL, by PID
            c.wait().unwrap();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.kill9();
        let _ = self.lab(&["down"]);
    }
}

#[test]
fn cut_hub_underlay_fails_over_to_chr02_and_restart_resumes_the_epoch() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("a", "chr02");
    lab.start_serve();
    assert!(lab.status().unwrap().contains("layout primary"));
    let link = lab.underlay_link("203.0.113.10");
    let cut = Instant::now();
    lab.inet(&["link", "set", &link, "down"]);
    let took = lab.wait_persisted(1, "chr02", Duration::from_secs(3));
    eprintln!(
        "chr02: failover persisted {:.3} s after the cut",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_millis(1500),
        "detection took {took:?}"
    );
    let endpoints = lab.wg(&["wg0", "endpoints"]);
    assert!(
        endpoints.contains("203.0.113.20:51820") && !endpoints.contains("203.0.113.10"),
        "vps01's wg0 must point at chr02: {endpoints}"
    );
    assert!(
        lab.vps01_reaches("10.0.12.2"),
        "vps01 reaches chr02 over wg0"
    );
    eprintln!(
        "chr02: vps01 → chr02 over wg0 {:.3} s after the cut",
        cut.elapsed().as_secs_f64()
    );
    let status = lab.status().unwrap();
    assert!(
        status.contains("epoch 1") && status.contains("layout chr02"),
        "{status}"
    );

    // kill -9 after the epoch was persisted; the restart resumes it and stays put (manual
    // failback), even though chr01 is back by now.
    lab.kill9();
    lab.restore(&link, "203.0.113.10");
    lab.start_serve();
    let status = lab.status().unwrap();
    assert!(
        status.contains("epoch 1") && status.contains("layout chr02"),
        "restart must resume epoch 1 on chr02: {status}"
    );
    assert!(lab.log_text().contains("resuming persisted state"));
    assert_eq!(lab.persisted(), Some((1, "chr02".into())));
    assert!(lab.wg(&["wg0", "endpoints"]).contains("203.0.113.20:51820"));
}

#[test]
fn cut_hub_underlay_with_split_role_target_makes_vps01_the_wg0_hub() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("b", "split-role");
    lab.start_serve();
    let link = lab.underlay_link("203.0.113.10");
    lab.inet(&["link", "set", &link, "down"]);
    let took = lab.wait_persisted(1, "split-role", Duration::from_secs(3));
    eprintln!(
        "split-role: failover persisted {:.3} s after the cut",
        took.as_secs_f64()
    );
    let port = lab.wg(&["wg0", "listen-port"]);
    assert_eq!(port.trim(), "51820");
    let peers = lab.wg(&["wg0", "allowed-ips"]);
    for spoke in ["10.0.12.30/32", "10.0.12.31/32", "10.0.12.1/32"] {
        assert!(
            peers.contains(spoke),
            "vps01 as wg0 hub has a peer for {spoke}: {peers}"
        );
    }
    assert!(
        !peers.contains("10.0.12.0/24"),
        "vps01 is no longer a spoke (no peer carries the whole wg0 subnet): {peers}"
    );
    assert!(
        lab.vps01_reaches("10.0.12.20"),
        "the new hub's tunnel address answers"
    );
}

#[test]
fn manual_failover_to_split_role_then_failback_returns_to_primary() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("c", "chr02");
    let notify =
        std::os::unix::net::UnixDatagram::bind(lab.dir.path().join("notify.sock")).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    lab.start_serve();
    // systemd protocol: READY=1 (after reconcile + DNS bound), then watchdog pings every 200 ms.
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < 3 {
        let n = notify.recv(&mut buf).expect("sd_notify datagrams");
        got.push(text(&buf[..n]));
    }
    assert_eq!(got[0], "READY=1", "{got:?}");
    assert!(got[1..].iter().all(|m| m == "WATCHDOG=1"), "{got:?}");
    let log = lab.log_text();
    assert!(
        log.find("DNS bound").unwrap() < log.find("daemon: ready").unwrap(),
        "{log}"
    );

    let dry = lab.fabric(&["failover", "--to", "split-role", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let dry = text(&dry.stdout);
    assert!(
        dry.contains("persist epoch 1 layout split-role") && dry.contains("+ peer z640"),
        "{dry}"
    );
    assert_eq!(lab.persisted(), None, "a dry run persists nothing");
    assert!(lab.wg(&["wg0", "endpoints"]).contains("203.0.113.10:51820"));

    let unknown = lab.fabric(&["failover", "--to", "nowhere"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("layout \"nowhere\" is not defined"));

    let out = lab.fabric(&["failover", "--to", "split-role"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("now: epoch 1 layout split-role"));
    assert_eq!(lab.persisted(), Some((1, "split-role".into())));
    assert_eq!(lab.wg(&["wg0", "listen-port"]).trim(), "51820");
    assert!(lab.wg(&["wg0", "allowed-ips"]).contains("10.0.12.30/32"));
    assert!(lab.status().unwrap().contains("phase manual"));

    // SIGHUP with a broken topology: logged, the old one kept, the daemon keeps answering.
    let good = std::fs::read_to_string(&lab.topology).unwrap();
    std::fs::write(
        &lab.topology,
        good.replacen("  target: chr02 ", "  target: nope ", 1),
    )
    .unwrap();
    let pid = lab.serve.as_ref().unwrap().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let logged = poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
        lab.log_text()
            .contains("reload failed; keeping the old topology")
    });
    assert!(logged, "{}", lab.log_text());
    std::fs::write(&lab.topology, good).unwrap();

    let out = lab.fabric(&["failback"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(lab.persisted(), Some((2, "primary".into())));
    let endpoints = lab.wg(&["wg0", "endpoints"]);
    assert!(
        endpoints.contains("203.0.113.10:51820"),
        "back on chr01: {endpoints}"
    );
    assert!(
        lab.vps01_reaches("10.0.12.1"),
        "vps01 reaches chr01 over wg0 again"
    );
    let status = lab.status().unwrap();
    assert!(
        status.contains("epoch 2") && status.contains("phase healthy"),
        "{status}"
    );
}

/// 30 % random loss in each direction on CHR01's underlay link (nftables `numgen random`)
/// for 20 s with the default policy → no failover (the 2-minute figure is in
/// src/validate/failover.rs; 200 rounds here, p ≈ 10⁻⁵).
#[test]
fn thirty_percent_loss_on_hub_underlay_does_not_fail_over() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("d", "chr02");
    lab.start_serve();
    let link = lab.underlay_link("203.0.113.10");
    let rules = format!(
        "table inet fabric_loss {{\n chain lossy {{\n  type filter hook forward priority 0; policy accept;\n  iifname \"{link}\" numgen random mod 100 < 30 counter drop\n  oifname \"{link}\" numgen random mod 100 < 30 counter drop\n }}\n}}\n"
    );
    let mut nft = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}-inet", lab.prefix),
            "nft",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    nft.stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success(), "nft rules");
    // Watch for 20 s: the poll ends early only if the controller fails over.
    let failed_over = poll_until(Duration::from_secs(20), Duration::from_millis(100), || {
        let s = lab.status().expect("daemon answers");
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
    eprintln!("30 % loss for 20 s, no failover: {counts}");
    // The loss was real: both drop rules dropped packets.
    let table = Command::new("ip")
        .args(["netns", "exec", &format!("{}-inet", lab.prefix)])
        .args(["nft", "list", "table", "inet", "fabric_loss"])
        .output()
        .unwrap();
    let dropped: Vec<u64> = text(&table.stdout)
        .lines()
        .filter_map(|l| l.split("packets ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    eprintln!("packets dropped by the two rules: {dropped:?}");
    assert!(
        dropped.len() == 2 && dropped.iter().all(|n| *n > 0),
        "{}",
        text(&table.stdout)
    );
}

/// CHR01 flapping (underlay down/up every 2 s for 24 s) with auto failback, a 1 s stable
/// window and a 10 s hold-down: layout changes are at least 10 s apart — no failback storm.
#[test]
fn flapping_hub_changes_layout_at_most_once_per_hold_down() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up_with(
        "e",
        &[
            ("  hold_down_s: 60 ", "  hold_down_s: 10 "),
            ("  failback: manual ", "  failback: auto "),
            ("  stable_s: 300 ", "  stable_s: 1 "),
        ],
    );
    lab.start_serve();
    let link = lab.underlay_link("203.0.113.10");
    let start = Instant::now();
    let mut down = false;
    let mut flips = 0;
    // Each poll flips the link; poll_until's interval is the 2 s flap period.
    poll_until(Duration::from_secs(24), Duration::from_secs(2), || {
        down = !down;
        flips += 1;
        if down {
            lab.inet(&["link", "set", &link, "down"]);
        } else {
            lab.restore(&link, "203.0.113.10");
        }
        false
    });
    lab.restore(&link, "203.0.113.10");
    let status = lab.status().unwrap();
    let times: Vec<f64> = status
        .lines()
        .filter(|l| l.starts_with("decision "))
        .filter_map(|l| l.rsplit(" at ").next()?.trim_end_matches(" s").parse().ok())
        .collect();
    eprintln!(
        "flapping {flips} times over {:.1} s: layout changes at {times:?} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        !times.is_empty(),
        "the first outage must fail over:\n{status}"
    );
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= 10.0,
            "changes closer than the hold-down: {times:?}"
        );
    }
    assert!(times.len() <= 3, "{times:?}");
}

/// The capability set of packaging/fabric.service is enough: `fabric serve` as `nobody` with
/// only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (setpriv, no-new-privs) creates vps01's
/// wireguard-go interfaces, binds DNS on :53, probes with ping sockets, and fails over.
#[test]
fn serve_needs_only_net_admin_and_net_bind_service() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("g", "chr02");
    // vps01's interfaces were made by root during `lab up`: stop them, the daemon makes its own
    let ns = format!("{}-vps01", lab.prefix);
    let pids = text(
        &Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
            .unwrap()
            .stdout,
    );
    for pid in pids.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.starts_with(b"wireguard-go") {
            assert!(Command::new("kill").arg(pid).status().unwrap().success());
        }
    }
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        !text(&lab.exec("vps01", &["ip", "link"]).stdout).contains("wg0")
    });
    assert!(gone, "vps01's wireguard-go did not stop");
    let secrets = lab.dir.path().join("secrets");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(fabric::lab::root(&lab.prefix).join("secrets"))
        .arg(&secrets)
        .status()
        .unwrap();
    assert!(copied.success());
    for path in [lab.dir.path(), lab.vps01().wg_dir.as_path()] {
        let ok = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(path)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    lab.start_serve_with(
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all,+net_admin,+net_bind_service",
            "--ambient-caps=+net_admin,+net_bind_service",
            "--bounding-set=-all,+net_admin,+net_bind_service",
            "--no-new-privs",
        ],
        &secrets,
    );
    let pid = lab.serve.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(field("Uid:"), "65534", "runs as nobody");
    // bits 10 (NET_BIND_SERVICE) and 12 (NET_ADMIN) only
    assert_eq!(field("CapEff:"), "0000000000001400");
    assert!(lab.log_text().contains("DNS bound listen=[10.33.33.1:53]"));
    assert!(
        lab.status().unwrap().contains("\"tunnel\": Good"),
        "ICMP probes work"
    );

    let link = lab.underlay_link("203.0.113.10");
    lab.inet(&["link", "set", &link, "down"]);
    lab.wait_persisted(1, "chr02", Duration::from_secs(3));
    assert!(lab.wg(&["wg0", "endpoints"]).contains("203.0.113.20:51820"));
    assert!(lab.vps01_reaches("10.0.12.2"));
}

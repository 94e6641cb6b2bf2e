//! A netns lab with `fabric serve` in vps01's namespace, for the failover tests: boot with an
//! edited copy of the shipped topology, start/kill the daemon (by PID), talk to its control
//! socket, read its state file, cut and restore CHR01's underlay. Torn down on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::netns::{poll_until, require_root};

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");
/// One lab at a time for tests that assert detection times (e.g. cut → epoch persisted within
/// 1.5 s): a lab is 12 wireguard-go processes plus a daemon probing every 100 ms, and on a
/// 2-core machine a second lab booting beside it delays probes and skews those numbers. Labs
/// share no state (own prefix, namespaces, run dirs, secrets, state and control socket), so
/// tests that assert no timing bound may run side by side (tests/hub_trouble_lab.rs).
pub static ONE_LAB: Mutex<()> = Mutex::new(());

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A lab plus a controller in vps01's namespace; everything is torn down on drop.
pub struct Lab {
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub topology: PathBuf,
    pub serve: Option<Child>,
    /// Extra arguments for `fabric serve`.
    pub serve_args: Vec<String>,
}

impl Lab {
    /// Boots the lab with the shipped topology, `failover.target` replaced by `target`.
    pub fn up(tag: &str, target: &str) -> Lab {
        let target = format!("  target: {target} ");
        Lab::up_with(tag, &[("  target: chr02 ", &target)])
    }

    /// Boots the lab with the shipped topology, each `(from, to)` replaced once.
    pub fn up_with(tag: &str, edits: &[(&str, &str)]) -> Lab {
        Lab::up_args(tag, edits, &[])
    }

    /// As [`Lab::up_with`], with extra arguments for `fabric lab up`.
    pub fn up_args(tag: &str, edits: &[(&str, &str)], up_args: &[&str]) -> Lab {
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
            serve_args: Vec::new(),
        };
        let mut args = vec!["up", "-t", lab.topology.to_str().unwrap()];
        args.extend_from_slice(up_args);
        let out = lab.lab(&args);
        assert!(
            out.status.success(),
            "lab up: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        lab
    }

    pub fn lab(&self, args: &[&str]) -> Output {
        Command::new(FABRIC)
            .args(["lab", "--prefix", &self.prefix])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--"];
        args.extend_from_slice(cmd);
        self.lab(&args)
    }

    pub fn control(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    /// Starts `fabric serve` in vps01's namespace. The child *is* the daemon (the namespace
    /// wrapper execs), so its PID is the daemon's.
    pub fn start_serve(&mut self) {
        let secrets = fabric::lab::root(&self.prefix).join("secrets");
        self.start_serve_with(&[], &secrets);
    }

    /// Starts `fabric serve` behind `wrapper` (e.g. `setpriv …`) with the given secrets.
    pub fn start_serve_with(&mut self, wrapper: &[&str], secrets: &Path) {
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
                    &self
                        .serve_args
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
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

    /// A node's namespace (with its WireGuard run dir).
    pub fn node_ns(&self, node: &str) -> fabric::lab::Ns {
        fabric::lab::Ns::new(
            format!("{}-{node}", self.prefix),
            &fabric::lab::root(&self.prefix),
        )
    }

    pub fn vps01(&self) -> fabric::lab::Ns {
        fabric::lab::Ns::new(
            format!("{}-vps01", self.prefix),
            &fabric::lab::root(&self.prefix),
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// `fabric status` output, or None when the daemon does not answer.
    pub fn status(&self) -> Option<String> {
        let out = self.fabric(&["status"]);
        out.status.success().then(|| text(&out.stdout))
    }

    /// `fabric ARGS --control SOCK`.
    pub fn fabric(&self, args: &[&str]) -> Output {
        Command::new(FABRIC)
            .args(args)
            .args(["--control", self.control().to_str().unwrap()])
            .output()
            .unwrap()
    }

    pub fn persisted(&self) -> Option<(u64, String)> {
        let t = std::fs::read_to_string(self.state_dir().join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        Some((v["epoch"].as_u64()?, v["layout"].as_str()?.to_string()))
    }

    /// Waits until the persisted state is `(epoch, layout)`; returns how long it took.
    pub fn wait_persisted(&self, epoch: u64, layout: &str, within: Duration) -> Duration {
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
    pub fn underlay_link(&self, endpoint: &str) -> String {
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
    pub fn restore(&self, link: &str, endpoint: &str) {
        self.inet(&["link", "set", link, "up"]);
        self.inet(&["route", "replace", &format!("{endpoint}/32"), "dev", link]);
    }

    pub fn inet(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &format!("{}-inet", self.prefix)])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
    }

    pub fn wg(&self, args: &[&str]) -> String {
        let mut cmd = vec!["wg", "show"];
        cmd.extend_from_slice(args);
        let out = self.exec("vps01", &cmd);
        assert!(out.status.success(), "wg show: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Pings from vps01 until one reply or the deadline.
    pub fn vps01_reaches(&self, addr: &str) -> bool {
        poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            self.exec("vps01", &["ping", "-c1", "-W1", addr])
                .status
                .success()
        })
    }

    /// SIGHUP to `fabric serve`: reload the topology, re-read the probes' CA and REST
    /// credentials, verify every hub.
    pub fn sighup(&self) {
        let pid = self.daemon_pid().to_string();
        let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(sent.success(), "kill -HUP {pid}");
    }

    /// The daemon's PID (the spawned child is the daemon itself).
    pub fn daemon_pid(&self) -> u32 {
        self.serve.as_ref().expect("fabric serve is running").id()
    }

    /// Writes `state.json` as an earlier run of the controller would have left it.
    pub fn seed_state(&self, epoch: u64, layout: &str) {
        std::fs::create_dir_all(self.state_dir()).unwrap();
        let json = format!("{{\"epoch\":{epoch},\"layout\":\"{layout}\"}}\n");
        std::fs::write(self.state_dir().join("state.json"), json).unwrap();
    }

    /// Takes vps01's `fabric apply` lock (the flock the daemon holds around every apply of its
    /// own interfaces, in vps01's private wireguard run dir) and keeps it until the file is
    /// dropped. Waits at most 10 s for a running apply to finish.
    pub fn hold_apply_lock(&self) -> std::fs::File {
        let path = self
            .vps01()
            .wg_dir
            .join(fabric::apply::userspace::LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        let locked = poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            file.try_lock().is_ok()
        });
        assert!(locked, "{} stayed locked", path.display());
        file
    }

    /// The layout changes listed by `fabric status`: (seconds since the daemon started,
    /// epoch, layout), oldest first.
    pub fn decisions(&self) -> Vec<(f64, u64, String)> {
        let status = self.status().expect("daemon answers");
        status
            .lines()
            .filter_map(|l| l.strip_prefix("decision epoch "))
            .map(|l| {
                let (epoch, rest) = l.split_once(": ").expect("decision epoch N: …");
                let layout = rest.split_whitespace().next().unwrap().to_string();
                let at = rest.rsplit(" at ").next().unwrap().trim_end_matches(" s");
                (at.parse().unwrap(), epoch.parse().unwrap(), layout)
            })
            .collect()
    }

    pub fn kill9(&mut self) {
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

//! Running commands inside a lab namespace, with that namespace's private
//! `/var/run/wireguard` (wireguard-go's UAPI sockets would otherwise collide across namespaces).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// Upper bound for any one command the lab runs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One lab namespace.
#[derive(Debug, Clone)]
pub struct Ns {
    pub name: String,
    /// Private run directory bind-mounted over /var/run/wireguard for this namespace.
    pub wg_dir: PathBuf,
}

impl Ns {
    pub fn new(name: String, root: &Path) -> Ns {
        let wg_dir = root.join("wg").join(&name);
        Ns { name, wg_dir }
    }

    /// `ip netns exec NAME unshare -m sh -c 'bind-mount the run dir; exec "$@"' sh ARGS…`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        let script = format!(
            "mount --make-rprivate / && mkdir -p /var/run/wireguard && mount --bind '{}' /var/run/wireguard && exec \"$@\"",
            self.wg_dir.display()
        );
        cmd.args([
            "netns", "exec", &self.name, "unshare", "-m", "sh", "-c", &script, "sh",
        ])
        .args(args);
        cmd
    }

    /// Runs a command in the namespace and returns stdout; fails with its output.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        run(self.command(args))
            .with_context(|| format!("in namespace {}: {}", self.name, args.join(" ")))
    }

    /// `ip …` inside the namespace (no run-dir mount needed).
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        run(cmd).with_context(|| format!("ip -n {} {}", self.name, args.join(" ")))
    }

    pub fn sysctl(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.name,
            "sysctl",
            "-q",
            "-w",
            &format!("{key}={value}"),
        ]);
        run(cmd).map(|_| ())
    }
}

/// Runs `cmd` with a deadline; returns stdout or an error carrying stdout and stderr.
pub fn run(mut cmd: Command) -> anyhow::Result<String> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning")?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out?,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            bail!("timed out after {COMMAND_TIMEOUT:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "exit {:?}: {}{}",
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// Runs a host command (`ip netns add …`).
pub fn host(args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    run(cmd).with_context(|| args.join(" "))
}

impl Ns {
    /// Starts a long-running lab helper (`args`, stderr to `log`) that runs on in the namespace
    /// after `lab up` returns (`lab down` stops it by PID), and waits, bounded, until its log
    /// says `listening`. A log line with `error` or the deadline fails with the log's text.
    pub fn spawn_listening(&self, args: &[&str], log: &Path, what: &str) -> anyhow::Result<()> {
        let file = std::fs::File::create(log)?;
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting the {what} in {}", self.name))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("listening") {
                return Ok(());
            }
            if text.to_ascii_lowercase().contains("error") || std::time::Instant::now() > deadline {
                bail!("{}: {what} did not start: {text}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

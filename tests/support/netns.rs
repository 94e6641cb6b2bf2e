//! Network namespaces, veth pairs and userspace WireGuard (wireguard-go) for end-to-end tests.
//!
//! Rules kept here so that every test keeps them:
//! - Privileged tests never skip: [`require_root`] panics with a loud message instead.
//! - A [`Netns`] guard owns everything it created. On drop (also while a test panics) it stops
//!   its processes by PID (SIGTERM, bounded wait, SIGKILL), deletes its veths and the namespace.
//! - Every wait is bounded: [`poll_until`] takes a timeout, every command runs with
//!   [`CMD_TIMEOUT`]. No fixed sleeps for readiness.
//! - Underlay addresses given to [`veth`] must be TEST-NET (RFC 5737): 192.0.2.0/24,
//!   198.51.100.0/24, 203.0.113.0/24. Traffic goes only to addresses inside the namespaces the
//!   test created.
//! - wireguard-go's UAPI socket path (`/var/run/wireguard/IF.sock`) is global; each namespace
//!   gets a private run directory bind-mounted over it in a private mount namespace, for the
//!   daemon and for every later `wg` call ([`Netns::wg`], [`Netns::exec_in_wg_rundir`]).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Name prefix of every namespace a [`Netns`] creates: `fab<pid>n<counter>`.
pub const NETNS_PREFIX: &str = "fab";
/// Upper bound for one command run through this module.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for wireguard-go to create its interface and UAPI socket.
pub const WG_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(3);

/// Runs `"$@"` with the directory `$1` bind-mounted over /var/run/wireguard, in the private
/// mount namespace that `unshare -m` created for it.
const PRIVATE_RUN_DIR_SH: &str = r#"dir="$1"; shift
mount --make-rprivate / && mkdir -p /var/run/wireguard && mount --bind "$dir" /var/run/wireguard && exec "$@""#;

/// Panics unless the test runs as root. Privileged tests call this first: they fail loudly
/// instead of passing silently when they cannot run.
pub fn require_root() {
    let euid = effective_uid();
    if euid != Some(0) {
        panic!(
            "PRIVILEGED TEST CANNOT RUN: this test needs root (network namespaces, veth, TUN), \
             but the effective uid is {}. Run the suite as root with scripts/test.sh. \
             It is not skipped: a skipped privileged test would hide a broken fabric.",
            euid.map_or_else(|| "unknown".to_string(), |u| u.to_string())
        );
    }
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Calls `check` until it returns true or `timeout` has passed, sleeping `interval` between
/// calls. Returns whether `check` succeeded. `check` is always called at least once.
pub fn poll_until(timeout: Duration, interval: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(interval.min(deadline - now));
    }
}

/// Runs `cmd` to completion with stdout and stderr captured and `stdin` (if any) fed to it.
/// Kills it and returns an error when it runs longer than `timeout`.
pub fn try_run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // Not joined: a command that exits without reading all its input is not an error here.
        thread::spawn(move || drop(pipe.write_all(&input)));
    }
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    read_in_background(0, child.stdout.take().expect("stdout is piped"), tx.clone());
    read_in_background(1, child.stderr.take().expect("stderr is piped"), tx);
    let mut status = None;
    poll_until(timeout, Duration::from_millis(2), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{what} did not finish within {timeout:?}; killed it"
        ));
    };
    // Both pipes reach EOF once every process holding them has exited; a background process
    // that keeps them open must not hang the test.
    let mut streams = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, buf) = rx
            .recv_timeout(left.max(Duration::from_secs(1)))
            .map_err(|_| {
                format!("{what} exited ({status}) but something it started keeps its output open")
            })?;
        streams[i] = buf;
    }
    let [stdout, stderr] = streams;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn read_in_background(
    index: usize,
    mut pipe: impl Read + Send + 'static,
    done: mpsc::Sender<(usize, Vec<u8>)>,
) {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = done.send((index, buf));
    });
}

/// [`try_run`] with [`CMD_TIMEOUT`] that panics when the command cannot start or times out.
/// The exit status is not checked: see [`check_ok`].
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    try_run(cmd, stdin, CMD_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

/// Returns stdout of a successful `output`, or panics showing what `what` printed.
pub fn check_ok(what: &str, output: Output) -> String {
    if !output.status.success() {
        panic!(
            "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a program on the host (not in a namespace), panicking unless it succeeds. Returns stdout.
pub fn host_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let what = describe(args);
    check_ok(&what, run(&mut command(args), None))
}

/// Generates a WireGuard key pair with `wg genkey` / `wg pubkey`: `(private, public)`.
pub fn wg_keypair() -> (String, String) {
    let private = host_ok(&["wg", "genkey"]).trim().to_string();
    let public = check_ok(
        "wg pubkey",
        run(&mut command(&["wg", "pubkey"]), Some(private.as_bytes())),
    );
    (private, public.trim().to_string())
}

fn command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let (program, rest) = args.split_first().expect("a command needs a program");
    let mut cmd = Command::new(program);
    cmd.args(rest);
    cmd
}

fn describe<S: AsRef<OsStr>>(args: &[S]) -> String {
    let words: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    words.join(" ")
}

/// Sends `signal` (e.g. "TERM", "KILL") to `pid` with the shell's `kill` builtin.
fn signal(pid: u32, signal: &str) {
    let _ = try_run(
        Command::new("sh").args([
            "-c",
            r#"kill -s "$1" "$2" 2>/dev/null"#,
            "sh",
            signal,
            &pid.to_string(),
        ]),
        None,
        Duration::from_secs(5),
    );
}

/// A userspace WireGuard interface started by [`Netns::wireguard_go`].
#[derive(Debug, Clone)]
pub struct WgIface {
    /// Interface name inside the namespace.
    pub name: String,
    /// PID of the wireguard-go process (tracked by the namespace guard).
    pub pid: u32,
}

struct Tracked {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Tracked {
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A network namespace owned by a test. Dropping it stops every process it started, deletes
/// the veths it holds and the namespace itself.
pub struct Netns {
    name: String,
    /// Private files: the wireguard-go run directory and process logs.
    dir: tempfile::TempDir,
    procs: Mutex<Vec<Tracked>>,
    veths: Mutex<Vec<String>>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Netns {
    /// Creates a namespace named `fab<pid>n<counter>` with `lo` up. Panics unless root.
    pub fn new() -> Netns {
        require_root();
        SWEEP.call_once(sweep_stale_namespaces);
        let name = format!(
            "{NETNS_PREFIX}{}n{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        assert!(
            name.len() <= 15,
            "namespace name {name} is longer than 15 characters"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("create the namespace's private directory");
        host_ok(&["ip", "netns", "add", &name]);
        let ns = Netns {
            name,
            dir,
            procs: Mutex::new(Vec::new()),
            veths: Mutex::new(Vec::new()),
        };
        ns.run_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A private directory that lives as long as the guard.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ns_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        cmd
    }

    /// Runs `args` inside the namespace (`ip netns exec NAME args…`) and returns its output,
    /// whatever the exit status. Panics if it cannot start or exceeds [`CMD_TIMEOUT`].
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run(&mut self.ns_command(args), None)
    }

    /// Like [`Netns::exec`], feeding `input` to the command's stdin.
    pub fn exec_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        run(&mut self.ns_command(args), Some(input))
    }

    /// Runs `args` inside the namespace; panics (showing its output) unless it succeeds.
    /// Returns stdout.
    pub fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        check_ok(&self.describe(args), self.exec(args))
    }

    fn describe<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        format!("[netns {}] {}", self.name, describe(args))
    }

    /// Starts a long-running process inside the namespace, with stdin closed and its output
    /// going to a log file ([`Netns::process_log`]). Returns its PID. The guard stops it on drop.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> u32 {
        let mut procs = lock(&self.procs);
        let log = self.dir.path().join(format!("proc{}.log", procs.len()));
        let out = File::create(&log).expect("create a process log");
        let err = out.try_clone().expect("clone the process log handle");
        let what = self.describe(args);
        let child = self
            .ns_command(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let pid = child.id();
        procs.push(Tracked { child, what, log });
        pid
    }

    /// Whether the process `pid` started by [`Netns::spawn`] is still running.
    pub fn is_running(&self, pid: u32) -> bool {
        lock(&self.procs)
            .iter_mut()
            .any(|p| p.child.id() == pid && p.running())
    }

    /// What the process `pid` started by [`Netns::spawn`] has printed so far.
    pub fn process_log(&self, pid: u32) -> String {
        let procs = lock(&self.procs);
        let p = procs.iter().find(|p| p.child.id() == pid);
        p.map(|p| fs::read_to_string(&p.log).unwrap_or_default())
            .unwrap_or_else(|| format!("(no process {pid} was started in netns {})", self.name))
    }

    /// Stops the process `pid` started by [`Netns::spawn`] now: SIGTERM, then SIGKILL after
    /// [`TERM_GRACE`]. The process stays tracked (its log remains readable).
    pub fn stop(&self, pid: u32) {
        let mut procs = lock(&self.procs);
        let p = procs.iter_mut().filter(|p| p.child.id() == pid);
        stop_all(p.collect());
    }

    /// The private directory bind-mounted over /var/run/wireguard for this namespace.
    pub fn wg_run_dir(&self) -> PathBuf {
        let run_dir = self.dir.path().join("wireguard");
        fs::create_dir_all(&run_dir).expect("create the private wireguard run directory");
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o700))
            .expect("chmod the private wireguard run directory");
        run_dir
    }

    fn private_args<S: AsRef<OsStr>>(&self, args: &[S]) -> Vec<std::ffi::OsString> {
        let mut all: Vec<std::ffi::OsString> = [
            "unshare",
            "-m",
            "sh",
            "-c",
            PRIVATE_RUN_DIR_SH,
            "fabric-wg-rundir",
        ]
        .iter()
        .map(Into::into)
        .collect();
        all.push(self.wg_run_dir().into_os_string());
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        all
    }

    /// Runs `args` inside the namespace with this namespace's private wireguard run directory
    /// mounted at /var/run/wireguard (`unshare -m` + bind mount). Returns the output whatever
    /// the exit status.
    pub fn exec_in_wg_rundir<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.exec(&self.private_args(args))
    }

    /// Like [`Netns::exec_in_wg_rundir`], feeding `input` to the command's stdin.
    pub fn exec_in_wg_rundir_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        self.exec_stdin(&self.private_args(args), input)
    }

    /// Runs `wg args…` against this namespace's wireguard-go interfaces. Any exit status.
    pub fn wg<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.exec_in_wg_rundir(&with_program("wg", args))
    }

    /// Runs `wg args…` with `input` on stdin (e.g. `wg setconf IF /dev/stdin`). Any exit status.
    pub fn wg_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        self.exec_in_wg_rundir_stdin(&with_program("wg", args), input)
    }

    /// Runs `wg args…`; panics unless it succeeds. Returns stdout.
    pub fn wg_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        check_ok(&self.describe(&with_program("wg", args)), self.wg(args))
    }

    /// Starts `wireguard-go -f IFNAME` inside the namespace with the private run directory and
    /// waits (at most [`WG_START_TIMEOUT`]) until the interface and its UAPI socket exist.
    pub fn wireguard_go(&self, ifname: &str) -> WgIface {
        assert!(is_valid_ifname(ifname), "invalid interface name {ifname:?}");
        let socket = self.wg_run_dir().join(format!("{ifname}.sock"));
        let pid = self.spawn(&self.private_args(&["wireguard-go", "-f", ifname]));
        let mut died = false;
        let ready = poll_until(WG_START_TIMEOUT, Duration::from_millis(20), || {
            died = !self.is_running(pid);
            died || (socket.exists() && self.has_link(ifname))
        });
        if died || !ready {
            panic!(
                "wireguard-go {ifname} in netns {} {} (socket {}):\n{}",
                self.name,
                if died {
                    "exited early"
                } else {
                    "did not come up in time"
                },
                socket.display(),
                self.process_log(pid)
            );
        }
        WgIface {
            name: ifname.to_string(),
            pid,
        }
    }

    /// Whether the interface `ifname` exists in the namespace.
    pub fn has_link(&self, ifname: &str) -> bool {
        let out = run(
            Command::new("ip").args(["-n", &self.name, "link", "show", "dev", ifname]),
            None,
        );
        out.status.success()
    }

    /// Pings `addr` from inside the namespace (`ping -c1 -W1`) until a reply comes or `timeout`
    /// passes. `addr` must belong to a namespace the test created.
    pub fn ping_until(&self, addr: &str, timeout: Duration) -> bool {
        poll_until(timeout, Duration::from_millis(100), || {
            self.exec(&["ping", "-n", "-q", "-c1", "-W1", addr])
                .status
                .success()
        })
    }

    /// PIDs of every process whose network namespace is this one (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        netns_pids(&self.name)
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        let mut procs = std::mem::take(&mut *lock(&self.procs));
        stop_all(procs.iter_mut().collect());
        // Anything left in the namespace was started through this guard too (e.g. a daemon a
        // command forked off); it is not our child, so kill it and wait for it to vanish.
        kill_netns_pids(&self.name);
        for veth in lock(&self.veths).iter() {
            let _ = try_run(
                Command::new("ip").args(["-n", &self.name, "link", "del", veth]),
                None,
                CMD_TIMEOUT,
            );
        }
        match try_run(
            Command::new("ip").args(["netns", "del", &self.name]),
            None,
            CMD_TIMEOUT,
        ) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "netns guard: could not delete namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("netns guard: {e}"),
        }
    }
}

/// SIGTERM to every running process, up to [`TERM_GRACE`] for them to exit, then SIGKILL and a
/// bounded reap.
fn stop_all(mut procs: Vec<&mut Tracked>) {
    for p in procs.iter_mut() {
        if p.running() {
            // The child is not reaped yet, so its PID cannot have been reused.
            signal(p.child.id(), "TERM");
        }
    }
    poll_until(TERM_GRACE, Duration::from_millis(10), || {
        procs.iter_mut().all(|p| !p.running())
    });
    for p in procs.iter_mut() {
        if p.running() {
            eprintln!("netns guard: {} ignored SIGTERM; sending SIGKILL", p.what);
            let _ = p.child.kill();
        }
    }
    let reaped = poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
        procs.iter_mut().all(|p| !p.running())
    });
    if !reaped {
        eprintln!("netns guard: a process survived SIGKILL for 5 s");
    }
}

fn netns_pids(name: &str) -> Vec<u32> {
    match try_run(
        Command::new("ip").args(["netns", "pids", name]),
        None,
        CMD_TIMEOUT,
    ) {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn kill_netns_pids(name: &str) {
    let pids = netns_pids(name);
    if pids.is_empty() {
        return;
    }
    for &pid in &pids {
        eprintln!("netns guard: killing leftover process {pid} in netns {name}");
        signal(pid, "KILL");
    }
    if !poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
        netns_pids(name).is_empty()
    }) {
        eprintln!("netns guard: processes {pids:?} still in netns {name} after SIGKILL");
    }
}

/// Removes namespaces left behind by a test process that died without dropping its guards
/// (`fab<pid>n<k>` where process `pid` no longer exists, or is this process).
fn sweep_stale_namespaces() {
    let Ok(out) = try_run(
        Command::new("ip").args(["netns", "list"]),
        None,
        CMD_TIMEOUT,
    ) else {
        return;
    };
    let own = std::process::id();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = netns_owner(name) else {
            continue;
        };
        if owner == own || !Path::new(&format!("/proc/{owner}")).exists() {
            eprintln!("netns guard: removing stale test namespace {name}");
            kill_netns_pids(name);
            let _ = try_run(
                Command::new("ip").args(["netns", "del", name]),
                None,
                CMD_TIMEOUT,
            );
        }
    }
}

/// The PID encoded in a namespace name made by [`Netns::new`], if it is one.
fn netns_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NETNS_PREFIX)?;
    let (pid, counter) = rest.split_once('n')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(pid) && digits(counter) {
        pid.parse().ok()
    } else {
        None
    }
}

fn with_program<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Vec<std::ffi::OsString> {
    std::iter::once(program.into())
        .chain(args.iter().map(|a| a.as_ref().to_os_string()))
        .collect()
}

/// Whether `name` is a valid Linux interface name that wg-quick also accepts.
pub fn is_valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_=+.-".contains(&b))
        && name != "."
        && name != ".."
}

/// Panics unless `cidr` is an IPv4 address/prefix inside a TEST-NET range (RFC 5737).
pub fn assert_test_net(cidr: &str) {
    let (addr, len) = cidr
        .split_once('/')
        .unwrap_or_else(|| panic!("{cidr:?} is not ADDRESS/PREFIX"));
    let addr: Ipv4Addr = addr
        .parse()
        .unwrap_or_else(|e| panic!("{cidr:?}: bad IPv4 address: {e}"));
    let len: u8 = len
        .parse()
        .unwrap_or_else(|e| panic!("{cidr:?}: bad prefix length: {e}"));
    let [a, b, c, _] = addr.octets();
    let test_net = matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
    assert!(
        test_net && (24..=32).contains(&len),
        "{cidr} is not inside TEST-NET-1/2/3 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24): \
         tests must not send traffic to real networks"
    );
}

/// Creates a veth pair between two namespaces, assigns the (TEST-NET) addresses and brings both
/// ends up. Both guards delete the pair on drop.
pub fn veth(a: &Netns, a_if: &str, a_addr: &str, b: &Netns, b_if: &str, b_addr: &str) {
    assert_test_net(a_addr);
    assert_test_net(b_addr);
    assert!(
        is_valid_ifname(a_if) && is_valid_ifname(b_if),
        "invalid veth names {a_if:?} {b_if:?}"
    );
    host_ok(&[
        "ip", "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
    lock(&a.veths).push(a_if.to_string());
    lock(&b.veths).push(b_if.to_string());
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        ns.run_ok(&["ip", "addr", "add", addr, "dev", ifname]);
        ns.run_ok(&["ip", "link", "set", ifname, "up"]);
    }
}

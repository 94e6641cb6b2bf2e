//! Benchmark (root): a 1,000-peer change to a live wireguard-go interface, made by
//! `fabric apply` and, in the same run, by `wg syncconf` with the same configuration
//! (fabric's own wg-quick render of it, through `wg-quick strip`). Prints the median of each,
//! the ratio of the medians fabric / wg syncconf (target <= 1.0), and the median and
//! interquartile range of the per-round ratios (each round runs both tools back to back, so
//! the pair shares the machine's momentary load).
//!
//! `cargo bench --bench apply` (as root); `APPLY_BENCH_ROUNDS=N` (default 30). Two namespaces with identical starting state: key,
//! port, address, MTU and link already set, so both tools change peers only. Scenarios:
//! add 1,000 peers to an empty interface; replace them with 1,000 others (1,000 removed +
//! 1,000 added); re-run with nothing to change. Times are whole processes, each started the
//! same way (`ip netns exec … unshare -m …`); the wrapper's own cost (measured with `true`)
//! is printed so it can be subtracted. Each run starts once both wireguard-go processes are
//! idle (their threads' CPU time from /proc), so no tool pays for the previous step's
//! background work. Traffic: the namespaces have no link but lo and wg0.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::fabric::fabric_ok;
use support::netns::{Netns, check_ok, host_ok, require_root};

const SPOKES: usize = 1_000;
const DEFAULT_ROUNDS: usize = 30;

/// A hub (key managed by fabric) and `SPOKES` spokes with the given public keys.
fn topology_yaml(spoke_keys: &[String]) -> String {
    let mut y = String::from(
        "domain: bench.example.com\nplanes:\n  wg0: { purpose: infrastructure, subnet: 10.64.0.0/14, listen_port: 51820 }\nnodes:\n  hub1:\n    platform: linux\n    endpoint: 192.0.2.1\n    planes:\n      wg0: { address: 10.64.0.1 }\n",
    );
    for (i, key) in spoke_keys.iter().enumerate() {
        let n = i + 2;
        y.push_str(&format!(
            "  spoke{i}:\n    platform: linux\n    planes:\n      wg0: {{ address: 10.64.{}.{}, public_key: \"{key}\" }}\n",
            n / 256,
            n % 256
        ));
    }
    y.push_str("layouts:\n  primary: { wg0: hub1 }\n");
    y
}

fn keys() -> Vec<String> {
    (0..SPOKES)
        .map(|_| {
            fabric::model::PrivateKey::generate()
                .public_key()
                .to_base64()
        })
        .collect()
}

/// One configuration: its topology file and the stripped `wg` config fabric renders for it.
struct Config {
    topology: PathBuf,
    wg_conf: PathBuf,
}

fn config(dir: &Path, name: &str, secrets: &Path) -> Config {
    let topology = dir.join(format!("{name}.yaml"));
    std::fs::write(&topology, topology_yaml(&keys())).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    fabric_ok(&["keys", "-t", &s(&topology), "--secrets", &s(secrets)]);
    let out = dir.join(format!("{name}-out"));
    fabric_ok(&[
        "render",
        "-t",
        &s(&topology),
        "--secrets",
        &s(secrets),
        "--out",
        &s(&out),
    ]);
    let quick = out.join("wg-quick/hub1/wg0.conf");
    let stripped = host_ok(&["wg-quick", "strip", &s(&quick)]);
    let wg_conf = dir.join(format!("{name}.conf"));
    std::fs::write(&wg_conf, stripped).unwrap();
    Config { topology, wg_conf }
}

/// A namespace with wg0 set up like the plan except for peers, and its wireguard-go's PID.
fn lab(key_file: &Path, empty_conf: &Path) -> (Netns, u32) {
    let ns = Netns::new();
    let pid = ns.wireguard_go("wg0").pid;
    ns.wg_ok(&[
        "set",
        "wg0",
        "private-key",
        key_file.to_str().unwrap(),
        "listen-port",
        "51820",
    ]);
    ns.wg_ok(&["setconf", "wg0", empty_conf.to_str().unwrap()]);
    ns.run_ok(&["ip", "addr", "add", "10.64.0.1/14", "dev", "wg0"]);
    ns.run_ok(&["ip", "link", "set", "wg0", "mtu", "1420", "up"]);
    (ns, pid)
}

/// CPU time (ns) all threads of `pid` have run, from /proc/PID/task/*/schedstat.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

const SETTLE_WINDOW: Duration = Duration::from_millis(10);
const SETTLE_DEADLINE: Duration = Duration::from_secs(3);

/// Waits until both wireguard-go processes are idle (under 3 % of a core over two
/// consecutive 10 ms windows), so neither tool is timed in the wake of the previous step's
/// background work (goroutines starting or stopping, garbage collection). Bounded by
/// [`SETTLE_DEADLINE`]; returns false when that ran out.
fn settle(pids: &[u32]) -> bool {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let total = || pids.iter().map(|p| cpu_ns(*p)).sum::<u64>();
    let mut last = total();
    let mut quiet = 0;
    while Instant::now() < deadline {
        std::thread::sleep(SETTLE_WINDOW);
        let now = total();
        quiet = if now - last < 300_000 { quiet + 1 } else { 0 };
        if quiet >= 2 {
            return true;
        }
        last = now;
    }
    false
}

fn timed(what: &str, f: impl FnOnce() -> std::process::Output) -> Duration {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    check_ok(what, out);
    took
}

/// fabric's own stage timings (its debug log): load, read + diff, apply; milliseconds.
#[derive(Default, Clone, Copy)]
struct Stages {
    load: f64,
    read: f64,
    apply: f64,
}

fn field(log: &str, name: &str) -> f64 {
    log.split_whitespace()
        .filter_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .filter_map(|v| v.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

fn fabric_apply(ns: &Netns, c: &Config, secrets: &Path) -> (Duration, Stages) {
    let bin = env!("CARGO_BIN_EXE_fabric");
    let start = Instant::now();
    // RUST_LOG comes from this process's environment (set in `main`): an `env` wrapper
    // would cost fabric alone an extra exec and locale load (~0.9 ms, measured).
    let out = ns.exec_in_wg_rundir(&[
        bin,
        "apply",
        "--node",
        "hub1",
        "-t",
        c.topology.to_str().unwrap(),
        "--secrets",
        secrets.to_str().unwrap(),
    ]);
    let took = start.elapsed();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    check_ok("fabric apply", out);
    let stages = Stages {
        load: field(&log, "load_ms"),
        read: field(&log, "read_ms"),
        apply: field(&log, "apply_ms"),
    };
    (took, stages)
}

fn syncconf(ns: &Netns, c: &Config) -> Duration {
    timed("wg syncconf", || {
        ns.wg(&["syncconf", "wg0", c.wg_conf.to_str().unwrap()])
    })
}

fn peers(ns: &Netns) -> Vec<String> {
    let dump = ns.wg_ok(&["show", "wg0", "dump"]);
    // Peer lines: key, psk, endpoint, allowed-ips, handshake, rx, tx, keepalive.
    let mut v: Vec<String> = dump
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!("{} {} {} {}", f[0], f[2], f[3], f[7])
        })
        .collect();
    v.sort();
    v
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median, first and third quartile of fabric / syncconf per round.
fn paired_ratios(fabric: &[Duration], syncconf: &[Duration]) -> (f64, f64, f64) {
    let mut r: Vec<f64> = fabric
        .iter()
        .zip(syncconf)
        .map(|(f, s)| f.as_secs_f64() / s.as_secs_f64())
        .collect();
    r.sort_by(f64::total_cmp);
    let at = |q: f64| r[((r.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` discovery: nothing to list
    }
    require_root();
    // SAFETY: still single-threaded; every child (fabric, wg, wireguard-go) inherits it and
    // only fabric reads it.
    unsafe { std::env::set_var("RUST_LOG", "fabric::live=debug,fabric::apply=debug") };
    let rounds: usize = std::env::var("APPLY_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_ROUNDS);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let first = config(dir.path(), "first", &secrets);
    let second = config(dir.path(), "second", &secrets);
    let key_file = secrets.join("wg/hub1.wg0.key");
    let empty = dir.path().join("empty.conf");
    std::fs::write(&empty, "[Interface]\nListenPort = 51820\n").unwrap();
    let ((a, pid_a), (b, pid_b)) = (lab(&key_file, &empty), lab(&key_file, &empty));
    let pids = [pid_a, pid_b];
    let mut unsettled = 0;
    let mut wrappers = Vec::new();

    let mut rows: Vec<(&str, Vec<Duration>, Vec<Duration>)> = vec![
        ("add 1000 peers", vec![], vec![]),
        ("replace 1000 peers", vec![], vec![]),
        ("no change", vec![], vec![]),
    ];
    let mut stages: Vec<Vec<Stages>> = vec![Vec::new(); 3];
    for round in 0..rounds {
        for ns in [&a, &b] {
            ns.wg_ok(&["setconf", "wg0", empty.to_str().unwrap()]);
        }
        wrappers.push(timed("true", || a.exec_in_wg_rundir(&["true"])));
        // Alternate which tool goes first, so neither always runs on a warmer machine, and
        // which namespace (wireguard-go process) each tool drives, so neither keeps the one
        // with the friendlier heap.
        let fabric_first = round % 2 == 0;
        let (a, b) = if round % 4 < 2 { (&a, &b) } else { (&b, &a) };
        for (row, config) in [(0, &first), (1, &second), (2, &second)] {
            let mut settled = || unsettled += usize::from(!settle(&pids));
            let (f, s) = if fabric_first {
                settled();
                let f = fabric_apply(a, config, &secrets);
                settled();
                (f, syncconf(b, config))
            } else {
                settled();
                let s = syncconf(b, config);
                settled();
                (fabric_apply(a, config, &secrets), s)
            };
            rows[row].1.push(f.0);
            stages[row].push(f.1);
            rows[row].2.push(s);
            assert_eq!(peers(a), peers(b), "both tools reach the same peers");
            assert_eq!(peers(a).len(), SPOKES);
        }
    }
    let wrapper = median(wrappers);
    println!(
        "fabric apply vs wg syncconf, wireguard-go, {SPOKES} peers, median of {rounds}, whole processes"
    );
    println!(
        "(each started through ip netns exec + unshare + mount: {:.1} ms of it, included below;",
        wrapper.as_secs_f64() * 1e3
    );
    println!(
        " each run starts once both wireguard-go processes are idle: {unsettled} of {} did not \
         settle within {SETTLE_DEADLINE:?})",
        rounds * 6
    );
    println!(
        "{:<20} {:>10} {:>12} {:>7} {:>15} {:>26}",
        "scenario", "fabric ms", "syncconf ms", "ratio", "ratio w/o wrap", "per-round ratio (IQR)"
    );
    let mut breakdown = Vec::new();
    for ((name, f, s), st) in rows.into_iter().zip(stages) {
        let med = |pick: fn(&Stages) -> f64| {
            let mut v: Vec<f64> = st.iter().map(pick).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        breakdown.push(format!(
            "{name:<20} load {:>6.1}   read+diff {:>6.1}   apply {:>6.1}",
            med(|s| s.load),
            med(|s| s.read),
            med(|s| s.apply)
        ));
        let (pair, q1, q3) = paired_ratios(&f, &s);
        let (f, s) = (median(f), median(s));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let net = |d: Duration| (ms(d) - ms(wrapper)).max(0.001);
        println!(
            "{name:<20} {:>10.1} {:>12.1} {:>6.2}x {:>14.2}x {:>12.2}x ({q1:.2}-{q3:.2})",
            ms(f),
            ms(s),
            ms(f) / ms(s),
            net(f) / net(s),
            pair
        );
    }
    println!("(target: fabric <= 1.0x wg syncconf)");
    println!("fabric's own stages, median ms (load = topology parse + validate + plan + secrets):");
    for line in breakdown {
        println!("{line}");
    }
}

//! End-to-end checks of the namespace test harness itself (tests/support/netns.rs):
//! namespaces, veth, wireguard-go with private run directories, and cleanup.

mod support;

use std::path::Path;
use std::time::Duration;

use support::netns::{Netns, WgIface, poll_until, try_run, veth, wg_keypair};

/// Two namespaces joined by a veth on TEST-NET-1, each running wireguard-go `wg0`, peered with
/// each other; tunnel addresses on TEST-NET-2.
struct Pair {
    a: Netns,
    b: Netns,
    wg_a: WgIface,
    wg_b: WgIface,
}

fn tunnel_pair() -> Pair {
    let a = Netns::new();
    let b = Netns::new();
    veth(&a, "veth0", "192.0.2.1/24", &b, "veth0", "192.0.2.2/24");
    let wg_a = a.wireguard_go("wg0");
    let wg_b = b.wireguard_go("wg0");
    let (priv_a, pub_a) = wg_keypair();
    let (priv_b, pub_b) = wg_keypair();
    for (ns, private, peer, endpoint, addr, peer_addr) in [
        (
            &a,
            &priv_a,
            &pub_b,
            "192.0.2.2:51820",
            "198.51.100.1/24",
            "198.51.100.2/32",
        ),
        (
            &b,
            &priv_b,
            &pub_a,
            "192.0.2.1:51820",
            "198.51.100.2/24",
            "198.51.100.1/32",
        ),
    ] {
        let args = [
            "set",
            "wg0",
            "listen-port",
            "51820",
            "private-key",
            "/dev/stdin",
            "peer",
            peer,
            "endpoint",
            endpoint,
            "allowed-ips",
            peer_addr,
        ];
        let out = ns.wg_stdin(&args, private.as_bytes());
        assert!(
            out.status.success(),
            "wg set in {}: {}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        ns.run_ok(&["ip", "addr", "add", addr, "dev", "wg0"]);
        ns.run_ok(&["ip", "link", "set", "wg0", "up"]);
    }
    Pair { a, b, wg_a, wg_b }
}

#[test]
fn ping_crosses_wireguard_go_tunnel_between_namespaces() {
    let p = tunnel_pair();
    assert!(
        p.a.ping_until("198.51.100.2", Duration::from_secs(10)),
        "no ping reply through the tunnel from {} to {}\nwireguard-go a:\n{}\nwireguard-go b:\n{}",
        p.a.name(),
        p.b.name(),
        p.a.process_log(p.wg_a.pid),
        p.b.process_log(p.wg_b.pid)
    );
    // The handshake really happened over WireGuard: b knows a's endpoint now.
    let dump = p.b.wg_ok(&["show", "wg0", "endpoints"]);
    assert!(
        dump.contains("192.0.2.1:51820"),
        "b has no endpoint for a: {dump}"
    );
}

#[test]
fn same_interface_name_in_two_namespaces_has_separate_uapi_sockets() {
    let a = Netns::new();
    let b = Netns::new();
    a.wireguard_go("wg0");
    b.wireguard_go("wg0");
    let (priv_a, pub_a) = wg_keypair();
    let (priv_b, pub_b) = wg_keypair();
    assert!(
        a.wg_stdin(
            &["set", "wg0", "private-key", "/dev/stdin"],
            priv_a.as_bytes()
        )
        .status
        .success()
    );
    assert!(
        b.wg_stdin(
            &["set", "wg0", "private-key", "/dev/stdin"],
            priv_b.as_bytes()
        )
        .status
        .success()
    );
    assert_eq!(a.wg_ok(&["show", "wg0", "public-key"]).trim(), pub_a);
    assert_eq!(b.wg_ok(&["show", "wg0", "public-key"]).trim(), pub_b);
    // Each socket lives in its namespace's private run directory.
    assert!(a.wg_run_dir().join("wg0.sock").exists());
    assert!(b.wg_run_dir().join("wg0.sock").exists());
}

/// Namespaces and processes a set of guards created: what must be gone after they drop.
fn assert_gone(names: &[String], pids: &[u32]) {
    let listed = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .into_owned();
    for name in names {
        let still = listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()));
        assert!(!still, "namespace {name} still exists:\n{listed}");
        assert!(
            !Path::new("/run/netns").join(name).exists(),
            "/run/netns/{name} remains"
        );
    }
    for pid in pids {
        // A reaped PID may in principle be reused; only a wireguard-go there counts.
        let gone = poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !String::from_utf8_lossy(&cmdline).contains("wireguard-go")
        });
        assert!(gone, "wireguard-go pid {pid} survived its guard");
    }
}

#[test]
fn dropping_guards_removes_namespaces_veths_and_processes() {
    let p = tunnel_pair();
    let names = vec![p.a.name().to_string(), p.b.name().to_string()];
    let pids = vec![p.wg_a.pid, p.wg_b.pid];
    for pid in &pids {
        // The tracked PID is wireguard-go itself (ip netns exec, unshare and sh all exec), so
        // the guard's SIGTERM reaches the daemon.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&cmdline).starts_with("wireguard-go\0-f\0wg0"),
            "pid {pid} is not wireguard-go: {:?}",
            String::from_utf8_lossy(&cmdline)
        );
    }
    drop(p);
    assert_gone(&names, &pids);
}

#[test]
fn a_panicking_test_still_cleans_up() {
    let mut created = (Vec::new(), Vec::new());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ns = Netns::new();
        let wg = ns.wireguard_go("wg0");
        created.0.push(ns.name().to_string());
        created.1.push(wg.pid);
        panic!("simulated test failure");
    }));
    assert!(result.is_err(), "the closure was meant to panic");
    assert_eq!(created.0.len(), 1);
    assert_gone(&created.0, &created.1);
}

#[test]
fn stray_processes_in_a_namespace_are_killed_on_drop() {
    let ns = Netns::new();
    // A process the guard did not spawn itself: forked off and left behind by a command.
    ns.run_ok(&["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 < /dev/null &"]);
    let mut stray = Vec::new();
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            stray = ns.pids();
            !stray.is_empty()
        }),
        "the background sleep never showed up in the namespace"
    );
    let name = ns.name().to_string();
    drop(ns);
    assert_gone(&[name], &[]);
    for pid in stray {
        let gone = poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !String::from_utf8_lossy(&cmdline).starts_with("sleep")
        });
        assert!(gone, "stray process {pid} survived the guard");
    }
}

#[test]
fn veth_refuses_addresses_outside_test_net() {
    let a = Netns::new();
    let b = Netns::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        veth(&a, "veth0", "10.0.0.1/24", &b, "veth0", "10.0.0.2/24")
    }));
    assert!(
        result.is_err(),
        "a private-range underlay address was accepted"
    );
    assert!(!a.has_link("veth0"), "the veth was created anyway");
}

#[test]
fn commands_are_bounded_in_time() {
    let ns = Netns::new();
    let in_ns = |script: &str| {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", ns.name(), "sh", "-c", script]);
        cmd
    };
    let started = std::time::Instant::now();
    let err = try_run(&mut in_ns("sleep 600"), None, Duration::from_millis(300))
        .expect_err("a hanging command must time out");
    assert!(err.contains("did not finish"), "{err}");
    // A background process that keeps stdout open must not hang the caller either; the
    // guard kills it on drop.
    let err = try_run(
        &mut in_ns("sleep 600 & echo started"),
        None,
        Duration::from_millis(300),
    )
    .expect_err("output held open by a background process");
    assert!(err.contains("keeps its output open"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

//! End to end, as root: `fabric plan` / `fabric apply --node z640` against a live wireguard-go
//! interface in a fresh network namespace (private /var/run/wireguard). Apply converges, a
//! second apply changes nothing, drift made by hand with `wg set` is shown exactly by
//! `fabric plan` (exit 1) and repaired by `fabric apply`; a missing interface is created.
//!
//! Traffic: the namespaces have no link but `lo` and `wg0` and no default route, so the
//! configured hub endpoint (TEST-NET 203.0.113.10) is unreachable; nothing leaves them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::fabric::{fabric_ok, topology_path};
use support::netns::{Netns, require_root};

struct Lab {
    ns: Netns,
    topology: PathBuf,
    secrets: PathBuf,
    node: &'static str,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// The shipped topology, applied as z640.
    fn new() -> Lab {
        Lab::with(None, "z640")
    }

    /// `text` (written beside its secrets) or the shipped topology, applied as `node`.
    fn with(text: Option<&str>, node: &'static str) -> Lab {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("fabric-apply-")
            .tempdir()
            .expect("temporary directory");
        let secrets = dir.path().join("secrets");
        let topology = match text {
            Some(text) => {
                let path = dir.path().join("topology.yaml");
                std::fs::write(&path, text).expect("write the topology");
                path
            }
            None => topology_path(),
        };
        fabric_ok(&[
            "keys".as_ref(),
            "-t".as_ref(),
            topology.as_os_str(),
            "--secrets".as_ref(),
            secrets.as_os_str(),
        ]);
        Lab {
            ns: Netns::new(),
            topology,
            secrets,
            node,
            _dir: dir,
        }
    }

    /// `fabric VERB --node NODE …` inside the namespace, with its wireguard run directory.
    fn fabric(&self, verb: &str) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_fabric"));
        self.ns.exec_in_wg_rundir(&[
            bin.as_os_str(),
            verb.as_ref(),
            "--node".as_ref(),
            self.node.as_ref(),
            "-t".as_ref(),
            self.topology.as_os_str(),
            "--secrets".as_ref(),
            self.secrets.as_os_str(),
        ])
    }

    /// Runs `fabric VERB`, asserts its exit code, returns stdout.
    fn expect(&self, verb: &str, code: i32) -> String {
        let out = self.fabric(verb);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "fabric {verb} --node {} exit code\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            self.node,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// The change lines of `fabric plan` / `fabric apply` output (indented ones).
    fn change_lines(stdout: &str) -> Vec<String> {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn apply_converges_is_idempotent_and_repairs_hand_made_drift() {
    let lab = Lab::new();
    let wg = lab.ns.wireguard_go("wg0");
    let ifindex = || lab.ns.run_ok(&["cat", "/sys/class/net/wg0/ifindex"]);
    let first_ifindex = ifindex();

    let before = lab.expect("plan", 1);
    assert!(
        before.contains("+ peer chr01"),
        "plan names the hub peer to add:\n{before}"
    );
    let applied = lab.expect("apply", 0);
    assert!(applied.contains("z640 wg0: applied"), "{applied}");
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    assert_eq!(
        lab.expect("apply", 0),
        "z640 wg0: no change\n",
        "second apply"
    );

    let hub = lab.ns.wg_ok(&["show", "wg0", "peers"]).trim().to_string();
    assert_eq!(hub.lines().count(), 1, "z640 has one peer, its hub: {hub}");
    let hub_conf = lab.ns.wg_ok(&["show", "wg0", "endpoints"]);
    assert!(hub_conf.contains("203.0.113.10:51820"), "{hub_conf}");

    // Drift by hand: the hub's endpoint.
    lab.ns
        .wg_ok(&["set", "wg0", "peer", &hub, "endpoint", "192.0.2.99:1234"]);
    let drift = lab.expect("plan", 1);
    assert_eq!(
        Lab::change_lines(&drift),
        vec![format!(
            "~ peer chr01 ({hub}) endpoint 192.0.2.99:1234 -> 203.0.113.10:51820"
        )],
        "plan names exactly the hand-made change:\n{drift}"
    );
    let repaired = lab.expect("apply", 0);
    assert_eq!(Lab::change_lines(&repaired), Lab::change_lines(&drift));
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    let endpoints = lab.ns.wg_ok(&["show", "wg0", "endpoints"]);
    assert!(endpoints.contains("203.0.113.10:51820"), "{endpoints}");

    // Drift by hand: a stranger peer and a narrowed AllowedIPs on the hub.
    let stranger = support::netns::wg_keypair().1;
    lab.ns.wg_ok(&[
        "set",
        "wg0",
        "peer",
        &stranger,
        "allowed-ips",
        "10.99.0.1/32",
    ]);
    lab.ns
        .wg_ok(&["set", "wg0", "peer", &hub, "allowed-ips", "10.0.12.1/32"]);
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(drift.len(), 2, "{drift:#?}");
    assert!(
        drift[0].starts_with(&format!("~ peer chr01 ({hub}) allowed 10.0.12.1/32 -> ")),
        "{drift:#?}"
    );
    assert_eq!(drift[1], format!("- peer ({stranger})"));
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    assert!(
        lab.ns.is_running(wg.pid),
        "the same wireguard-go still runs wg0"
    );
    assert_eq!(
        ifindex(),
        first_ifindex,
        "wg0 was changed in place, never recreated"
    );

    // Routes for the hub's AllowedIPs beyond 10.0.12.0/24 (client sites behind chr01), and a
    // hand-deleted one is put back.
    let routes = lab
        .ns
        .run_ok(&["ip", "-4", "route", "show", "dev", "wg0", "proto", "102"]);
    assert!(routes.contains("10.0.13.0/24"), "{routes}");
    lab.ns
        .run_ok(&["ip", "route", "del", "10.0.13.0/24", "dev", "wg0"]);
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(drift, vec!["+ route 10.0.13.0/24".to_string()]);
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
}

#[test]
fn apply_creates_a_missing_interface_with_wireguard_go() {
    let lab = Lab::new();
    assert!(!lab.ns.has_link("wg0"));
    let out = lab.expect("apply", 0);
    assert!(
        Lab::change_lines(&out).first().map(String::as_str) == Some("+ interface"),
        "{out}"
    );
    assert!(lab.ns.has_link("wg0"), "apply created wg0");
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    let addr = lab
        .ns
        .run_ok(&["ip", "-4", "-o", "addr", "show", "dev", "wg0"]);
    assert!(addr.contains("10.0.12.30/24"), "{addr}");
}

#[test]
fn a_dead_wireguard_go_is_replaced_by_the_next_apply() {
    let lab = Lab::new();
    let wg = lab.ns.wireguard_go("wg0");
    lab.expect("apply", 0);
    lab.ns.stop(wg.pid);
    let gone = support::netns::poll_until(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(20),
        || !lab.ns.has_link("wg0"),
    );
    assert!(gone, "wg0 vanished with its wireguard-go");
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(drift[0], "+ interface", "{drift:#?}");
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
}

#[test]
fn a_killed_wireguard_go_leaves_a_stale_socket_that_the_next_apply_replaces() {
    let lab = Lab::new();
    let wg = lab.ns.wireguard_go("wg0");
    lab.expect("apply", 0);
    // SIGKILL (an OOM kill): no clean-up, the socket file stays behind.
    let killed = std::process::Command::new("kill")
        .args(["-9", &wg.pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let gone = support::netns::poll_until(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(20),
        || !lab.ns.has_link("wg0"),
    );
    assert!(gone, "wg0 vanished with its wireguard-go");
    let sock = lab.ns.wg_run_dir().join("wg0.sock");
    assert!(
        sock.exists(),
        "the killed wireguard-go left {}",
        sock.display()
    );
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(drift[0], "+ interface", "{drift:#?}");
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
}

#[test]
fn a_uapi_socket_that_never_answers_fails_within_the_deadline() {
    let lab = Lab::new();
    // A TUN link named wg0 and a socket that accepts but never answers: a hung daemon.
    lab.ns
        .run_ok(&["ip", "tuntap", "add", "dev", "wg0", "mode", "tun"]);
    let sock = lab.ns.wg_run_dir().join("wg0.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind a silent socket");
    let hold = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(conn);
    });
    let start = std::time::Instant::now();
    let out = lab.fabric("plan");
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
    // The deadline is 10 s; the margin is for a loaded machine (namespace entry can be slow).
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    drop(hold); // detached; it ends on its own
}

#[test]
fn a_second_apply_waits_for_the_first_to_release_the_node_lock() {
    let lab = Lab::new();
    lab.ns.wireguard_go("wg0");
    let lock = std::fs::File::create(lab.ns.wg_run_dir().join("fabric-apply.lock")).unwrap();
    lock.lock()
        .expect("take the apply lock as another apply would");
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(lock);
    });
    let start = std::time::Instant::now();
    lab.expect("apply", 0);
    let waited = start.elapsed();
    release.join().unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(1400),
        "apply ran while the lock was held ({waited:?})"
    );
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
}

/// Link state drift made with `ip` is read back exactly (fabric reads it over rtnetlink):
/// MTU, a replaced address, admin down, a foreign-protocol route and a fabric-protocol route in
/// another table are told apart, and apply puts the link back.
#[test]
fn hand_made_link_drift_is_read_exactly_and_repaired() {
    let lab = Lab::new();
    let _wg = lab.ns.wireguard_go("wg0");
    lab.expect("apply", 0);
    let planned = lab
        .ns
        .run_ok(&["ip", "-4", "-o", "addr", "show", "dev", "wg0"]);
    let planned = planned
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .expect("an IPv4 address on wg0")
        .to_string();
    for cmd in [
        vec!["ip", "link", "set", "dev", "wg0", "mtu", "1300"],
        // Added first: removing a link's last IPv4 address flushes every route through it.
        vec!["ip", "addr", "add", "10.99.0.1/24", "dev", "wg0"],
        vec!["ip", "addr", "del", &planned, "dev", "wg0"],
        vec![
            "ip",
            "route",
            "add",
            "10.98.0.0/24",
            "dev",
            "wg0",
            "proto",
            "102",
            "table",
            "100",
        ],
        vec![
            "ip",
            "route",
            "add",
            "10.97.0.0/24",
            "dev",
            "wg0",
            "proto",
            "static",
        ],
    ] {
        lab.ns.run_ok(&cmd);
    }
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(
        drift,
        vec![
            "~ mtu 1300 -> 1420".to_string(),
            format!("+ address {planned}; - address 10.99.0.1/24"),
        ],
        "routes of another protocol or table are not fabric's"
    );
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    let other_table = lab.ns.run_ok(&["ip", "route", "show", "table", "100"]);
    assert!(
        other_table.contains("10.98.0.0/24"),
        "left alone: {other_table}"
    );

    // The operator's route (proto static, added above) must survive every address change.
    let keeps_static_route = |when: &str| {
        let routes = lab.ns.run_ok(&["ip", "route", "show", "dev", "wg0"]);
        assert!(routes.contains("10.97.0.0/24"), "{when}: {routes}");
    };
    keeps_static_route("address in another subnet");

    // The planned address with another prefix length: two primaries, so the new one goes
    // first and the link never loses its last address.
    let (ip_only, _) = planned.split_once('/').expect("a prefix");
    let wider = format!("{ip_only}/23");
    lab.ns.run_ok(&["ip", "addr", "add", &wider, "dev", "wg0"]);
    lab.ns
        .run_ok(&["ip", "addr", "del", &planned, "dev", "wg0"]);
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(
        drift,
        vec![format!("+ address {planned}; - address {wider}")]
    );
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    keeps_static_route("prefix length changed");

    // The only address replaced by another in the same subnet: the new one would be a
    // secondary of the old primary, so fabric turns on promote_secondaries and still adds
    // first; nothing is flushed.
    let same_subnet = format!("{}.99/24", planned.rsplit_once('.').expect("dotted").0);
    // (Made without ever leaving the link address-less, so its routes stay.)
    for cmd in [
        ["ip", "addr", "add", "10.99.0.1/24", "dev", "wg0"],
        ["ip", "addr", "del", &planned, "dev", "wg0"],
        ["ip", "addr", "add", &same_subnet, "dev", "wg0"],
        ["ip", "addr", "del", "10.99.0.1/24", "dev", "wg0"],
    ] {
        lab.ns.run_ok(&cmd);
    }
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(
        drift,
        vec![format!("+ address {planned}; - address {same_subnet}")]
    );
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
    keeps_static_route("address in the same subnet");

    // Link down also drops the routes through it; both come back.
    lab.ns.run_ok(&["ip", "link", "set", "dev", "wg0", "down"]);
    let drift = Lab::change_lines(&lab.expect("plan", 1));
    assert_eq!(drift[0], "~ link down -> up", "{drift:#?}");
    assert!(
        drift.len() > 1 && drift[1..].iter().all(|l| l.starts_with("+ route ")),
        "{drift:#?}"
    );
    lab.expect("apply", 0);
    assert_eq!(lab.expect("plan", 0), "z640 wg0: no change\n");
}

/// A node on two planes (nuc as a spoke of wg0 and of wg1) routes each prefix through one
/// link and nothing into the other plane's subnet, so apply settles. Before, VLAN 60 was
/// routed on both links (each apply replaced the other's route: never "no change") and
/// 10.33.33.0/24 over wg0 shadowed wg1's connected route.
#[test]
fn a_node_on_two_planes_settles_with_each_route_on_one_link() {
    let shipped = std::fs::read_to_string(topology_path()).expect("read topology.yaml");
    let nuc = "      wg0: { address: 10.0.12.31 }\n";
    assert!(
        shipped.contains(nuc),
        "nuc's wg0 membership moved in topology.yaml"
    );
    let text = shipped.replacen(
        nuc,
        "      wg0: { address: 10.0.12.31 }\n      wg1: { address: 10.33.33.31 }\n",
        1,
    );
    let lab = Lab::with(Some(&text), "nuc");
    let _wg0 = lab.ns.wireguard_go("wg0");
    let _wg1 = lab.ns.wireguard_go("wg1");
    lab.expect("apply", 0);
    assert_eq!(
        lab.expect("plan", 0),
        "nuc wg0: no change\nnuc wg1: no change\n"
    );
    assert_eq!(
        lab.expect("apply", 0),
        "nuc wg0: no change\nnuc wg1: no change\n"
    );
    let table = lab
        .ns
        .run_ok(&["ip", "-4", "-o", "route", "show", "table", "main"]);
    let routes: Vec<(&str, &str)> = table
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let dst = w.next()?;
            let dev = w.skip_while(|x| *x != "dev").nth(1)?;
            Some((dst, dev))
        })
        .collect();
    let on = |dst: &str| -> Vec<&str> {
        routes
            .iter()
            .filter(|(d, _)| *d == dst)
            .map(|(_, dev)| *dev)
            .collect()
    };
    assert_eq!(
        on("10.42.60.0/24").len(),
        1,
        "VLAN 60 on one link:\n{table}"
    );
    assert_eq!(
        on("10.33.33.0/24"),
        ["wg1"],
        "wg1 stays connected:\n{table}"
    );
    assert_eq!(on("10.0.12.0/24"), ["wg0"], "wg0 stays connected:\n{table}");
    for (dst, _) in &routes {
        assert_eq!(on(dst).len(), 1, "{dst} on two links:\n{table}");
    }
    // Cryptokey routing is per interface: both hubs still accept VLAN 60 from nuc's side.
    for plane in ["wg0", "wg1"] {
        let allowed = lab.ns.wg_ok(&["show", plane, "allowed-ips"]);
        assert!(allowed.contains("10.42.60.0/24"), "{plane}: {allowed}");
    }
}

/// Removing a route or an address that is already gone (deleted by hand or by another tool
/// between apply's read and its write) is the state apply wanted, not a failed apply; other
/// failures still fail. Runs `fabric`'s own `ip` calls from a thread in a fresh network
/// namespace (`unshare(CLONE_NEWNET)` affects only that thread and the `ip` it starts).
#[test]
fn removing_a_route_or_address_already_gone_is_not_a_failure() {
    require_root();
    let outcome = std::thread::spawn(|| {
        // SAFETY: unshare takes a flag and touches no memory; it moves only this thread.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        use fabric::apply::ip;
        ip::run(
            "ip",
            &["tuntap", "add", "dev", "fab0", "mode", "tun"],
            ip::CMD_TIMEOUT,
        )
        .unwrap();
        ip::set_up("fab0").unwrap();
        let addr: ipnet::Ipv4Net = "10.0.12.30/24".parse().unwrap();
        let route: ipnet::Ipv4Net = "10.42.60.0/24".parse().unwrap();
        ip::add_address("fab0", addr).unwrap();
        ip::replace_route("fab0", route).unwrap();
        ip::del_route("fab0", route).unwrap();
        ip::del_route("fab0", route).expect("a route already gone");
        ip::del_address("fab0", addr).unwrap();
        ip::del_address("fab0", addr).expect("an address already gone");
        let missing = ip::del_route("nosuch0", route).expect_err("no such link");
        format!("{missing:#}")
    })
    .join()
    .expect("the namespace thread");
    assert!(outcome.contains("nosuch0"), "{outcome}");
}

//! `fabric serve` end to end in the netns lab (root): the controller runs in vps01's
//! namespace; CHR01's underlay veth is cut in the inet namespace → the controller fails over
//! to the policy's target within a bound, persists the epoch, and vps01's own wg0 follows
//! (`chr02`: its peer is CHR02 and CHR02's tunnel address answers; `split-role`: vps01 is the
//! wg0 hub). Manual `fabric failover --to split-role` + `fabric failback`; `kill -9` after a
//! persisted epoch → the restarted controller resumes it; a bad topology on SIGHUP keeps the
//! old one. (Two minutes of loss or flapping on CHR01: tests/hub_trouble_lab.rs; `kill -9` in
//! the middle of a failover, with an agent: tests/failover_e2e.rs.)
//! Traffic stays inside the lab's namespaces (TEST-NET underlay). Labs are torn down on drop.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::netns::poll_until;
use support::serve_lab::{Lab, ONE_LAB, text};
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

/// The capability set of packaging/fabric.service is enough: `fabric serve` as `nobody` with
/// only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (setpriv, no-new-privs) creates vps01's
/// wireguard-go interfaces, binds DNS on :53, probes with ping sockets, and fails over.
#[test]
fn serve_needs_only_net_admin_and_net_bind_service() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // The unprivileged daemon opens /dev/net/tun for wireguard-go: world read-write as Debian's
    // udev makes it. A host without udev keeps 0600; say so instead of failing obscurely.
    use std::os::unix::fs::PermissionsExt;
    let tun = std::fs::metadata("/dev/net/tun").expect("/dev/net/tun exists");
    assert_eq!(
        tun.permissions().mode() & 0o666,
        0o666,
        "/dev/net/tun is {:o}, not 0666 as Debian's udev makes it: run scripts/install-deps.sh \
         (it sets the mode on hosts without udev) before this test",
        tun.permissions().mode() & 0o7777
    );
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
    let mut killed = Vec::new();
    for pid in pids.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.starts_with(b"wireguard-go") {
            assert!(Command::new("kill").arg(pid).status().unwrap().success());
            killed.push(pid.to_string());
        }
    }
    // Gone means the processes ended (their UAPI sockets closed), not only the links: the
    // link goes first, and a new wireguard-go refuses a socket the old one still serves.
    let gone = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        killed.iter().all(|pid| has_ended(pid))
            && !text(&lab.exec("vps01", &["ip", "link"]).stdout).contains("wg0")
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

/// Whether process `pid` has ended: no longer in /proc, or a zombie (its files are closed).
fn has_ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name: "PID (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

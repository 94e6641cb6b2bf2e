//! The whole failover path in the lab (root): `fabric serve` on VPS01 (health checks, REST
//! fencer, agent API, DNS), `fabric agent` on Z640 and NUC, the REST stand-in on CHR01. CHR01's
//! underlay is cut → the controller fails over to CHR02 → the agents move the spokes → Z640 and
//! NUC reach VPS01's wg0 address through CHR02; DNS on wg1 keeps answering throughout. And a
//! `kill -9` of the controller between persisting a failover's epoch and applying it.
//! Traffic stays inside the lab's namespaces (TEST-NET underlay).

mod support;

use std::time::{Duration, Instant};

use support::lab_agents::Agent;
use support::netns::poll_until;
use support::serve_lab::{Lab, text};

/// One lab at a time: the timing assertions need the machine's two cores.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn reaches(lab: &Lab, node: &str, addr: &str, within: Duration) -> bool {
    poll_until(within, Duration::from_millis(20), || {
        lab.exec(node, &["ping", "-c1", "-W0.2", addr])
            .status
            .success()
    })
}

fn resolves(lab: &Lab) -> bool {
    let out = lab.exec(
        "mac",
        &[
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            "@10.33.33.1",
            "git.lab.example.com",
            "A",
        ],
    );
    text(&out.stdout).trim() == "10.33.33.1"
}

/// A lab with the REST stand-ins, `fabric serve` (REST fencer on) and agents on z640 and nuc,
/// both spokes already reaching VPS01 through CHR01.
fn lab_with_agents(tag: &str, target: &str) -> (Lab, Vec<Agent>) {
    let target = format!("  target: {target} ");
    let mut lab = Lab::up_args(tag, &[("  target: chr02 ", &target)], &["--rest-standins"]);
    let root = fabric::lab::root(&lab.prefix);
    lab.serve_args = vec![
        "--routeros-credentials".into(),
        root.join("rest").to_string_lossy().into_owned(),
    ];
    lab.start_serve();
    let agents: Vec<Agent> = ["z640", "nuc"]
        .iter()
        .map(|node| Agent::start(&lab, node))
        .collect();
    for node in ["z640", "nuc"] {
        assert!(
            reaches(&lab, node, "10.0.12.20", Duration::from_secs(15)),
            "{node} → vps01 before the cut"
        );
    }
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
            resolves(&lab)
        }),
        "DNS on wg1 before the cut"
    );
    (lab, agents)
}

/// Cuts CHR01's underlay, then checks that both spokes reach VPS01 through `via` (an
/// endpoint), that DNS on wg1 still answers and that the daemon logs `fence_log` about CHR01.
fn cut_and_follow(lab: &Lab, layout: &str, via: &str, fence_log: &str) {
    let link = lab.underlay_link("203.0.113.10");
    let cut = Instant::now();
    lab.inet(&["link", "set", &link, "down"]);
    let detected = lab.wait_persisted(1, layout, Duration::from_secs(3));
    for node in ["z640", "nuc"] {
        assert!(
            reaches(lab, node, "10.0.12.20", Duration::from_secs(10)),
            "{node} → vps01 after the cut:\n{}",
            lab.log_text()
        );
        let endpoints = text(&lab.exec(node, &["wg", "show", "wg0", "endpoints"]).stdout);
        assert!(
            endpoints.contains(via),
            "{node} must now use {via}: {endpoints}"
        );
        eprintln!(
            "{layout}: {node} reaches vps01 via {via} {:.3} s after the cut (failover persisted at {:.3} s)",
            cut.elapsed().as_secs_f64(),
            detected.as_secs_f64()
        );
        assert!(
            resolves(lab),
            "DNS on wg1 keeps answering during the failover"
        );
    }
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(50), || lab
            .log_text()
            .contains(fence_log)),
        "{}",
        lab.log_text()
    );
}

#[test]
fn cut_hub_moves_spokes_through_agents_to_chr02_and_dns_keeps_answering() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, agents) = lab_with_agents("e", "chr02");
    // CHR01 is unreachable: the fence is attempted in the background and reported as impossible.
    cut_and_follow(&lab, "chr02", "203.0.113.20:51820", "fence not possible");
    drop(agents);
}

#[test]
fn cut_hub_moves_spokes_through_agents_to_vps01_in_split_role() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, agents) = lab_with_agents("s", "split-role");
    // CHR01 keeps the SSTP role in split-role: not fenced; the hub push gives it the layout.
    cut_and_follow(
        &lab,
        "split-role",
        "198.51.100.20:51820",
        "not fenced: it keeps a role in this layout",
    );
    // Client sites keep CHR01 for SSTP in split-role; here CHR01 itself is cut, so only check
    // that VPS01 now serves wg0 as the hub.
    assert!(
        text(&lab.exec("vps01", &["wg", "show", "wg0", "peers"]).stdout)
            .lines()
            .count()
            >= 3
    );
    drop(agents);
}

#[test]
fn hub_with_dead_wireguard_but_live_rest_is_fenced() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, agents) = lab_with_agents("w", "chr02");
    // CHR01's WireGuard stops answering (UDP 51820 dropped in its namespace); its underlay and
    // REST stay up, so the controller can and must fence it.
    let chr01 = lab.node_ns("chr01");
    for rule in [
        vec!["nft", "add", "table", "inet", "fabtest"],
        vec![
            "nft",
            "add",
            "chain",
            "inet",
            "fabtest",
            "in",
            "{ type filter hook input priority 0 ; }",
        ],
        vec![
            "nft", "add", "rule", "inet", "fabtest", "in", "udp", "dport", "51820", "drop",
        ],
    ] {
        chr01
            .run(&rule.iter().map(|s| &**s).collect::<Vec<_>>())
            .unwrap();
    }
    lab.wait_persisted(1, "chr02", Duration::from_secs(5));
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(50), || lab
            .log_text()
            .contains("fenced: fabric-owned peers disabled")),
        "{}",
        lab.log_text()
    );
    let peers = text(&lab.exec("chr01", &["wg", "show", "wg0", "peers"]).stdout);
    assert!(
        peers.trim().is_empty(),
        "fenced chr01 keeps no active spoke peers: {peers}"
    );
    // Client routers prefer chr01 (first in sstp.hubs): it refuses them while chr02 has the
    // SSTP role — its three fabric PPP secrets disabled, the three lab sessions ended.
    let log = lab.log_text();
    assert!(
        log.contains("ppp_secrets_disabled=3 sstp_sessions_ended=3"),
        "{log}"
    );
    let sessions = text(&lab.exec("chr01", &["wg", "show", "sstp", "peers"]).stdout);
    assert!(
        sessions.trim().is_empty(),
        "chr01's stand-in SSTP sessions ended: {sessions}"
    );
    for node in ["z640", "nuc"] {
        assert!(
            reaches(&lab, node, "10.0.12.20", Duration::from_secs(10)),
            "{node} → vps01 via chr02 after the fence"
        );
    }

    // Failback un-fences: CHR01's WireGuard answers again, `fabric failback` → the daemon
    // pushes CHR01's configuration in the background, which enables its fabric peers.
    chr01
        .run(&["nft", "delete", "table", "inet", "fabtest"])
        .unwrap();
    let out = lab.fabric(&["failback"]);
    assert!(out.status.success(), "failback: {}", text(&out.stderr));
    lab.wait_persisted(2, "primary", Duration::from_secs(5));
    let back = Instant::now();
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            text(&lab.exec("chr01", &["wg", "show", "wg0", "peers"]).stdout)
                .lines()
                .count()
                >= 3
        }),
        "failback must re-enable chr01's peers:\n{}",
        lab.log_text()
    );
    eprintln!(
        "failback → chr01's peers enabled again: {:.3} s",
        back.elapsed().as_secs_f64()
    );
    assert!(lab.status().unwrap().contains("hub push chr01: pushed"));
    for node in ["z640", "nuc"] {
        assert!(
            reaches(&lab, node, "10.0.12.20", Duration::from_secs(15)),
            "{node} → vps01 via chr01 after the failback"
        );
    }
    drop(agents);
}

/// `kill -9` of the controller in the middle of a failover. The test holds vps01's
/// `fabric apply` lock (the flock the daemon takes around every apply of its own interfaces),
/// so after CHR01's underlay is cut the daemon persists the new epoch (always its first
/// action), fences, and then blocks on the lock before applying and publishing. It is killed
/// right there: decided and persisted, not applied, not published. The restart must resume
/// that same epoch (not decide a new one), apply it, publish it, and the agent on z640 must
/// move to CHR02, without ever applying an older epoch. No test hook in the daemon: the lock
/// is the one `fabric apply` and the daemon really share.
#[test]
fn kill_9_between_persist_and_apply_resumes_the_same_epoch_and_converges() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up("k", "chr02");
    // A controller that ran before: epoch 4 on primary (so "older" has a meaning for agents).
    lab.seed_state(4, "primary");
    lab.start_serve();
    let z640 = Agent::start(&lab, "z640");
    let mut applied_seen: Vec<u64> = Vec::new();
    let mut watch_agent = |want: (u64, &str)| {
        let a = z640.applied();
        if let Some((epoch, _)) = &a {
            applied_seen.push(*epoch);
        }
        a == Some((want.0, want.1.to_string()))
    };
    assert!(
        poll_until(Duration::from_secs(15), Duration::from_millis(20), || {
            watch_agent((4, "primary"))
        }),
        "the agent takes the current epoch 4: {}",
        z640.log_text()
    );
    assert!(reaches(&lab, "z640", "10.0.12.20", Duration::from_secs(15)));

    let lock = lab.hold_apply_lock();
    let link = lab.underlay_link("203.0.113.10");
    lab.inet(&["link", "set", &link, "down"]);
    lab.wait_persisted(5, "chr02", Duration::from_secs(3));
    // The daemon is now inside ApplyLocal, waiting for the lock (LOCK_TIMEOUT is 30 s).
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
            lab.log_text().contains("waiting for another fabric apply")
        }),
        "{}",
        lab.log_text()
    );
    let pid = lab.daemon_pid();
    lab.kill9();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    eprintln!("killed the daemon (pid {pid}) with epoch 5 persisted, before its apply");

    // Mid-failover: decided and persisted only.
    assert_eq!(lab.persisted(), Some((5, "chr02".into())));
    let endpoints = lab.wg(&["wg0", "endpoints"]);
    assert!(
        endpoints.contains("203.0.113.10:51820") && !endpoints.contains("203.0.113.20"),
        "vps01's wg0 was not applied yet: {endpoints}"
    );
    assert!(watch_agent((4, "primary")), "{}", z640.log_text());
    assert_eq!(z640.applied_epochs(), vec![4], "{}", z640.log_text());

    drop(lock);
    let restart = Instant::now();
    lab.start_serve();
    let status = lab.status().unwrap();
    assert!(
        status.starts_with("epoch 5\nlayout chr02\nphase failed over"),
        "the restart resumes epoch 5, it does not decide again: {status}"
    );
    assert!(!status.contains("\ndecision "), "no new decision: {status}");
    // Two starts, two resumes: epoch 4 (seeded), then epoch 5 (persisted before the kill).
    let log = lab.log_text();
    let resumed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("resuming persisted state"))
        .collect();
    assert!(
        resumed.len() == 2 && resumed[0].contains("epoch=4") && resumed[1].contains("epoch=5"),
        "{resumed:#?}"
    );
    assert_eq!(lab.persisted(), Some((5, "chr02".into())));
    // The decision log is honest about the crash: decided, never applied, restarted.
    let decisions =
        std::fs::read_to_string(lab.state_dir().join(fabric::daemon::audit::FILE)).unwrap();
    let events: Vec<String> = decisions
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] != "fence")
        .map(|r| format!("{} {}", r["event"].as_str().unwrap(), r["epoch"]))
        .collect();
    assert_eq!(events, ["start 4", "decision 5", "start 5"], "{decisions}");
    assert!(lab.wg(&["wg0", "endpoints"]).contains("203.0.113.20:51820"));
    assert!(
        lab.vps01_reaches("10.0.12.2"),
        "vps01 reaches chr02 over wg0"
    );

    // The agent was backing off while the controller was gone (at most 10 s between tries).
    assert!(
        poll_until(Duration::from_secs(25), Duration::from_millis(20), || {
            watch_agent((5, "chr02"))
        }),
        "the agent takes the resumed epoch 5: {}",
        z640.log_text()
    );
    let agent_took = restart.elapsed();
    let endpoints = text(&lab.exec("z640", &["wg", "show", "wg0", "endpoints"]).stdout);
    assert!(endpoints.contains("203.0.113.20:51820"), "{endpoints}");
    assert!(
        reaches(&lab, "z640", "10.0.12.20", Duration::from_secs(10)),
        "z640 reaches vps01 via chr02"
    );
    eprintln!(
        "restart → agent applied epoch 5 in {:.2} s, z640 → vps01 via chr02 at {:.2} s",
        agent_took.as_secs_f64(),
        restart.elapsed().as_secs_f64()
    );
    assert_eq!(z640.applied_epochs(), vec![4, 5], "{}", z640.log_text());
    assert!(
        applied_seen.windows(2).all(|w| w[0] <= w[1]),
        "the agent's applied epoch went back: {applied_seen:?}"
    );
    assert!(!z640.log_text().contains("not newer than the applied one"));
}

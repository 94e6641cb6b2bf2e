//! Hub pushes and SSTP session reporting end to end in the netns lab (root), with the
//! RouterOS REST stand-ins (`--rest-standins`; **stand-ins, not RouterOS**) and `fabric serve`
//! in vps01's namespace: a spoke added to the topology + SIGHUP → the new peer appears on
//! CHR02's stand-in wireguard-go interface (`wg show wg0` in its namespace), pushed in the
//! background; `fabric status` tells which hub each client router uses (the lab's SSTP
//! stand-in tunnels all go to the layout's SSTP hub, CHR01). Torn down on drop.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use fabric::model::PrivateKey;
use support::netns::poll_until;
use support::serve_lab::{Lab, ONE_LAB, text};

fn wg_peers(lab: &Lab, node: &str) -> String {
    text(&lab.exec(node, &["wg", "show", "wg0", "peers"]).stdout)
}

#[test]
fn added_spoke_is_pushed_to_the_standby_hub_on_sighup_and_status_shows_sstp_usage() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up_args("p", &[], &["--rest-standins"]);
    let root = fabric::lab::root(&lab.prefix);
    lab.serve_args = vec![
        "--routeros-credentials".into(),
        root.join("rest").to_string_lossy().into_owned(),
    ];
    lab.start_serve();

    // Startup: both hubs are brought to the plan (the stand-ins' imported tags get ours).
    let pushed = |node: &str| {
        lab.status()
            .is_some_and(|s| s.contains(&format!("hub push {node}: pushed")))
    };
    assert!(
        poll_until(Duration::from_secs(15), Duration::from_millis(50), || {
            pushed("chr01") && pushed("chr02")
        }),
        "startup pushes: {:?}\n{}",
        lab.status(),
        lab.log_text()
    );
    let hash = lab.state_dir().join("hub-push/chr02.hash");
    let first = std::fs::read_to_string(&hash).expect("chr02's push hash is kept");

    // SSTP: every client stand-in dials CHR01 (the layout's SSTP hub); CHR02 has none.
    assert!(
        poll_until(Duration::from_secs(25), Duration::from_millis(200), || {
            lab.status().is_some_and(|s| {
                ["client-a-hq", "client-a-shop", "client-b"]
                    .iter()
                    .all(|c| {
                        s.contains(&format!(
                            "sstp client {c}: using chr01; connected to chr01\n"
                        ))
                    })
            })
        }),
        "status: {:?}",
        lab.status()
    );
    let status = lab.status().unwrap();
    assert!(
        status.contains("sstp hub chr01: 3 SSTP session(s)"),
        "{status}"
    );
    assert!(
        status.contains("sstp hub chr02: 0 SSTP session(s)"),
        "{status}"
    );
    eprintln!("{status}");

    // A new spoke on wg0 (it keeps its own key: only the public key is in the topology).
    let key = PrivateKey::generate().public_key().to_base64();
    assert!(!wg_peers(&lab, "chr02").contains(&key));
    let yaml = std::fs::read_to_string(&lab.topology).unwrap();
    let added = yaml.replacen(
        "  mac:\n",
        &format!(
            "  z641:\n    platform: linux\n    description: added by the test\n    planes:\n      wg0: {{ address: 10.0.12.32, public_key: \"{key}\" }}\n  mac:\n"
        ),
        1,
    );
    assert_ne!(added, yaml);
    std::fs::write(&lab.topology, added).unwrap();
    let pid = lab.serve.as_ref().unwrap().id().to_string();
    let hup = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let on_chr02 = poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
        wg_peers(&lab, "chr02").contains(&key)
    });
    assert!(
        on_chr02,
        "z641 never appeared on chr02:\n{}",
        lab.log_text()
    );
    eprintln!(
        "SIGHUP → new peer on chr02's stand-in interface: {:.3} s",
        hup.elapsed().as_secs_f64()
    );
    let allowed = text(
        &lab.exec("chr02", &["wg", "show", "wg0", "allowed-ips"])
            .stdout,
    );
    assert!(
        allowed.contains(&format!("{key}\t10.0.12.32/32")),
        "{allowed}"
    );
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            wg_peers(&lab, "chr01").contains(&key)
        }),
        "the active hub gets it too"
    );
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
            std::fs::read_to_string(&hash).is_ok_and(|h| h != first)
        }),
        "the new content hash is recorded"
    );
    // The daemon stays healthy and keeps its layout.
    let status = lab.status().unwrap();
    assert!(status.contains("layout primary"), "{status}");
}

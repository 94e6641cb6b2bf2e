//! Hub pushes and SSTP session reporting end to end in the netns lab (root), with the
//! RouterOS REST stand-ins (`--rest-standins`; **stand-ins, not RouterOS**) and `fabric serve`
//! in vps01's namespace: a spoke added to the topology + SIGHUP → the new peer appears on
//! CHR02's stand-in wireguard-go interface (`wg show wg0` in its namespace), pushed in the
//! background; `fabric status` tells which hub each client router uses (the lab's SSTP
//! stand-in tunnels all go to the layout's SSTP hub, CHR01); a peer disabled on CHR02 by hand
//! (drift the content hash cannot see) is re-enabled by the verify a SIGHUP runs; a client
//! router added to `sstp.clients` reaches CHR02's stand-in `/ppp/secret` after SIGHUP once its
//! password file exists (before that: not pushed, one warning, repeated verifies stay quiet).
//! Torn down on drop.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use fabric::model::PrivateKey;
use support::netns::poll_until;
use support::serve_lab::{Lab, ONE_LAB, text};

/// Where the daemon serves metrics: loopback inside vps01's namespace.
const METRICS: &str = "127.0.0.1:9586";

/// `GET /metrics` from inside vps01's namespace.
fn scrape(lab: &Lab) -> String {
    let url = format!("http://{METRICS}/metrics");
    let out = lab.exec("vps01", &["curl", "-sS", "--max-time", "5", &url]);
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    text(&out.stdout)
}

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
        "--metrics".into(),
        METRICS.into(),
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

    // The same facts as Prometheus metrics (vps01's loopback, inside its namespace).
    let metrics = scrape(&lab);
    for (series, value) in [
        ("fabric_hub_push_ok{hub=\"chr01\"}", "1"),
        ("fabric_hub_push_ok{hub=\"chr02\"}", "1"),
        ("fabric_sstp_hub_reachable{hub=\"chr01\"}", "1"),
        ("fabric_sstp_hub_sessions{hub=\"chr01\"}", "3"),
        ("fabric_sstp_hub_sessions{hub=\"chr02\"}", "0"),
        ("fabric_sstp_client_hubs{client=\"client-a-hq\"}", "1"),
        ("fabric_sstp_client_hubs{client=\"client-b\"}", "1"),
        ("fabric_layout{layout=\"primary\"}", "1"),
        ("fabric_last_apply_success", "1"),
    ] {
        assert!(
            metrics.lines().any(|l| l == format!("{series} {value}")),
            "{series} {value} not in\n{metrics}"
        );
    }
    // The ICMP probes through the tunnel and over the underlay report their round trip.
    for signal in ["tunnel", "underlay"] {
        let series = format!("fabric_probe_rtt_seconds{{signal=\"{signal}\"}} ");
        let rtt: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in\n{metrics}"));
        assert!(rtt > 0.0 && rtt < 0.3, "{series}{rtt}");
    }

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
    let hup = Instant::now();
    lab.sighup();
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

    // Drift on the router: someone disables the new fabric-owned peer on CHR02 by hand
    // (REST from vps01's namespace, as an admin would). The topology is unchanged, so the
    // content hash is too: only the verify on SIGHUP (and every 30 s) repairs it.
    let rest = Rest::new(&lab, "chr02", "203.0.113.20:8443");
    let id = rest.peer_id(&key);
    rest.patch_peer(&id, r#"{"disabled":"true"}"#);
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
            !wg_peers(&lab, "chr02").contains(&key)
        }),
        "the stand-in removes a disabled peer from wireguard-go"
    );
    let hup = Instant::now();
    lab.sighup();
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            wg_peers(&lab, "chr02").contains(&key)
        }),
        "the hand-disabled peer was not re-enabled:\n{}",
        lab.log_text()
    );
    eprintln!(
        "SIGHUP → hand-disabled peer re-enabled on chr02: {:.3} s",
        hup.elapsed().as_secs_f64()
    );
    assert_eq!(rest.peer_field(&id, "disabled"), "false");

    // SSTP: the startup push gave CHR02's stand-in one /ppp/secret per client router;
    // passwords are never answered (the stand-in has no `sensitive` policy for anyone).
    let secrets = rest.list("ppp/secret");
    let names: Vec<&str> = secrets
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["client-a-hq", "client-a-shop", "client-b"],
        "{secrets}"
    );
    assert!(
        secrets
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("password").is_none())
    );

    // A client router added to the topology before its password exists: not pushed, one
    // warning however many verifies run.
    let yaml = std::fs::read_to_string(&lab.topology).unwrap();
    let added = yaml.replacen(
        "    - name: client-b\n",
        "    - name: client-c\n      site: added by the test\n      address: 10.0.13.14\n      lans: [192.168.70.0/24]\n    - name: client-b\n",
        1,
    );
    assert_ne!(added, yaml);
    std::fs::write(&lab.topology, added).unwrap();
    let warning = |lab: &Lab| {
        lab.log_text()
            .lines()
            .filter(|l| {
                l.contains("chr02") && l.contains("no SSTP password held for user client-c")
            })
            .count()
    };
    for round in 0..2 {
        assert!(poll_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || last_push_age(&lab, "chr02").is_some_and(|a| a >= 0.2)
        ));
        let hup = Instant::now();
        lab.sighup();
        assert!(
            poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
                pushed_since(&lab, "chr02", hup)
            }),
            "round {round}: no push after SIGHUP:\n{}",
            lab.log_text()
        );
    }
    assert_eq!(warning(&lab), 1, "{}", lab.log_text());
    assert!(rest.ppp_secret("client-c").is_none());
    let in_step = |lab: &Lab| {
        scrape(lab).lines().find_map(|l| {
            l.strip_prefix("fabric_hub_push_ok{hub=\"chr02\"} ")
                .map(str::to_string)
        })
    };
    assert_eq!(
        in_step(&lab).as_deref(),
        Some("0"),
        "a client password not held"
    );

    // The operator creates the password (`fabric keys` makes only what is missing), SIGHUP.
    let keys = Command::new(env!("CARGO_BIN_EXE_fabric"))
        .args(["keys", "-t"])
        .arg(&lab.topology)
        .arg("--secrets")
        .arg(root.join("secrets"))
        .output()
        .unwrap();
    assert!(keys.status.success(), "{}", text(&keys.stderr));
    let password = std::fs::read_to_string(root.join("secrets/sstp/client-c.password")).unwrap();
    let hup = Instant::now();
    lab.sighup();
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            rest.ppp_secret("client-c").is_some()
        }),
        "client-c's secret never reached chr02:\n{}",
        lab.log_text()
    );
    assert!(
        poll_until(Duration::from_secs(5), Duration::from_millis(50), || {
            in_step(&lab).as_deref() == Some("1")
        }),
        "chr02 in step again: {:?}",
        in_step(&lab)
    );
    eprintln!(
        "SIGHUP → new client router's /ppp/secret on chr02's stand-in: {:.3} s",
        hup.elapsed().as_secs_f64()
    );
    let c = rest.ppp_secret("client-c").unwrap();
    assert_eq!(c["remote-address"], "10.0.13.14");
    assert_eq!(c["routes"], "192.168.70.0/24 10.0.13.14 1");
    assert_eq!(c["service"], "sstp");
    assert_eq!(c["profile"], "fabric-sstp");
    assert!(c.get("password").is_none());
    assert!(
        !lab.log_text().contains(password.trim()),
        "a password was logged"
    );

    // The daemon stays healthy and keeps its layout.
    let status = lab.status().unwrap();
    assert!(status.contains("layout primary"), "{status}");
}

/// How long ago (`fabric status`, 0.1 s resolution) the last completed push of `node` ended.
fn last_push_age(lab: &Lab, node: &str) -> Option<f64> {
    let prefix = format!("hub push {node}: pushed");
    lab.status()?
        .lines()
        .find(|l| l.starts_with(&prefix))?
        .rsplit_once(", ")?
        .1
        .strip_suffix(" s ago")?
        .parse()
        .ok()
}

/// Whether the last completed push of `node` ended after `since` (callers make sure the
/// push before `since` is at least 0.2 s old, more than the status' rounding).
fn pushed_since(lab: &Lab, node: &str, since: Instant) -> bool {
    // Taken before asking: an age below it ended after `since`.
    let bound = since.elapsed().as_secs_f64();
    last_push_age(lab, node).is_some_and(|age| age < bound)
}

/// REST calls to a hub's stand-in with curl from vps01's namespace (pinned certificate,
/// Basic auth from the lab's files).
struct Rest<'a> {
    lab: &'a Lab,
    base: String,
    cacert: String,
    user: String,
}

impl<'a> Rest<'a> {
    fn new(lab: &'a Lab, node: &str, addr: &str) -> Rest<'a> {
        let (crt, _, password) = fabric::lab::rest::files(&lab.prefix, node);
        let pw = std::fs::read_to_string(password).unwrap();
        Rest {
            lab,
            base: format!("https://{addr}/rest"),
            cacert: crt.to_string_lossy().into_owned(),
            user: format!("fabric:{}", pw.trim()),
        }
    }

    fn curl(&self, args: &[&str]) -> serde_json::Value {
        let mut cmd = vec![
            "curl",
            "-sS",
            "--fail-with-body",
            "--max-time",
            "5",
            "--cacert",
            &self.cacert,
            "-u",
            &self.user,
        ];
        cmd.extend_from_slice(args);
        let out = self.lab.exec("vps01", &cmd);
        assert!(
            out.status.success(),
            "curl {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn list(&self, menu: &str) -> serde_json::Value {
        self.curl(&[&format!("{}/{menu}", self.base)])
    }

    fn ppp_secret(&self, name: &str) -> Option<serde_json::Value> {
        self.list("ppp/secret")
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
    }

    fn peer_id(&self, key: &str) -> String {
        let peers = self.curl(&[&format!("{}/interface/wireguard/peers", self.base)]);
        peers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["public-key"] == key)
            .and_then(|p| p[".id"].as_str())
            .unwrap_or_else(|| panic!("no peer {key} in {peers}"))
            .to_string()
    }

    fn patch_peer(&self, id: &str, body: &str) {
        let url = format!("{}/interface/wireguard/peers/{id}", self.base);
        self.curl(&[
            "-X",
            "PATCH",
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &url,
        ]);
    }

    fn peer_field(&self, id: &str, field: &str) -> String {
        let url = format!("{}/interface/wireguard/peers/{id}", self.base);
        self.curl(&[&url])[field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

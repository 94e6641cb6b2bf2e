//! The hub push executor against the REST stand-in on 127.0.0.1 (the stand-in records
//! WireGuard effects instead of running `wg`): a standby hub holding an old generation, a
//! fenced peer, a peer that left the topology and an operator's own peer → one push makes it
//! match the plan, touches nothing it does not own, and a second push has nothing to do.
//! The SSTP side: `/ppp/profile` and `/ppp/secret` pushed with passwords that are sent once,
//! never answered, never printed. Also `/ppp/active` (read-only) through the client.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use fabric::model::{NodeName, PrivateKey, Secret};
use fabric::plan::KeyRing;
use fabric::render::Secrets;
use fabric::routeros_rest::hub::{self, OpKind, push::push};
use fabric::routeros_rest::standin::{self, Effect, Store};
use fabric::routeros_rest::{Menu, Record, RestClient};
use support::rest_standin::{LoopbackStandin, PASSWORD, no_sessions, sstp_sessions};

const TOPOLOGY: &str = include_str!("../topology.yaml");

fn rec(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// CHR02's desired records in `primary` (keys generated for the test), no SSTP passwords.
fn chr02() -> hub::Desired {
    chr02_with(&Secrets::default())
}

fn chr02_with(secrets: &Secrets) -> hub::Desired {
    desired_of("chr02", "primary", secrets)
}

/// `node`'s desired records in `layout` (keys generated for the test).
fn desired_of(node: &str, layout: &str, secrets: &Secrets) -> hub::Desired {
    let t = fabric::validate::load(TOPOLOGY).unwrap();
    let mut ring = KeyRing::default();
    for (id, public) in KeyRing::needed(&t) {
        ring.0.insert(
            id,
            public.unwrap_or_else(|| PrivateKey::generate().public_key()),
        );
    }
    let plan = fabric::plan::plan(&t, &ring, layout).unwrap();
    hub::desired(&plan.nodes[&node.parse().unwrap()], secrets)
}

const CLIENTS: [&str; 3] = ["client-a-hq", "client-a-shop", "client-b"];

/// Every client's SSTP password.
fn passwords() -> Secrets {
    let mut s = Secrets::default();
    for c in CLIENTS {
        s.passwords.insert(
            c.parse::<NodeName>().unwrap(),
            Secret::new(format!("Pw-{c}-4kT")),
        );
    }
    s
}

struct Router {
    client: RestClient,
    standin: LoopbackStandin,
}

async fn start(store: Store, ppp: standin::PppSource) -> Router {
    let standin = LoopbackStandin::start("chr02", store, ppp).await;
    Router {
        client: standin.client(PASSWORD),
        standin,
    }
}

#[tokio::test]
async fn push_converges_a_stale_standby_and_leaves_foreign_objects_alone() {
    let d = chr02();
    let by_what: BTreeMap<&str, &hub::Object> = d
        .objects
        .iter()
        .filter(|o| o.menu != Menu::IpAddress)
        .map(|o| (o.what.as_str(), o))
        .collect();
    let mut store = Store::default();
    // The interface and address as an older .rsc import left them (older generation, old MTU).
    let mut wg0 = by_what["wg0"].record.clone();
    wg0.insert("mtu".into(), "1380".into());
    wg0.insert("comment".into(), "fabric:g00000001:wg0".into());
    wg0.insert(
        "public-key".into(),
        by_what["wg0"].public_key.clone().unwrap(),
    );
    store.insert(Menu::Wireguard, wg0);
    store.insert(
        Menu::IpAddress,
        rec(&[
            ("address", "10.0.12.2/24"),
            ("interface", "wg0"),
            ("comment", "fabric:g00000001:wg0"),
        ]),
    );
    // The client-site forward rule, as the import placed it (the push only checks it).
    store.insert(Menu::FirewallFilter, standin::client_site_forward_rule());
    // z640 fenced, nuc missing, a spoke that left the topology, an operator's own peer.
    let mut z640 = by_what["wg0:peer=z640"].record.clone();
    z640.insert("disabled".into(), "true".into());
    z640.insert("comment".into(), "fabric:g00000001:wg0:peer=z640".into());
    store.insert(Menu::WireguardPeers, z640);
    let mut vps01 = by_what["wg0:peer=vps01"].record.clone();
    vps01.insert("comment".into(), "fabric:g00000001:wg0:peer=vps01".into());
    store.insert(Menu::WireguardPeers, vps01);
    store.insert(
        Menu::WireguardPeers,
        rec(&[
            ("interface", "wg0"),
            ("name", "retired"),
            ("public-key", "UkVUSVJFRA=="),
            ("allowed-address", "10.0.12.99/32"),
            ("comment", "fabric:g00000001:wg0:peer=retired"),
        ]),
    );
    store.insert(
        Menu::WireguardPeers,
        rec(&[
            ("interface", "wg0"),
            ("name", "laptop"),
            ("public-key", "TEFQVE9Q"),
            ("allowed-address", "10.0.12.200/32"),
            ("comment", "operator laptop"),
        ]),
    );
    let r = start(store, no_sessions()).await;

    let dry = push(&r.client, &d, true).await.unwrap();
    assert_eq!(dry.done, 0);
    assert!(
        r.standin.sink.effects.lock().unwrap().is_empty(),
        "a dry run changes nothing"
    );
    let kinds: Vec<(String, &str)> = dry
        .diff
        .ops
        .iter()
        .map(|o| {
            let k = match o.kind {
                OpKind::Add => "add",
                OpKind::Set { .. } => "set",
                OpKind::Remove { .. } => "remove",
            };
            (o.what.clone(), k)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("wg0:peer=retired".to_string(), "remove"),
            ("wg0".into(), "set"),
            // The interface list the forward rule lets through (the older import had none).
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("wg0:peer=z640".into(), "set"),
            ("wg0:peer=nuc".into(), "add"),
            ("wg0:route=10.33.33.0/24".into(), "add"),
            ("wg0:route=10.42.60.0/24".into(), "add"),
            // Every client site (PPP address, LAN), before any secret.
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("isolation".into(), "add"),
            ("sstp".into(), "add"),
        ],
        "{:?}",
        dry.diff.ops
    );

    let start_t = Instant::now();
    let out = push(&r.client, &d, false).await.unwrap();
    eprintln!("push of {} operations: {:?}", out.done, start_t.elapsed());
    assert_eq!(
        out.done, 15,
        "the address only has an older generation: left"
    );
    assert!(out.diff.conflicts.is_empty());
    assert_eq!(out.diff.warnings.len(), 3, "{:?}", out.diff.warnings);
    assert!(
        out.diff
            .warnings
            .iter()
            .all(|w| w.contains("no SSTP password held") && w.ends_with("not added")),
        "no password held: no secret, never an empty password: {:?}",
        out.diff.warnings
    );
    let effects = r.standin.effects();
    let touched: Vec<String> = effects
        .iter()
        .map(|e| match e {
            Effect::PeerSet { record, .. } => format!("set {}", record["name"]),
            Effect::PeerRemove { public_key, .. } => format!("remove {public_key}"),
            Effect::Link { up, .. } => format!("link {up}"),
            Effect::SessionDrop { address, .. } => format!("drop {address}"),
        })
        .collect();
    assert_eq!(
        touched,
        ["remove UkVUSVJFRA==", "set z640", "set nuc"],
        "the fenced peer comes back, the new one is added, the retired one goes"
    );
    let peers = r.client.list(Menu::WireguardPeers, &[]).await.unwrap();
    let laptop = peers.iter().find(|p| p["name"] == "laptop").unwrap();
    assert_eq!(
        laptop["comment"], "operator laptop",
        "foreign peer untouched"
    );
    assert_eq!(laptop["disabled"], "false");
    assert!(peers.iter().all(|p| p["disabled"] == "false"));
    let members = r
        .client
        .list(Menu::InterfaceListMember, &[("list", "fabric-wg")])
        .await
        .unwrap();
    let members: Vec<&str> = members.iter().map(|m| m["interface"].as_str()).collect();
    assert_eq!(members, ["wg0"], "the hub's plane reaches the client sites");
    let wg = r.client.list(Menu::Wireguard, &[]).await.unwrap();
    assert_eq!(wg[0]["mtu"], "1420");
    assert_eq!(wg[0]["comment"], format!("fabric:g{}:wg0", d.generation));

    let again = push(&r.client, &d, false).await.unwrap();
    assert!(again.diff.ops.is_empty(), "{:?}", again.diff.ops);
}

/// A standby hub from an older import: the profile with an old local-address, a secret of a
/// client that left, an operator's own dial-in secret. One push brings the SSTP side to the
/// plan (passwords sent with the adds, never answered back); a verify with the remembered
/// marks does nothing; a rotated password is the only thing a later push sends.
#[tokio::test]
async fn ppp_secrets_are_pushed_and_passwords_sent_only_when_needed() {
    let key = b"marking key for the test........";
    let mut d = chr02_with(&passwords());
    d.mark_passwords(key);
    let mut store = Store::default();
    store.insert(
        Menu::PppProfile,
        rec(&[
            ("name", "fabric-sstp"),
            ("local-address", "10.0.13.250"),
            ("use-encryption", "yes"),
            ("change-tcp-mss", "yes"),
            ("only-one", "yes"),
            ("comment", "fabric:g00000001:sstp"),
        ]),
    );
    store.insert(
        Menu::PppSecret,
        rec(&[
            ("name", "client-old"),
            ("password", "old-password"),
            ("service", "sstp"),
            ("profile", "fabric-sstp"),
            ("remote-address", "10.0.13.40"),
            ("comment", "fabric:g00000001:client=client-old"),
        ]),
    );
    store.insert(
        Menu::PppSecret,
        rec(&[
            ("name", "dial-in"),
            ("password", "operator-pw"),
            ("service", "l2tp"),
            ("profile", "default-encryption"),
        ]),
    );
    let r = start(store, no_sessions()).await;
    let remembered = BTreeMap::new();
    let t0 = Instant::now();
    let out = hub::push::push_remembering(&r.client, &d, &remembered, false)
        .await
        .unwrap();
    eprintln!("first push: {} operations in {:?}", out.done, t0.elapsed());
    let ppp: Vec<String> = out
        .diff
        .ops
        .iter()
        .filter(|o| matches!(o.menu, Menu::PppProfile | Menu::PppSecret))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(ppp.len(), 5, "{ppp:#?}");
    assert!(ppp[0].starts_with("remove /ppp/secret *2 (client=client-old)"));
    assert!(
        ppp[1].starts_with("set /ppp/profile *1 (sstp)")
            && ppp[1].contains("local-address=\"10.0.13.2\"")
    );
    for (line, c) in ppp[2..].iter().zip(CLIENTS) {
        assert!(line.starts_with("add /ppp/secret (client="), "{line}");
        assert!(line.contains(&format!("name=\"{c}\"")), "{line}");
        assert!(line.contains(" password=*** "), "{line}");
        assert!(!line.contains("Pw-"), "a password was shown: {line}");
    }
    assert!(
        out.diff
            .warnings
            .iter()
            .all(|w| !w.contains("SSTP password")),
        "{:?}",
        out.diff.warnings
    );
    assert_eq!(out.diff.marks.len(), 3);

    let secrets = r.client.list(Menu::PppSecret, &[]).await.unwrap();
    assert!(
        secrets.iter().all(|s| !s.contains_key("password")),
        "the stand-in answers like a user without the sensitive policy"
    );
    let names: Vec<&str> = secrets.iter().map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        ["dial-in", "client-a-hq", "client-a-shop", "client-b"]
    );
    let b = &secrets[3];
    assert_eq!(b["remote-address"], "10.0.13.13");
    assert_eq!(b["routes"], "192.168.60.0/24 10.0.13.13 1");
    assert_eq!(b["profile"], "fabric-sstp");
    assert_eq!(b["service"], "sstp");
    assert!(b["comment"].starts_with(&format!("fabric:g{}:client=client-b", d.generation)));
    assert_eq!(
        secrets[0]["service"], "l2tp",
        "the operator's secret is untouched"
    );

    // Verifies (every 30 s in the daemon): nothing is sent, passwords included.
    let t0 = Instant::now();
    let again = hub::push::push_remembering(&r.client, &d, &out.diff.marks, false)
        .await
        .unwrap();
    eprintln!("verify: {:?}", t0.elapsed());
    assert!(again.diff.ops.is_empty(), "{:?}", again.diff.ops);
    assert_eq!(again.diff.marks, out.diff.marks);

    // client-b's password rotated: one set, of its password only.
    let mut rotated = d.clone();
    for o in &mut rotated.objects {
        if o.menu == Menu::PppSecret && o.record["name"] == "client-b" {
            o.password = Some(Secret::new("Pw-client-b-4kT-rotated"));
        }
    }
    rotated.mark_passwords(key);
    let third = hub::push::push_remembering(&r.client, &rotated, &again.diff.marks, false)
        .await
        .unwrap();
    let lines: Vec<String> = third.diff.ops.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("set /ppp/secret *"), "{}", lines[0]);
    assert!(lines[0].contains("password=***") && !lines[0].contains("rotated"));
    assert_eq!(third.done, 1);
}

/// With a REST user that may read passwords (`sensitive`), the password that arrived is the
/// held one, and a push without remembered marks compares it directly (nothing to send).
#[tokio::test]
async fn pushed_password_arrives_and_a_shown_password_is_compared_directly() {
    let d = chr02_with(&passwords());
    let r = start(Store::default().show_sensitive(true), no_sessions()).await;
    let out = push(&r.client, &d, false).await.unwrap();
    assert!(out.done > 0);
    let b = r
        .client
        .list(Menu::PppSecret, &[("name", "client-b")])
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["password"], "Pw-client-b-4kT");
    let again = push(&r.client, &d, false).await.unwrap();
    assert!(again.diff.ops.is_empty(), "{:?}", again.diff.ops);
}

#[tokio::test]
async fn push_to_an_unreachable_hub_fails_within_the_client_timeouts() {
    // A listener that never answers TLS: the push must end with an error, bounded in time.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let cert = fabric::tls::self_signed(&["x".into()], &["127.0.0.1".parse().unwrap()]).unwrap();
    let client = RestClient::with_timeouts(
        &base,
        "fabric",
        Secret::new("pw"),
        cert.cert_pem.as_bytes(),
        std::time::Duration::from_millis(300),
        std::time::Duration::from_millis(500),
    )
    .unwrap();
    let t = Instant::now();
    let e = push(&client, &chr02(), false).await.unwrap_err();
    assert!(e.op.is_none(), "fails while reading: {e}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    drop(listener);
}

#[tokio::test]
async fn ppp_active_is_listed_filtered_and_read_only() {
    let ppp: standin::PppSource = Arc::new(|| {
        Ok(vec![
            rec(&[
                (".id", "*1"),
                ("name", "client-b"),
                ("service", "sstp"),
                ("address", "10.0.13.13"),
            ]),
            rec(&[
                (".id", "*2"),
                ("name", "dialin"),
                ("service", "pppoe"),
                ("address", "10.9.9.9"),
            ]),
        ])
    });
    let r = start(Store::default(), ppp).await;
    let all = r.client.list(Menu::PppActive, &[]).await.unwrap();
    assert_eq!(all.len(), 2);
    let sstp = r
        .client
        .list(Menu::PppActive, &[("service", "sstp")])
        .await
        .unwrap();
    assert_eq!(sstp.len(), 1);
    assert_eq!(sstp[0]["name"], "client-b");
    let e = r
        .client
        .add(Menu::PppActive, &rec(&[("name", "x")]))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
}

/// `fabric hub push` against the stand-in on loopback (`--url`): dry run changes nothing,
/// the push prints each operation with the hub's private key as `***`, a second push says
/// `no change`.
#[test]
fn hub_push_cli_prints_operations_and_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, TOPOLOGY).unwrap();
    let fabric = env!("CARGO_BIN_EXE_fabric");
    let run = |args: &[&str]| {
        std::process::Command::new(fabric)
            .args(args)
            .arg("-t")
            .arg(&topo)
            .output()
            .unwrap()
    };
    assert!(run(&["keys"]).status.success());
    let key = std::fs::read_to_string(dir.path().join("secrets/wg/chr02.wg0.key")).unwrap();
    let key = key.trim();
    let sstp_pw =
        std::fs::read_to_string(dir.path().join("secrets/sstp/client-b.password")).unwrap();
    let sstp_pw = sstp_pw.trim();
    let state = dir.path().join("state");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The stand-in's wg0 reports another public key: the push must send the held key.
    let mut store = Store::default();
    store.insert(
        Menu::Wireguard,
        rec(&[
            ("name", "wg0"),
            ("listen-port", "51820"),
            ("mtu", "1420"),
            ("public-key", "V1JPTkc="),
            ("comment", "fabric:g1:wg0"),
        ]),
    );
    let standin = runtime.block_on(LoopbackStandin::start("chr02", store, no_sessions()));
    let creds = dir.path().join("routeros");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("chr02.crt"), &standin.cert).unwrap();
    std::fs::write(creds.join("chr02.password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(
        creds.join("chr02.password"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let url = standin.base.clone();
    let push = |extra: &[&str]| {
        let mut args = vec!["hub", "push", "--node", "chr02", "--url", &url];
        args.extend_from_slice(&["--routeros-credentials", creds.to_str().unwrap()]);
        args.extend_from_slice(&["--state-dir", state.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = run(&args);
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{o}{e}");
        assert!(o.starts_with(&format!("chr02 at {url} ")), "{o}");
        assert!(!o.contains(key) && !e.contains(key), "the key was printed");
        assert!(
            !o.contains(sstp_pw) && !e.contains(sstp_pw),
            "a password was printed"
        );
        o
    };
    let dry = push(&["--dry-run"]);
    assert!(dry.contains("private-key=***"), "{dry}");
    assert!(
        dry.contains("add /interface/wireguard/peers (wg0:peer=z640)"),
        "{dry}"
    );
    assert!(
        dry.contains("add /ppp/secret (client=client-b Other client router)"),
        "{dry}"
    );
    assert!(dry.contains(" password=*** "), "{dry}");
    assert!(
        dry.contains("add /ip/firewall/address-list (isolation) address=\"192.168.60.0/24\""),
        "{dry}"
    );
    assert!(
        dry.contains("add /interface/list/member (isolation) comment=")
            && dry.contains(" interface=\"wg0\" list=\"fabric-wg\""),
        "{dry}"
    );
    // This stand-in never imported the .rsc: no forward rule, and the push says so.
    assert!(
        dry.contains("warning: /ip/firewall/filter: no enabled rule `chain=forward dst-address-list=fabric-client-sites in-interface-list=!fabric-wg action=drop`: client sites are not kept apart"),
        "{dry}"
    );
    assert!(dry.contains("dry run: 19 operation(s) for chr02"), "{dry}");
    let done = push(&[]);
    assert!(done.contains("chr02: 19 operation(s) applied"), "{done}");
    let marks = std::fs::read_to_string(state.join("hub-push/chr02.passwords")).unwrap();
    assert!(
        marks.contains("\"client-b\"") && !marks.contains(sstp_pw),
        "{marks}"
    );
    // The stand-in does not derive a public key from a pushed private key (it is not
    // RouterOS), so the key is the only difference left (the passwords are remembered).
    let again = push(&["--dry-run"]);
    assert!(again.contains("dry run: 1 operation(s)"), "{again}");
    assert!(
        again.contains("set /interface/wireguard *1 (wg0)"),
        "{again}"
    );
    drop(standin);
}

#[tokio::test]
async fn a_hub_that_must_refuse_its_clients_gets_secrets_disabled_and_their_sessions_ended() {
    // CHR01 in the chr02 layout (pushed, e.g., by `fabric hub push --layout chr02`): client
    // routers prefer it, so it refuses them.
    let d = desired_of("chr01", "chr02", &passwords());
    let sessions = sstp_sessions(&[
        ("*1", "client-a-hq", "10.0.13.11"),
        ("*2", "operator", "10.0.13.50"),
    ]);
    let r = start(Store::default(), sessions).await;
    let outcome = push(&r.client, &d, false).await.unwrap();
    assert!(outcome.done > 0);
    let secrets = r.client.list(Menu::PppSecret, &[]).await.unwrap();
    assert_eq!(secrets.len(), 3);
    assert!(
        secrets.iter().all(|s| s["disabled"] == "true"),
        "{secrets:?}"
    );
    assert_eq!(
        session_drops(&r),
        [Effect::SessionDrop {
            interface: "sstp".into(),
            address: "10.0.13.11".into()
        }],
        "only the refused fabric client's session, not the operator's"
    );
}

#[tokio::test]
async fn a_client_removed_from_the_topology_is_disconnected_before_its_site_is_unlisted() {
    // CHR01 serves the client routers in primary; client-b is then removed from the topology.
    let d = desired_of("chr01", "primary", &passwords());
    let sessions = sstp_sessions(&[
        ("*1", "client-b", "10.0.13.13"),
        ("*2", "client-a-hq", "10.0.13.11"),
    ]);
    let r = start(Store::default(), sessions).await;
    push(&r.client, &d, false).await.unwrap();
    let listed = client_sites(&r.client).await;
    assert!(
        listed.contains(&"192.168.60.0/24".to_string()),
        "{listed:?}"
    );
    assert!(session_drops(&r).is_empty());
    r.standin.writes(); // the first push's writes: not checked below

    let mut without = d.clone();
    without.objects.retain(|o| {
        o.record.get("name").map(String::as_str) != Some("client-b")
            && !matches!(
                o.record.get("address").map(String::as_str),
                Some("10.0.13.13" | "192.168.60.0/24")
            )
    });
    let outcome = push(&r.client, &without, false).await.unwrap();
    // (The other secrets get their passwords again: `push` remembers no marks.)
    let removals: Vec<Menu> = outcome
        .diff
        .ops
        .iter()
        .filter(|o| matches!(o.kind, OpKind::Remove { .. }))
        .map(|o| o.menu)
        .collect();
    assert_eq!(
        removals,
        [Menu::PppSecret, Menu::AddressList, Menu::AddressList],
        "{:?}",
        outcome.diff.ops
    );
    assert_eq!(
        session_drops(&r),
        [Effect::SessionDrop {
            interface: "sstp".into(),
            address: "10.0.13.13".into()
        }],
        "the removed client's session ends (RouterOS keeps it when the secret goes); others stay"
    );
    // Order, as the stand-in carried the writes out: secret gone, then the session ended
    // (it cannot come back), then the site unlisted (it was isolated until then).
    let writes = r.standin.writes();
    let at = |what: &str| {
        let found: Vec<usize> = (0..writes.len())
            .filter(|&i| writes[i].starts_with(what))
            .collect();
        assert!(!found.is_empty(), "no {what} in {writes:#?}");
        found
    };
    let (secret, session, unlisted) = (
        at("DELETE /ppp/secret/"),
        at("DELETE /ppp/active/*1"),
        at("DELETE /ip/firewall/address-list/"),
    );
    assert_eq!(
        (secret.len(), session.len(), unlisted.len()),
        (1, 1, 2),
        "{writes:#?}"
    );
    assert!(
        secret[0] < session[0] && session[0] < unlisted[0],
        "secret, session, then the site's entries: {writes:#?}"
    );
    let listed = client_sites(&r.client).await;
    assert!(
        !listed
            .iter()
            .any(|a| a == "10.0.13.13" || a == "192.168.60.0/24"),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 4, "the other clients' sites stay: {listed:?}");
}

/// The addresses in the hub's `fabric-client-sites` list.
async fn client_sites(client: &RestClient) -> Vec<String> {
    let list = client
        .list(Menu::AddressList, &[("list", "fabric-client-sites")])
        .await
        .unwrap();
    list.into_iter().map(|e| e["address"].clone()).collect()
}

/// The SSTP sessions the stand-in was asked to end, in order.
fn session_drops(r: &Router) -> Vec<Effect> {
    r.standin
        .effects()
        .into_iter()
        .filter(|e| matches!(e, Effect::SessionDrop { .. }))
        .collect()
}

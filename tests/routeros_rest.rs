//! The RouterOS REST client against the lab stand-in, in process on 127.0.0.1 (the stand-in
//! records WireGuard effects instead of running `wg`): Basic auth (401 + documented error
//! body), the pinned certificate, values as strings, `.id`s like `*1`, add/get/set/remove
//! with their effects, RouterOS error bodies, and fencing (only `fabric:` peers disabled).

mod support;

use std::time::{Duration, Instant};

use fabric::model::Secret;
use fabric::routeros_rest::standin::{Effect, Store};
use fabric::routeros_rest::{Menu, Record, RestClient, RestError};
use support::rest_standin::{LoopbackStandin, no_sessions, sstp_sessions};

fn rec(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Router;

impl Router {
    async fn start() -> LoopbackStandin {
        let mut store = Store::default();
        store.insert(
            Menu::Wireguard,
            rec(&[("name", "wg0"), ("listen-port", "51820"), ("mtu", "1420")]),
        );
        store.insert(
            Menu::WireguardPeers,
            rec(&[
                ("interface", "wg0"),
                ("public-key", "Z640KEY="),
                ("allowed-address", "10.0.12.30/32"),
                ("comment", "fabric:g1:wg0:peer=z640"),
            ]),
        );
        store.insert(
            Menu::WireguardPeers,
            rec(&[
                ("interface", "wg0"),
                ("public-key", "ADMINKEY="),
                ("allowed-address", "10.0.12.99/32"),
                ("comment", "operator laptop"),
            ]),
        );
        store.insert(
            Menu::WireguardPeers,
            rec(&[
                ("interface", "wg0"),
                ("public-key", "NUCKEY="),
                ("allowed-address", "10.0.12.31/32"),
                ("comment", "fabric:g1:wg0:peer=nuc"),
            ]),
        );
        store.insert(
            Menu::IpAddress,
            rec(&[("address", "10.0.12.1/24"), ("interface", "wg0")]),
        );
        LoopbackStandin::start("chr01", store, no_sessions()).await
    }
}

#[tokio::test]
async fn wrong_password_is_401_with_routeros_error_body() {
    let r = Router::start().await;
    let e = r.client("wrong").system_resource().await.unwrap_err();
    match e {
        RestError::Api {
            status, message, ..
        } => {
            assert_eq!(status, 401);
            assert_eq!(message, "Unauthorized");
        }
        other => panic!("{other:?}"),
    }
    // The raw answer: status, documented body, WWW-Authenticate.
    let raw = fabric::tls::pinned_http_client(
        r.cert.as_bytes(),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    let resp = raw
        .get(format!("{}/rest/system/resource", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": 401, "message": "Unauthorized"})
    );
}

#[tokio::test]
async fn client_refuses_a_router_that_is_not_the_pinned_one() {
    let r = Router::start().await;
    let other = fabric::tls::self_signed(&["x".into()], &["127.0.0.1".parse().unwrap()]).unwrap();
    let c = RestClient::new(
        &r.base,
        "fabric",
        Secret::new("s3cret"),
        other.cert_pem.as_bytes(),
    )
    .unwrap();
    let e = c.system_resource().await.unwrap_err();
    assert!(
        matches!(&e, RestError::Transport(t) if t.contains("certificate") || t.contains("UnknownIssuer")),
        "{e}"
    );
}

#[tokio::test]
async fn system_resource_and_lists_carry_strings_and_star_ids() {
    let r = Router::start().await;
    let c = r.client("s3cret");
    let t = Instant::now();
    let res = c.system_resource().await.unwrap();
    eprintln!("GET /rest/system/resource: {:?}", t.elapsed());
    assert!(res["version"].contains("stand-in"));
    assert!(res.contains_key("uptime"));
    let peers = c.list(Menu::WireguardPeers, &[]).await.unwrap();
    assert_eq!(peers.len(), 3);
    assert_eq!(peers[0][".id"], "*2");
    assert_eq!(peers[0]["disabled"], "false");
    let filtered = c
        .list(Menu::WireguardPeers, &[("public-key", "NUCKEY=")])
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    // On the wire every value is a JSON string.
    let raw = fabric::tls::pinned_http_client(
        r.cert.as_bytes(),
        Duration::from_secs(2),
        Duration::from_secs(5),
    )
    .unwrap();
    let v: serde_json::Value = raw
        .get(format!("{}/rest/interface/wireguard", r.base))
        .basic_auth("fabric", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (k, val) in v[0].as_object().unwrap() {
        assert!(val.is_string(), "{k} = {val}");
    }
    assert_eq!(v[0]["listen-port"], "51820");
}

#[tokio::test]
async fn add_get_set_remove_and_their_wireguard_effects() {
    let r = Router::start().await;
    let c = r.client("s3cret");
    let added = c
        .add(
            Menu::WireguardPeers,
            &rec(&[
                ("interface", "wg0"),
                ("public-key", "NEWKEY="),
                ("allowed-address", "10.0.12.40/32"),
                ("persistent-keepalive", "25s"),
                ("comment", "fabric:g1:wg0:peer=new"),
            ]),
        )
        .await
        .unwrap();
    let id = added[".id"].clone();
    assert_eq!(id, "*6");
    assert!(
        matches!(&r.effects()[..], [Effect::PeerSet { interface, record }] if interface == "wg0" && record["public-key"] == "NEWKEY=")
    );
    assert_eq!(
        c.get(Menu::WireguardPeers, &id).await.unwrap()["allowed-address"],
        "10.0.12.40/32"
    );
    let set = c
        .set(Menu::WireguardPeers, &id, &rec(&[("disabled", "yes")]))
        .await
        .unwrap();
    assert_eq!(set["disabled"], "true");
    assert_eq!(
        r.effects(),
        [Effect::PeerRemove {
            interface: "wg0".into(),
            public_key: "NEWKEY=".into()
        }]
    );
    c.remove(Menu::WireguardPeers, &id).await.unwrap();
    assert!(
        r.effects().is_empty(),
        "a disabled peer is not on the interface"
    );
    let e = c.get(Menu::WireguardPeers, &id).await.unwrap_err();
    assert_eq!(e.status(), Some(404));

    let e = c
        .add(
            Menu::WireguardPeers,
            &rec(&[
                ("interface", "wg0"),
                ("public-key", "K="),
                ("colour", "red"),
            ]),
        )
        .await
        .unwrap_err();
    match e {
        RestError::Api {
            status,
            message,
            detail,
        } => {
            assert_eq!((status, message.as_str()), (400, "Bad Request"));
            assert_eq!(detail.as_deref(), Some("unknown parameter colour"));
        }
        other => panic!("{other:?}"),
    }
    let a = c
        .add(
            Menu::IpAddress,
            &rec(&[("address", "10.0.12.2/24"), ("interface", "wg0")]),
        )
        .await
        .unwrap();
    c.remove(Menu::IpAddress, &a[".id"]).await.unwrap();
    let e = c
        .set(Menu::Wireguard, "*1", &rec(&[("disabled", "true")]))
        .await
        .unwrap();
    assert_eq!(e["disabled"], "true");
    assert_eq!(
        r.effects(),
        [Effect::Link {
            interface: "wg0".into(),
            up: false
        }]
    );
}

#[tokio::test]
async fn fencing_disables_only_fabric_owned_peers_and_is_idempotent() {
    let r = Router::start().await;
    let c = r.client("s3cret");
    let t = Instant::now();
    let disabled = c.disable_fabric_peers().await.unwrap();
    eprintln!("fence (2 peers): {:?}", t.elapsed());
    assert_eq!(disabled, ["*2", "*4"]);
    let fx = r.effects();
    assert_eq!(fx.len(), 2);
    assert!(
        fx.iter().all(
            |e| matches!(e, Effect::PeerRemove { public_key, .. } if public_key != "ADMINKEY=")
        )
    );
    let peers = c.list(Menu::WireguardPeers, &[]).await.unwrap();
    let admin = peers
        .iter()
        .find(|p| p["public-key"] == "ADMINKEY=")
        .unwrap();
    assert_eq!(
        admin["disabled"], "false",
        "a peer fabric does not own is never touched"
    );
    assert!(
        c.disable_fabric_peers().await.unwrap().is_empty(),
        "second fence changes nothing"
    );
    assert_eq!(c.enable_fabric_peers().await.unwrap(), ["*2", "*4"]);
    assert!(
        r.effects()
            .iter()
            .all(|e| matches!(e, Effect::PeerSet { .. }))
    );
}

#[tokio::test]
async fn refusing_sstp_clients_disables_fabric_secrets_and_ends_only_their_sessions() {
    let mut store = Store::default();
    for (name, comment) in [
        ("client-a-hq", "fabric:g1:client=client-a-hq"),
        ("client-b", "fabric:g1:client=client-b"),
        ("ops-dialin", "operator's own PPP user"),
    ] {
        store.insert(
            Menu::PppSecret,
            rec(&[
                ("name", name),
                ("service", "sstp"),
                ("comment", comment),
                ("disabled", "false"),
            ]),
        );
    }
    let sessions = sstp_sessions(&[
        ("*1", "client-a-hq", "10.0.13.11"),
        ("*2", "ops-dialin", "10.0.13.50"),
        ("*3", "client-b", "10.0.13.13"),
    ]);
    let r = LoopbackStandin::start("chr01", store, sessions).await;
    let c = r.client("s3cret");
    let (disabled, ended) = c.refuse_fabric_ppp().await.unwrap();
    assert_eq!(disabled, ["*1", "*2"], "the two fabric secrets");
    assert_eq!(ended, ["*1", "*3"], "their sessions, not the operator's");
    assert_eq!(
        r.effects(),
        [
            Effect::SessionDrop {
                interface: "sstp".into(),
                address: "10.0.13.11".into()
            },
            Effect::SessionDrop {
                interface: "sstp".into(),
                address: "10.0.13.13".into()
            },
        ]
    );
    let secrets = c.list(Menu::PppSecret, &[]).await.unwrap();
    let state: Vec<(&str, &str)> = secrets
        .iter()
        .map(|s| (s["name"].as_str(), s["disabled"].as_str()))
        .collect();
    assert_eq!(
        state,
        [
            ("client-a-hq", "true"),
            ("client-b", "true"),
            ("ops-dialin", "false")
        ]
    );
    let (again, _) = c.refuse_fabric_ppp().await.unwrap();
    assert!(
        again.is_empty(),
        "secrets already disabled stay as they are"
    );
    // A session that is gone is a 404, as on RouterOS.
    match c.remove(Menu::PppActive, "*9").await.unwrap_err() {
        RestError::Api { status, .. } => assert_eq!(status, 404),
        other => panic!("{other:?}"),
    }
}

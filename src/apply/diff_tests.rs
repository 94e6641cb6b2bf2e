//! Table of diff cases: one plan, observed states that differ from it in one way each.

use std::net::SocketAddr;

use ipnet::{IpNet, Ipv4Net};

use super::diff;
use crate::apply::model::{InterfaceObserved, PeerField, PeerObserved, WgChange};
use crate::model::{PrivateKey, Purpose};
use crate::plan::{InterfacePlan, KeyId, PeerPlan, Role};

pub(crate) fn peer(name: &str, endpoint: Option<&str>, allowed: &[&str]) -> PeerPlan {
    PeerPlan {
        node: name.parse().unwrap(),
        public_key: PrivateKey::generate().public_key(),
        endpoint: endpoint.map(|e| e.parse().unwrap()),
        allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
        keepalive: Some(25),
    }
}

pub(crate) fn plan(key: &PrivateKey, peers: Vec<PeerPlan>) -> InterfacePlan {
    let mut p = InterfacePlan {
        plane: "wg0".parse().unwrap(),
        purpose: Purpose::Infrastructure,
        role: Role::Spoke,
        address: "10.0.12.30/24".parse().unwrap(),
        listen_port: Some(51820),
        mtu: 1420,
        key: KeyId {
            node: "z640".parse().unwrap(),
            plane: "wg0".parse().unwrap(),
        },
        public_key: key.public_key(),
        key_held_by_node: false,
        forwarding: false,
        dns: None,
        peers,
        routes: Vec::new(),
    };
    p.routes = crate::plan::naive_routes(&p);
    p
}

/// What an interface configured exactly as `p` reports.
pub(crate) fn in_sync(p: &InterfacePlan) -> InterfaceObserved {
    InterfaceObserved {
        exists: true,
        listen_port: p.listen_port,
        public_key: Some(p.public_key),
        peers: p
            .peers
            .iter()
            .map(|q| PeerObserved {
                public_key: q.public_key,
                endpoint: q.endpoint,
                allowed_ips: q.allowed_ips.iter().rev().map(|n| IpNet::V4(*n)).collect(),
                keepalive: q.keepalive,
                preshared_key: false,
            })
            .collect(),
        addresses: vec![p.address],
        mtu: Some(p.mtu),
        up: true,
        routes: p.routes.clone(),
        forwarding: p.forwarding,
    }
}

fn fixture() -> (PrivateKey, InterfacePlan) {
    let key = PrivateKey::generate();
    let peers = vec![
        peer(
            "chr01",
            Some("203.0.113.10:51820"),
            &["10.0.12.0/24", "10.42.60.0/24"],
        ),
        peer("vps01", None, &["10.0.12.20/32"]),
    ];
    let p = plan(&key, peers);
    (key, p)
}

#[test]
fn no_change_gives_no_steps() {
    let (key, p) = fixture();
    assert_eq!(diff(&p, Some(&key), &in_sync(&p)), vec![]);
}

#[test]
fn roaming_peer_endpoint_is_not_drift() {
    let (key, p) = fixture();
    let mut o = in_sync(&p);
    o.peers[1].endpoint = Some("192.0.2.7:40000".parse().unwrap());
    assert_eq!(diff(&p, Some(&key), &o), vec![]);
}

#[test]
fn each_kind_of_drift_gives_exactly_its_change() {
    let (key, p) = fixture();
    let hub = p.peers[0].clone();
    let moved: SocketAddr = "192.0.2.99:1234".parse().unwrap();
    let extra = PrivateKey::generate().public_key();
    type Case = (&'static str, fn(&mut InterfaceObserved), Vec<WgChange>);
    let cases: Vec<Case> = vec![
        (
            "endpoint",
            |o| o.peers[0].endpoint = Some("192.0.2.99:1234".parse().unwrap()),
            vec![WgChange::UpdatePeer {
                peer: hub.clone(),
                fields: vec![PeerField::Endpoint {
                    from: Some(moved),
                    to: hub.endpoint.unwrap(),
                }],
            }],
        ),
        (
            "allowed ips",
            |o| o.peers[0].allowed_ips = vec!["10.0.12.0/24".parse().unwrap()],
            vec![WgChange::UpdatePeer {
                peer: hub.clone(),
                fields: vec![PeerField::AllowedIps {
                    from: vec!["10.0.12.0/24".parse().unwrap()],
                    to: hub.allowed_ips.clone(),
                }],
            }],
        ),
        (
            "keepalive",
            |o| o.peers[0].keepalive = None,
            vec![WgChange::UpdatePeer {
                peer: hub.clone(),
                fields: vec![PeerField::Keepalive {
                    from: None,
                    to: Some(25),
                }],
            }],
        ),
        (
            "missing peer",
            |o| {
                o.peers.remove(0);
            },
            vec![WgChange::AddPeer(hub.clone())],
        ),
        ("link down", |o| o.up = false, vec![WgChange::LinkUp]),
    ];
    for (what, mutate, expected) in cases {
        let mut o = in_sync(&p);
        mutate(&mut o);
        assert_eq!(diff(&p, Some(&key), &o), expected, "case: {what}");
    }
    let mut o = in_sync(&p);
    o.peers.push(PeerObserved {
        public_key: extra,
        endpoint: None,
        allowed_ips: vec![],
        keepalive: None,
        preshared_key: false,
    });
    assert_eq!(
        diff(&p, Some(&key), &o),
        vec![WgChange::RemovePeer {
            public_key: extra,
            node: None
        }],
        "case: extra peer"
    );
}

#[test]
fn missing_interface_is_created_with_everything() {
    let (key, p) = fixture();
    let changes = diff(&p, Some(&key), &InterfaceObserved::default());
    let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(changes[0], WgChange::CreateInterface);
    assert!(matches!(changes[1], WgChange::SetPrivateKey { .. }));
    assert_eq!(
        changes[2],
        WgChange::SetListenPort {
            from: None,
            to: 51820
        }
    );
    assert_eq!(changes.len(), 9, "{lines:#?}");
    assert_eq!(lines[6], "+ address 10.0.12.30/24");
    assert_eq!(lines[7], "~ link down -> up");
    assert_eq!(lines[8], "+ route 10.42.60.0/24");
}

#[test]
fn routes_cover_allowed_ips_outside_the_subnet_and_stale_ones_go() {
    let (key, mut p) = fixture();
    p.forwarding = true;
    let mut o = in_sync(&p);
    assert_eq!(o.routes, vec!["10.42.60.0/24".parse::<Ipv4Net>().unwrap()]);
    let stale: Ipv4Net = "10.77.0.0/16".parse().unwrap();
    o.routes = vec![stale];
    o.forwarding = false;
    let lines: Vec<String> = diff(&p, Some(&key), &o)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec![
            "+ route 10.42.60.0/24",
            "- route 10.77.0.0/16",
            "~ ip forwarding off -> on"
        ]
    );
}

#[test]
fn node_held_key_is_reported_not_set() {
    let (_, mut p) = fixture();
    p.key_held_by_node = true;
    let mut o = in_sync(&p);
    o.public_key = None;
    let changes = diff(&p, None, &o);
    assert_eq!(changes.len(), 1);
    assert!(!changes[0].is_applicable());
    assert!(
        changes[0]
            .to_string()
            .starts_with("! private key is held by the node")
    );
}

#[test]
fn stray_address_and_preshared_key_are_removed() {
    let (key, p) = fixture();
    let mut o = in_sync(&p);
    let stray: Ipv4Net = "10.9.9.9/24".parse().unwrap();
    o.addresses.push(stray);
    o.peers[1].preshared_key = true;
    let lines: Vec<String> = diff(&p, Some(&key), &o)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec![
            format!(
                "~ peer vps01 ({}) preshared key set -> none",
                p.peers[1].public_key
            ),
            "- address 10.9.9.9/24".to_string(),
        ]
    );
}

#[test]
fn changes_print_as_one_readable_line_each() {
    let (key, p) = fixture();
    let hub = &p.peers[0];
    let mut o = in_sync(&p);
    o.peers[0].endpoint = Some("192.0.2.99:1234".parse().unwrap());
    o.peers[0].keepalive = Some(10);
    let line = diff(&p, Some(&key), &o)[0].to_string();
    assert_eq!(
        line,
        format!(
            "~ peer chr01 ({}) endpoint 192.0.2.99:1234 -> 203.0.113.10:51820; keepalive 10 -> 25",
            hub.public_key
        )
    );
    let add = WgChange::AddPeer(hub.clone()).to_string();
    assert_eq!(
        add,
        format!(
            "+ peer chr01 ({}) endpoint 203.0.113.10:51820 allowed 10.0.12.0/24,10.42.60.0/24 keepalive 25",
            hub.public_key
        )
    );
}

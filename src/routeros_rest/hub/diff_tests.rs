//! Table tests of the hub push: desired records from the shipped topology's standby hub
//! (CHR02 in `primary`), live tables edited per case, the exact operations expected.

use std::collections::BTreeMap;

use super::values::seconds as seconds_for_test;
use super::*;
use crate::model::{PrivateKey, Topology};
use crate::plan::{KeyRing, Plan};

const TOPOLOGY: &str = include_str!("../../../topology.yaml");

pub(super) fn setup() -> (Topology, KeyRing, Secrets) {
    let t = crate::validate::load(TOPOLOGY).unwrap();
    let mut ring = KeyRing::default();
    let mut secrets = Secrets::default();
    for (id, public) in KeyRing::needed(&t) {
        let public = public.unwrap_or_else(|| {
            let k = PrivateKey::generate();
            secrets.private_keys.insert(id.clone(), k.clone());
            k.public_key()
        });
        ring.0.insert(id, public);
    }
    (t, ring, secrets)
}

fn chr02(secrets: Option<&Secrets>) -> (Desired, Plan) {
    let (t, ring, s) = setup();
    let plan = crate::plan::plan(&t, &ring, "primary").unwrap();
    let node = &plan.nodes[&"chr02".parse().unwrap()];
    let d = desired(node, secrets.unwrap_or(&Secrets::default()));
    let _ = s;
    (d, plan)
}

/// The live tables of a hub that matches `d` exactly (an SSTP hub with the `.rsc`'s
/// client-site forward rule in place).
pub(super) fn in_sync(d: &Desired) -> BTreeMap<Menu, Vec<Record>> {
    let mut live: BTreeMap<Menu, Vec<Record>> = BTreeMap::new();
    for (i, o) in d.objects.iter().enumerate() {
        let mut r = o.record.clone();
        r.insert(".id".into(), format!("*{:X}", i + 1));
        if let Some(p) = &o.public_key {
            r.insert("public-key".into(), p.clone());
        }
        live.entry(o.menu).or_default().push(r);
    }
    if live.contains_key(&Menu::InterfaceList) {
        let mut rule = crate::routeros_rest::standin::client_site_forward_rule();
        rule.insert(".id".into(), "*F1".into());
        rule.insert("disabled".into(), "false".into());
        live.insert(Menu::FirewallFilter, vec![rule]);
    }
    live
}

fn peer<'a>(live: &'a mut BTreeMap<Menu, Vec<Record>>, name: &str) -> &'a mut Record {
    live.get_mut(&Menu::WireguardPeers)
        .unwrap()
        .iter_mut()
        .find(|r| r["name"] == name)
        .unwrap()
}

pub(super) fn ops(d: &Diff) -> Vec<String> {
    d.ops.iter().map(ToString::to_string).collect()
}

type Edit = fn(&mut BTreeMap<Menu, Vec<Record>>);

#[test]
fn table_of_live_states_and_the_operations_they_need() {
    let (d, _) = chr02(None);
    let g = &d.generation;
    let cases: Vec<(&str, Edit, Vec<String>)> = vec![
        ("in sync", |_| {}, vec![]),
        (
            "RouterOS spellings of the same values",
            |l| {
                let p = peer(l, "z640");
                p.insert("disabled".into(), "no".into());
                p.insert("responder".into(), "yes".into());
                p.insert("persistent-keepalive".into(), "00:00:00".into());
                p.remove("endpoint-address");
                let w = &mut l.get_mut(&Menu::Wireguard).unwrap()[0];
                w.insert("mtu".into(), "01420".into());
            },
            vec![],
        ),
        (
            "an older generation on an unchanged object is left",
            |l| {
                let p = peer(l, "z640");
                p.insert("comment".into(), "fabric:g0000beef:wg0:peer=z640".into());
            },
            vec![],
        ),
        (
            "a fenced (disabled) peer is enabled again",
            |l| {
                peer(l, "nuc").insert("disabled".into(), "true".into());
            },
            vec![format!(
                "set /interface/wireguard/peers *3 (wg0:peer=nuc) comment=\"fabric:g{g}:wg0:peer=nuc\" disabled=\"false\""
            )],
        ),
        (
            "a fabric peer no longer in the topology is removed first",
            |l| {
                let mut extra = peer(l, "nuc").clone();
                extra.insert(".id".into(), "*99".into());
                extra.insert("name".into(), "gone".into());
                extra.insert("public-key".into(), "R09ORQ==".into());
                extra.insert("comment".into(), "fabric:g1:wg0:peer=gone".into());
                l.get_mut(&Menu::WireguardPeers).unwrap().push(extra);
            },
            vec!["remove /interface/wireguard/peers *99 (wg0:peer=gone)".into()],
        ),
        (
            "a route to a LAN that left goes first; a hand-made route to a desired one stays",
            |l| {
                let routes = l.get_mut(&Menu::IpRoute).unwrap();
                let mut stale = routes[0].clone();
                stale.insert(".id".into(), "*90".into());
                stale.insert("dst-address".into(), "192.168.99.0/24".into());
                stale.insert(
                    "comment".into(),
                    "fabric:g1:wg0:route=192.168.99.0/24".into(),
                );
                let mut foreign = routes[1].clone();
                foreign.insert(".id".into(), "*91".into());
                foreign.insert("gateway".into(), "ether1".into());
                foreign.insert("comment".into(), "backup path".into());
                routes.push(stale);
                routes.push(foreign);
            },
            vec!["remove /ip/route *90 (wg0:route=192.168.99.0/24)".into()],
        ),
        (
            "objects fabric does not own are never touched",
            |l| {
                let mut admin = peer(l, "nuc").clone();
                admin.insert(".id".into(), "*98".into());
                admin.insert("name".into(), "laptop".into());
                admin.insert("public-key".into(), "QURNSU4=".into());
                admin.insert("comment".into(), "operator laptop".into());
                l.get_mut(&Menu::WireguardPeers).unwrap().push(admin);
                let mut addr = l[&Menu::IpAddress][0].clone();
                addr.insert(".id".into(), "*97".into());
                addr.insert("address".into(), "192.0.2.1/24".into());
                addr.remove("comment");
                l.get_mut(&Menu::IpAddress).unwrap().push(addr);
            },
            vec![],
        ),
        (
            "a missing peer is added after the sets; a changed key is set in place",
            |l| {
                l.get_mut(&Menu::WireguardPeers)
                    .unwrap()
                    .retain(|r| r["name"] != "nuc");
                peer(l, "z640").insert("public-key".into(), "T0xE".into());
            },
            vec![], // filled in below: depends on generated keys
        ),
        (
            "the lab stand-in's import tags are rewritten to this push's tag",
            |l| {
                peer(l, "z640").insert("comment".into(), "fabric:standin:wg0:peer=z640".into());
            },
            vec![format!(
                "set /interface/wireguard/peers *5 (wg0:peer=z640) comment=\"fabric:g{g}:wg0:peer=z640\""
            )],
        ),
    ];
    let objects: BTreeMap<&str, &Object> = d.objects.iter().map(|o| (o.what.as_str(), o)).collect();
    for (name, edit, mut want) in cases {
        let mut live = in_sync(&d);
        edit(&mut live);
        if name.starts_with("a missing peer") {
            let z = objects["wg0:peer=z640"];
            let nuc = Op {
                kind: OpKind::Add,
                menu: Menu::WireguardPeers,
                what: "wg0:peer=nuc".into(),
                body: objects["wg0:peer=nuc"].record.clone(),
            };
            want = vec![
                format!(
                    "set /interface/wireguard/peers *5 (wg0:peer=z640) comment=\"fabric:g{g}:wg0:peer=z640\" public-key={:?}",
                    z.record["public-key"]
                ),
                nuc.to_string(),
            ];
        }
        let got = diff(&d, &live);
        assert_eq!(ops(&got), want, "case: {name}");
        assert!(got.conflicts.is_empty(), "case {name}: {:?}", got.conflicts);
        // Applying the operations to the live tables converges: a second diff is empty.
        assert_eq!(
            ops(&diff(&d, &apply(live, &got))),
            Vec::<String>::new(),
            "case: {name}"
        );
    }
}

/// What the operations do to the tables (as the stand-in's store would).
pub(super) fn apply(
    mut live: BTreeMap<Menu, Vec<Record>>,
    d: &Diff,
) -> BTreeMap<Menu, Vec<Record>> {
    for (n, op) in d.ops.iter().enumerate() {
        let t = live.entry(op.menu).or_default();
        match &op.kind {
            OpKind::Add => {
                let mut r = op.body.clone();
                r.insert(".id".into(), format!("*A{n}"));
                t.push(r);
            }
            OpKind::Set { id } => {
                let r = t.iter_mut().find(|r| &r[".id"] == id).unwrap();
                r.extend(op.body.clone());
            }
            OpKind::Remove { id } => t.retain(|r| &r[".id"] != id),
        }
    }
    live
}

#[test]
fn which_objects_chr02_should_hold_in_the_primary_layout() {
    let (d, plan) = chr02(None);
    let whats: Vec<_> = d
        .objects
        .iter()
        .map(|o| (o.menu, o.what.as_str()))
        .collect();
    let sstp = plan.nodes[&"chr02".parse().unwrap()]
        .sstp_server
        .as_ref()
        .unwrap();
    let sites = crate::render::routeros::client_sites(sstp);
    assert_eq!(sites.len(), 6, "three PPP addresses and three LANs");
    let (whats, listed) = whats.split_at(whats.len() - sites.len());
    assert!(
        listed
            .iter()
            .all(|w| *w == (Menu::AddressList, "isolation"))
    );
    let listed: Vec<_> = d.objects[whats.len()..]
        .iter()
        .map(|o| (o.record["list"].as_str(), o.record["address"].as_str()))
        .collect();
    let want: Vec<_> = sites
        .iter()
        .map(|a| ("fabric-client-sites", a.as_str()))
        .collect();
    assert_eq!(listed, want, "every client site, as the .rsc lists them");
    assert_eq!(
        whats,
        [
            (Menu::Wireguard, "wg0"),
            (Menu::IpAddress, "wg0"),
            (Menu::WireguardPeers, "wg0:peer=nuc"),
            (Menu::WireguardPeers, "wg0:peer=vps01"),
            (Menu::WireguardPeers, "wg0:peer=z640"),
            (Menu::IpRoute, "wg0:route=10.33.33.0/24"),
            (Menu::IpRoute, "wg0:route=10.42.60.0/24"),
            (Menu::InterfaceList, "isolation"),
            (Menu::InterfaceListMember, "isolation"),
            (Menu::PppProfile, "sstp"),
            (Menu::PppSecret, "client=client-a-hq [MSP Client A] HQ"),
            (
                Menu::PppSecret,
                "client=client-a-shop [MSP Client A] shop (POS)"
            ),
            (Menu::PppSecret, "client=client-b Other client router"),
        ]
    );
    let route = &d.objects[6].record;
    assert_eq!(route["dst-address"], "10.42.60.0/24");
    assert_eq!(
        route["gateway"], "wg0",
        "routes go into the interface, as in the .rsc"
    );
    let wg0 = &plan.nodes[&"chr02".parse().unwrap()].interfaces[0];
    assert_eq!(d.objects[0].record["listen-port"], "51820");
    assert_eq!(d.objects[1].record["address"], "10.0.12.2/24");
    let z = &d.objects[4].record;
    assert_eq!(
        z["interface"], "wg0",
        "peers reference the interface by name"
    );
    assert_eq!(z["allowed-address"], "10.0.12.30/32,10.42.60.0/24");
    assert_eq!(z["responder"], "true");
    assert_eq!(z["disabled"], "false");
    assert_eq!(z["persistent-keepalive"], "0s");
    assert!(z["comment"].starts_with(&format!("fabric:g{}:", d.generation)));
    assert_eq!(d.objects[0].public_key, Some(wg0.public_key.to_base64()));
    assert!(d.objects.iter().all(|o| o.private_key.is_none()));
    assert_eq!(d.objects[7].record["name"], "fabric-wg");
    let member = &d.objects[8].record;
    assert_eq!(
        (member["list"].as_str(), member["interface"].as_str()),
        ("fabric-wg", "wg0"),
        "the hub's plane is what the forward rule lets through to client sites"
    );
}

#[test]
fn empty_hub_gets_everything_in_dependency_order_and_a_key_warning() {
    let (d, _) = chr02(None);
    let got = diff(&d, &BTreeMap::new());
    let order: Vec<_> = got.ops.iter().map(|o| (o.menu, o.what.as_str())).collect();
    assert_eq!(order[0], (Menu::Wireguard, "wg0"));
    assert_eq!(order[1], (Menu::IpAddress, "wg0"));
    assert_eq!(
        order[2..4],
        [
            (Menu::InterfaceList, "isolation"),
            (Menu::InterfaceListMember, "isolation")
        ],
        "the list first, then the plane, once it exists"
    );
    assert!(order[4..7].iter().all(|(m, _)| *m == Menu::WireguardPeers));
    assert!(order[7..9].iter().all(|(m, _)| *m == Menu::IpRoute));
    assert!(
        order[9..15]
            .iter()
            .all(|w| *w == (Menu::AddressList, "isolation")),
        "client sites are listed before any secret: {order:?}"
    );
    assert_eq!(
        order[15..],
        [(Menu::PppProfile, "sstp")],
        "secrets without a password held are not added"
    );
    assert!(got.ops.iter().all(|o| o.kind == OpKind::Add));
    assert_eq!(got.warnings.len(), 5, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("without a private key"));
    assert!(
        got.warnings[1..4]
            .iter()
            .all(|w| w.contains("no SSTP password held") && w.ends_with("not added"))
    );
    assert!(
        got.warnings[4].contains("client sites are not kept apart"),
        "an empty hub has no forward rule: {}",
        got.warnings[4]
    );
}

#[test]
fn hub_key_is_sent_only_when_the_live_public_key_differs_and_never_shown() {
    let (t, ring, secrets) = setup();
    let plan = crate::plan::plan(&t, &ring, "primary").unwrap();
    let node = &plan.nodes[&"chr02".parse().unwrap()];
    let d = desired(node, &secrets);
    let key = d.objects[0]
        .private_key
        .clone()
        .expect("fabric manages chr02's key");
    let b64 = key.expose_base64();
    assert!(
        diff(&d, &in_sync(&d)).ops.is_empty(),
        "right key: nothing sent"
    );
    let mut live = in_sync(&d);
    live.get_mut(&Menu::Wireguard).unwrap()[0].insert("public-key".into(), "T1RIRVI=".into());
    let got = diff(&d, &live);
    assert_eq!(got.ops.len(), 1);
    assert_eq!(got.ops[0].body["private-key"], b64);
    let shown = format!("{} {:?} {:?} {:?}", got.ops[0], got.ops[0], got, d);
    assert!(!shown.contains(&b64), "a private key was shown: {shown}");
    assert!(shown.contains("private-key=***"));
    // Without the key: a warning, no operation.
    let d = desired(node, &Secrets::default());
    let mut live = in_sync(&d);
    live.get_mut(&Menu::Wireguard).unwrap()[0].insert("public-key".into(), "T1RIRVI=".into());
    let got = diff(&d, &live);
    assert!(got.ops.is_empty());
    assert!(got.warnings[0].contains("does not hold the hub's private key"));
    assert_eq!(
        desired(node, &Secrets::default()).content_hash(),
        desired(node, &secrets).content_hash(),
        "keys are not hashed"
    );
}

#[test]
fn conflicts_with_foreign_objects_are_reported_and_left_alone() {
    let (d, _) = chr02(None);
    // A hand-made peer holding a desired key.
    let mut live = in_sync(&d);
    let p = peer(&mut live, "z640");
    p.insert("comment".into(), "added by hand".into());
    p.insert("name".into(), "peer7".into());
    let got = diff(&d, &live);
    assert!(got.ops.is_empty(), "{:?}", got.ops);
    assert_eq!(got.conflicts.len(), 1);
    assert!(
        got.conflicts[0].contains("wg0:peer=z640"),
        "{:?}",
        got.conflicts
    );
    // A hand-made interface with the plane's name: nothing on it is touched.
    let mut live = BTreeMap::new();
    live.insert(
        Menu::Wireguard,
        vec![Record::from([
            (".id".to_string(), "*1".to_string()),
            ("name".to_string(), "wg0".to_string()),
        ])],
    );
    let got = diff(&d, &live);
    let ppp = |m: Menu| {
        matches!(
            m,
            Menu::PppProfile | Menu::PppSecret | Menu::AddressList | Menu::InterfaceList
        )
    };
    assert!(got.ops.iter().all(|o| ppp(o.menu)), "{:?}", got.ops);
    assert_eq!(
        got.conflicts.len(),
        d.objects.iter().filter(|o| !ppp(o.menu)).count(),
        "everything on the interface is skipped; the SSTP side does not depend on it"
    );
}

#[test]
fn content_hash_changes_with_the_topology_not_with_the_generation_tag() {
    let (d, _) = chr02(None);
    let (t, ring, _) = setup();
    let mut t2 = t.clone();
    t2.planes.values_mut().for_each(|p| p.mtu = 1380);
    let plan = crate::plan::plan(&t2, &ring, "primary").unwrap();
    let d2 = desired(&plan.nodes[&"chr02".parse().unwrap()], &Secrets::default());
    assert_ne!(d.content_hash(), d2.content_hash());
    assert_ne!(d.generation, d2.generation);
    let plan = crate::plan::plan(&t, &ring, "primary").unwrap();
    let again = desired(&plan.nodes[&"chr02".parse().unwrap()], &Secrets::default());
    assert_eq!(d.generation.len(), 8);
    assert_eq!(again.objects.len(), d.objects.len());
}

#[test]
fn routeros_durations() {
    for (text, secs) in [
        ("25s", Some(25)),
        ("25", Some(25)),
        ("00:00:25", Some(25)),
        ("1m5s", Some(65)),
        ("1h", Some(3600)),
        ("", Some(0)),
        ("500ms", Some(0)),
        ("x", None),
    ] {
        assert_eq!(seconds_for_test(text), secs, "{text}");
    }
}

#[test]
fn a_client_added_by_a_push_is_kept_apart_before_it_can_connect() {
    let (_, plan) = chr02(None);
    let mut secrets = Secrets::default();
    let sstp = plan.nodes[&"chr02".parse().unwrap()]
        .sstp_server
        .as_ref()
        .unwrap();
    for c in &sstp.secrets {
        secrets
            .passwords
            .insert(c.client.clone(), crate::model::Secret::new("pw"));
    }
    let node = &plan.nodes[&"chr02".parse().unwrap()];
    let full = desired(node, &secrets);
    // The hub holds everything but the last client: its secret and its sites.
    let last = sstp.secrets.last().unwrap();
    let last_sites: Vec<String> = std::iter::once(last.remote_address.to_string())
        .chain(last.routes.iter().map(ToString::to_string))
        .collect();
    // The hub shows the passwords: none is sent again.
    let in_sync = |d: &Desired| {
        let mut live = in_sync(d);
        for r in live.get_mut(&Menu::PppSecret).unwrap() {
            r.insert("password".into(), "pw".into());
        }
        live
    };
    let mut live = in_sync(&full);
    live.get_mut(&Menu::PppSecret)
        .unwrap()
        .retain(|r| r["name"] != last.user);
    live.get_mut(&Menu::AddressList)
        .unwrap()
        .retain(|r| !last_sites.contains(&r["address"]));
    let got = diff(&full, &live);
    let order: Vec<_> = got.ops.iter().map(|o| (o.menu, &o.kind)).collect();
    assert_eq!(
        order,
        [
            (Menu::AddressList, &OpKind::Add),
            (Menu::AddressList, &OpKind::Add),
            (Menu::PppSecret, &OpKind::Add),
        ],
        "{:?}",
        got.ops
    );
    let added: Vec<_> = got.ops[..2].iter().map(|o| &o.body["address"]).collect();
    assert_eq!(added, last_sites.iter().collect::<Vec<_>>());
    // Removed from the topology: unlisted only after its secret is gone.
    let without = in_sync(&full);
    let mut fewer = full.clone();
    fewer.objects.retain(|o| {
        !(o.record.get("name") == Some(&last.user)
            || o.record
                .get("address")
                .is_some_and(|a| last_sites.contains(a)))
    });
    let got = diff(&fewer, &without);
    let order: Vec<_> = got.ops.iter().map(|o| o.menu).collect();
    assert_eq!(
        order,
        [Menu::PppSecret, Menu::AddressList, Menu::AddressList],
        "{:?}",
        got.ops
    );
    assert!(
        got.ops
            .iter()
            .all(|o| matches!(o.kind, OpKind::Remove { .. }))
    );
    // The operator's own entry for a site is enough: no conflict, nothing written.
    let mut live = in_sync(&full);
    let entry = live
        .get_mut(&Menu::AddressList)
        .unwrap()
        .first_mut()
        .unwrap();
    entry.insert("comment".into(), "ours, by hand".into());
    let got = diff(&full, &live);
    assert!(got.conflicts.is_empty(), "{:?}", got.conflicts);
    assert!(got.ops.is_empty(), "{:?}", got.ops);
    // …but not a disabled one, nor a dynamic one that times out: a conflict to look at.
    for (k, v) in [("disabled", "true"), ("dynamic", "true")] {
        let mut live = live.clone();
        let entry = live
            .get_mut(&Menu::AddressList)
            .unwrap()
            .first_mut()
            .unwrap();
        entry.insert(k.into(), v.into());
        let got = diff(&full, &live);
        assert_eq!(got.conflicts.len(), 1, "{k}: {:?}", got.conflicts);
        assert!(
            got.conflicts[0].contains("address-list"),
            "{:?}",
            got.conflicts
        );
    }
}

#[test]
fn the_fabric_wg_list_holds_the_hubs_planes_and_hand_made_entries_count() {
    let (d, _) = chr02(None);
    let g = &d.generation;
    let cases: Vec<(&str, Edit, Vec<String>, usize)> = vec![
        (
            "a plane missing from the list is added",
            |l| {
                l.remove(&Menu::InterfaceListMember);
            },
            vec![format!(
                "add /interface/list/member (isolation) comment=\"fabric:g{g}:isolation\" disabled=\"false\" interface=\"wg0\" list=\"fabric-wg\""
            )],
            0,
        ),
        (
            "a plane fabric no longer has on the hub leaves the list before it goes",
            |l| {
                let mut w = l[&Menu::Wireguard][0].clone();
                w.insert(".id".into(), "*90".into());
                w.insert("name".into(), "wg9".into());
                l.get_mut(&Menu::Wireguard).unwrap().push(w);
                let mut m = l[&Menu::InterfaceListMember][0].clone();
                m.insert(".id".into(), "*91".into());
                m.insert("interface".into(), "wg9".into());
                l.get_mut(&Menu::InterfaceListMember).unwrap().push(m);
            },
            vec![
                "remove /interface/list/member *91 (isolation)".into(),
                "remove /interface/wireguard *90 (wg0)".into(),
            ],
            0,
        ),
        (
            "hand-made list and member, enabled: enough",
            |l| {
                l.get_mut(&Menu::InterfaceList).unwrap()[0].remove("comment");
                l.get_mut(&Menu::InterfaceListMember).unwrap()[0].remove("comment");
            },
            vec![],
            0,
        ),
        (
            "a hand-made member that is disabled is in the way",
            |l| {
                let m = &mut l.get_mut(&Menu::InterfaceListMember).unwrap()[0];
                m.remove("comment");
                m.insert("disabled".into(), "true".into());
            },
            vec![],
            1,
        ),
        (
            "the list gone: list and member come back, in that order",
            |l| {
                l.remove(&Menu::InterfaceList);
                l.remove(&Menu::InterfaceListMember);
            },
            vec![
                format!(
                    "add /interface/list (isolation) comment=\"fabric:g{g}:isolation\" name=\"fabric-wg\""
                ),
                format!(
                    "add /interface/list/member (isolation) comment=\"fabric:g{g}:isolation\" disabled=\"false\" interface=\"wg0\" list=\"fabric-wg\""
                ),
            ],
            0,
        ),
    ];
    for (name, edit, want, conflicts) in cases {
        let mut live = in_sync(&d);
        edit(&mut live);
        let got = diff(&d, &live);
        assert_eq!(ops(&got), want, "case: {name}");
        assert_eq!(
            got.conflicts.len(),
            conflicts,
            "case {name}: {:?}",
            got.conflicts
        );
        assert!(
            got.warnings
                .iter()
                .all(|w| w.contains("no SSTP password held")),
            "case {name}: {:?}",
            got.warnings
        );
        let after = apply(live, &got);
        assert!(diff(&d, &after).ops.is_empty(), "case {name}: converges");
    }
}

#[test]
fn an_sstp_hub_without_the_enabled_client_site_forward_rule_gets_a_warning() {
    let (d, _) = chr02(None);
    let warned = |edit: Edit| {
        let mut live = in_sync(&d);
        edit(&mut live);
        let got = diff(&d, &live);
        assert!(got.ops.is_empty(), "{:?}", got.ops);
        got.warnings
            .into_iter()
            .filter(|w| w.starts_with("/ip/firewall/filter"))
            .collect::<Vec<_>>()
    };
    assert!(warned(|_| {}).is_empty(), "the .rsc's rule, enabled");
    assert!(
        warned(|l| {
            l.get_mut(&Menu::FirewallFilter).unwrap()[0].remove("comment");
        })
        .is_empty(),
        "a rule made by hand to the same effect counts"
    );
    let cases: [(&str, Edit); 4] = [
        ("no rule", |l| {
            l.remove(&Menu::FirewallFilter);
        }),
        ("disabled", |l| {
            l.get_mut(&Menu::FirewallFilter).unwrap()[0].insert("disabled".into(), "true".into());
        }),
        ("invalid", |l| {
            l.get_mut(&Menu::FirewallFilter).unwrap()[0].insert("invalid".into(), "true".into());
        }),
        ("another action", |l| {
            l.get_mut(&Menu::FirewallFilter).unwrap()[0].insert("action".into(), "accept".into());
        }),
    ];
    for (name, edit) in cases {
        let w = warned(edit);
        assert_eq!(w.len(), 1, "case {name}: {w:?}");
        assert!(
            w[0].contains("chain=forward dst-address-list=fabric-client-sites in-interface-list=!fabric-wg action=drop")
                && w[0].contains("import the rendered .rsc"),
            "case {name}: {}",
            w[0]
        );
    }
    // A hub that is no SSTP hub keeps no client sites apart: nothing to check.
    let mut plain = d.clone();
    plain.objects.retain(|o| {
        !matches!(
            o.menu,
            Menu::InterfaceList
                | Menu::InterfaceListMember
                | Menu::AddressList
                | Menu::PppProfile
                | Menu::PppSecret
        )
    });
    let mut live = in_sync(&plain);
    live.remove(&Menu::FirewallFilter);
    let got = diff(&plain, &live);
    assert!(got.ops.is_empty() && got.warnings.is_empty(), "{got:?}");
}

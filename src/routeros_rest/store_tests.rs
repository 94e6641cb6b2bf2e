//! Tests of the stand-in's tables: ids, WireGuard effects, refusals, PPP records.

use super::*;

fn rec(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn store() -> Store {
    let mut s = Store::default();
    s.insert(
        Menu::Wireguard,
        rec(&[("name", "wg0"), ("listen-port", "51820")]),
    );
    s
}

#[test]
fn ids_are_hexadecimal_with_a_star() {
    let mut s = Store::default();
    let ids: Vec<String> = (0..11)
        .map(|i| {
            s.insert(
                Menu::IpAddress,
                rec(&[("address", &format!("10.0.0.{i}/32"))]),
            )[".id"]
                .clone()
        })
        .collect();
    assert_eq!(ids[0], "*1");
    assert_eq!(ids[9], "*A");
    assert_eq!(ids[10], "*B");
}

#[test]
fn peer_add_disable_enable_remove_have_the_matching_effects() {
    let mut s = store();
    let body = rec(&[
        ("interface", "wg0"),
        ("public-key", "K="),
        ("allowed-address", "10.0.12.30/32"),
    ]);
    let (r, fx) = s.add(Menu::WireguardPeers, &body).unwrap();
    assert!(matches!(&fx[..], [Effect::PeerSet { interface, .. }] if interface == "wg0"));
    let id = r[".id"].clone();
    let (_, fx) = s
        .set(Menu::WireguardPeers, &id, &rec(&[("disabled", "yes")]))
        .unwrap();
    assert_eq!(
        fx,
        [Effect::PeerRemove {
            interface: "wg0".into(),
            public_key: "K=".into()
        }]
    );
    let (_, fx) = s
        .set(Menu::WireguardPeers, &id, &rec(&[("disabled", "true")]))
        .unwrap();
    assert!(fx.is_empty(), "already disabled: nothing to do");
    let (_, fx) = s
        .set(Menu::WireguardPeers, &id, &rec(&[("disabled", "false")]))
        .unwrap();
    assert!(matches!(&fx[..], [Effect::PeerSet { .. }]));
    let fx = s.remove(Menu::WireguardPeers, &id).unwrap();
    assert!(matches!(&fx[..], [Effect::PeerRemove { .. }]));
    assert_eq!(s.get(Menu::WireguardPeers, &id), Err(ApiError::not_found()));
}

#[test]
fn refusals_follow_routeros() {
    let mut s = store();
    let e = s
        .add(
            Menu::WireguardPeers,
            &rec(&[
                ("interface", "wg0"),
                ("public-key", "K="),
                ("colour", "red"),
            ]),
        )
        .unwrap_err();
    assert_eq!(e, ApiError::bad_request("unknown parameter colour"));
    let e = s
        .add(Menu::WireguardPeers, &rec(&[("interface", "wg0")]))
        .unwrap_err();
    assert_eq!(e.status, 400);
    let e = s
        .add(
            Menu::WireguardPeers,
            &rec(&[("interface", "wg9"), ("public-key", "K=")]),
        )
        .unwrap_err();
    assert_eq!(e.status, 400);
    s.add(
        Menu::WireguardPeers,
        &rec(&[("interface", "wg0"), ("public-key", "K=")]),
    )
    .unwrap();
    let e = s
        .add(
            Menu::WireguardPeers,
            &rec(&[("interface", "wg0"), ("public-key", "K=")]),
        )
        .unwrap_err();
    assert_eq!(e, ApiError::bad_request("failure: entry already exists"));
    assert_eq!(
        s.set(Menu::IpAddress, "*99", &Record::new()).unwrap_err(),
        ApiError::not_found()
    );
}

#[test]
fn ppp_secrets_need_their_profile_and_hide_the_password() {
    let mut s = Store::default();
    let secret = rec(&[
        ("name", "client-b"),
        ("password", "pw-123"),
        ("service", "sstp"),
        ("profile", "fabric-sstp"),
    ]);
    let e = s.add(Menu::PppSecret, &secret).unwrap_err();
    assert_eq!(
        e,
        ApiError::bad_request("input does not match any value of profile: fabric-sstp")
    );
    let (p, fx) = s
        .add(
            Menu::PppProfile,
            &rec(&[("name", "fabric-sstp"), ("local-address", "10.0.13.2")]),
        )
        .unwrap();
    assert!(fx.is_empty());
    assert!(!p.contains_key("disabled"), "profiles have no disabled");
    let (r, fx) = s.add(Menu::PppSecret, &secret).unwrap();
    assert!(fx.is_empty(), "PPP lives in the tables only");
    assert_eq!(r["password"], "pw-123", "kept");
    assert!(
        !s.visible(r.clone()).contains_key("password"),
        "not answered"
    );
    let shown = s.clone().show_sensitive(true);
    assert_eq!(shown.visible(r)["password"], "pw-123");
    let e = s.add(Menu::PppSecret, &secret).unwrap_err();
    assert_eq!(e, ApiError::bad_request("failure: entry already exists"));
    let e = s
        .add(Menu::PppProfile, &rec(&[("name", "x"), ("disabled", "no")]))
        .unwrap_err();
    assert_eq!(e, ApiError::bad_request("unknown parameter disabled"));
}

#[test]
fn an_address_list_shows_a_single_host_without_its_prefix_length_and_refuses_it_twice() {
    let mut s = Store::default();
    let (host, _) = s
        .add(
            Menu::AddressList,
            &rec(&[("list", "sites"), ("address", "10.0.13.13/32")]),
        )
        .unwrap();
    assert_eq!(host["address"], "10.0.13.13");
    let (lan, _) = s
        .add(
            Menu::AddressList,
            &rec(&[("list", "sites"), ("address", "192.168.60.0/24")]),
        )
        .unwrap();
    assert_eq!(lan["address"], "192.168.60.0/24");
    let again = s.add(
        Menu::AddressList,
        &rec(&[("list", "sites"), ("address", "10.0.13.13")]),
    );
    assert!(
        again.is_err(),
        "the same host, written bare, is a duplicate"
    );
}

#[test]
fn list_members_and_peers_need_what_they_name_and_filter_rules_are_read_only() {
    let mut s = store();
    let member = rec(&[("list", "fabric-wg"), ("interface", "wg0")]);
    let e = s.add(Menu::InterfaceListMember, &member).unwrap_err();
    assert_eq!(
        e,
        ApiError::bad_request("input does not match any value of list: fabric-wg")
    );
    let (list, _) = s
        .add(Menu::InterfaceList, &rec(&[("name", "fabric-wg")]))
        .unwrap();
    assert!(
        !list.contains_key("disabled"),
        "a list has no such property"
    );
    let (m, effects) = s.add(Menu::InterfaceListMember, &member).unwrap();
    assert_eq!(m["interface"], "wg0");
    assert!(effects.is_empty(), "kept in the table only");
    assert_eq!(
        s.add(Menu::InterfaceListMember, &member).unwrap_err(),
        ApiError::bad_request("failure: entry already exists")
    );
    let unknown = rec(&[("list", "fabric-wg"), ("interface", "wg7")]);
    assert_eq!(
        s.add(Menu::InterfaceListMember, &unknown).unwrap_err(),
        ApiError::bad_request("input does not match any value of interface: wg7")
    );
    let peer = rec(&[("interface", "wg7"), ("public-key", "UEVFUg==")]);
    assert_eq!(
        s.add(Menu::WireguardPeers, &peer).unwrap_err(),
        ApiError::bad_request("input does not match any value of interface: wg7"),
        "a peer, too, needs its interface"
    );
    let rule = rec(&[("chain", "forward"), ("action", "drop")]);
    assert_eq!(
        s.add(Menu::FirewallFilter, &rule).unwrap_err(),
        ApiError::bad_request("no such command"),
        "fabric only reads the filter rules"
    );
}

//! Plan rules on the shipped topology and variants of it.

use super::*;

/// The shipped topology with a fresh public key for every membership that has none.
fn shipped() -> (Topology, KeyRing) {
    let t = crate::validate::load(include_str!("../../topology.yaml")).unwrap();
    let ring = KeyRing::generated(&t);
    (t, ring)
}

#[test]
fn one_node_is_planned_exactly_as_in_the_whole_plan() {
    let (t, ring) = shipped();
    assert!(t.layouts.len() >= 3 && t.nodes.len() >= 6);
    for layout in t.layouts.keys() {
        let whole = plan(&t, &ring, layout.as_str()).unwrap();
        for name in t.nodes.keys() {
            let one = node_plan(&t, &ring, layout.as_str(), name).unwrap();
            assert_eq!(one.as_ref(), whole.nodes.get(name), "{name} in {layout}");
        }
    }
    let nobody: NodeName = "nobody".parse().unwrap();
    assert_eq!(node_plan(&t, &ring, "primary", &nobody), Ok(None));
    assert_eq!(
        node_plan(&t, &ring, "nope", &nobody),
        Err(PlanError::UnknownLayout("nope".into()))
    );
}

#[test]
fn client_sites_route_the_planes_and_the_lans_behind_nodes_but_not_other_sites() {
    let (t, ring) = shipped();
    let p = plan(&t, &ring, "primary").unwrap();
    assert_eq!(p.clients.len(), 3);
    for c in &p.clients {
        let routes: Vec<String> = c.routes.iter().map(|n| n.to_string()).collect();
        // VLAN 60 behind z640: without it the site's replies to 10.42.60.x go to its WAN.
        assert_eq!(
            routes,
            ["10.0.12.0/24", "10.33.33.0/24", "10.42.60.0/24"],
            "{}",
            c.name
        );
        // The router itself is managed from the infrastructure plane only (wg1 is
        // operator/client access: one client's devices never reach another's router).
        let from: Vec<String> = c.management_from.iter().map(|n| n.to_string()).collect();
        assert_eq!(from, ["10.0.12.0/24"], "{}", c.name);
    }
}

#[test]
fn hubs_clients_prefer_over_the_layouts_sstp_hub_refuse_them() {
    let (t, ring) = shipped();
    let serving = |layout: &str, hub: &str| {
        let p = plan(&t, &ring, layout).unwrap();
        let s = p.nodes[&hub.parse::<NodeName>().unwrap()]
            .sstp_server
            .clone()
            .unwrap();
        (s.active, s.serving)
    };
    // sstp.hubs: [chr01, chr02]; clients route via chr01 first.
    assert_eq!(serving("primary", "chr01"), (true, true));
    assert_eq!(serving("primary", "chr02"), (false, true), "warm standby");
    assert_eq!(serving("chr02", "chr02"), (true, true));
    assert_eq!(
        serving("chr02", "chr01"),
        (false, false),
        "clients would stay on chr01, which leads nowhere in this layout"
    );
    assert_eq!(serving("split-role", "chr01"), (true, true));
    assert_eq!(serving("split-role", "chr02"), (false, true));
}

#[test]
fn a_routeros_hub_with_a_role_elsewhere_is_a_spoke_of_the_plane_it_lost() {
    let text = include_str!("../../topology.yaml")
        .replacen(
            "      wg0: { address: 10.0.12.1 }\n",
            "      wg0: { address: 10.0.12.1 }\n      wg1: { address: 10.33.33.5 }\n",
            1,
        )
        .replacen(
            "  split-role: { wg0: vps01, wg1: vps01, sstp: chr01 }\n",
            "  split-role: { wg0: vps01, wg1: vps01, sstp: chr01 }\n  \
             access-on-chr01: { wg0: chr02, wg1: chr01, sstp: chr02 }\n",
            1,
        );
    let t = crate::validate::load(&text).unwrap();
    let ring = KeyRing::generated(&t);
    let name = |n: &str| n.parse::<NodeName>().unwrap();
    let p = plan(&t, &ring, "access-on-chr01").unwrap();
    let chr01 = &p.nodes[&name("chr01")];
    let wg0 = &chr01.interfaces[0];
    assert_eq!(wg0.plane.as_str(), "wg0");
    // Hub of wg1 here: on wg0 it is chr02's spoke, not a standby with live hub peers.
    assert_eq!(wg0.role, Role::Spoke);
    let peers: Vec<&str> = wg0.peers.iter().map(|p| p.node.as_str()).collect();
    assert_eq!(peers, ["chr02"]);
    assert_eq!(chr01.interfaces[1].role, Role::Hub);
    // chr02 has no role in primary: still the pre-provisioned standby of wg0.
    let p = plan(&t, &ring, "primary").unwrap();
    assert_eq!(p.nodes[&name("chr02")].interfaces[0].role, Role::Standby);
    // And chr01 is a wg0 member that chr02 (its hub here) routes to.
    let p = plan(&t, &ring, "access-on-chr01").unwrap();
    let chr02 = &p.nodes[&name("chr02")].interfaces[0];
    assert!(chr02.peers.iter().any(|p| p.node == name("chr01")));
}

#[test]
fn normalize_sorts_dedups_and_drops_contained_prefixes() {
    let nets = [
        "10.0.12.30/32",
        "10.0.12.0/24",
        "10.42.60.0/24",
        "10.0.12.0/24",
        "10.42.60.128/25",
    ];
    let out = normalize(nets.iter().map(|n| n.parse().unwrap()).collect());
    let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
    assert_eq!(out, ["10.0.12.0/24", "10.42.60.0/24"]);
}

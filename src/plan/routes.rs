//! The routes a node's interfaces carry: what wg-quick would add (every peer's AllowedIPs
//! outside the interface's own subnet), made consistent across the node's interfaces. One
//! prefix, one link: the same route on two links would replace the other on every apply (and
//! wg-quick's `ip route add` of the second fails), and a route into a subnet the node is on
//! through another plane would take over that plane's connected route. AllowedIPs are left
//! alone — they are per interface and may overlap freely.

use ipnet::Ipv4Net;

use super::{InterfacePlan, Role, normalize};

/// What wg-quick derives for one interface on its own: peers' AllowedIPs outside its subnet.
pub fn naive_routes(iface: &InterfacePlan) -> Vec<Ipv4Net> {
    let subnet = iface.address.trunc();
    normalize(
        iface
            .peers
            .iter()
            .flat_map(|p| p.allowed_ips.iter().map(Ipv4Net::trunc))
            .filter(|n| !subnet.contains(n))
            .collect(),
    )
}

/// Sets `routes` on every interface of one node. A prefix inside another of the node's own
/// subnets is not routed (that plane reaches it directly); a prefix on several links stays on
/// the one where the node is the hub (it reaches the prefix's owner directly), else on a
/// spoke link, a standby hub's last — the first in plane order among equals.
pub fn assign(interfaces: &mut [InterfacePlan]) {
    let own: Vec<Ipv4Net> = interfaces.iter().map(|i| i.address.trunc()).collect();
    let mut candidates: Vec<Vec<Ipv4Net>> = interfaces.iter().map(naive_routes).collect();
    for (i, list) in candidates.iter_mut().enumerate() {
        list.retain(|n| !own.iter().enumerate().any(|(j, s)| j != i && s.contains(n)));
    }
    let rank = |role: Role| match role {
        Role::Hub => 0,
        Role::Spoke => 1,
        Role::Standby => 2,
    };
    let keeper = |n: &Ipv4Net| {
        (0..interfaces.len())
            .filter(|&i| candidates[i].contains(n))
            .min_by_key(|&i| (rank(interfaces[i].role), i))
    };
    let routes: Vec<Vec<Ipv4Net>> = (0..interfaces.len())
        .map(|i| {
            candidates[i]
                .iter()
                .filter(|n| keeper(n) == Some(i))
                .copied()
                .collect()
        })
        .collect();
    for (iface, routes) in interfaces.iter_mut().zip(routes) {
        iface.routes = routes;
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{NodeName, Topology};
    use crate::plan::{KeyRing, plan};
    use ipnet::Ipv4Net;

    /// The shipped topology with nuc also on wg1, and chr01 (wg0 hub) also a wg1 spoke.
    fn two_plane_topology() -> (Topology, KeyRing) {
        let text = include_str!("../../topology.yaml")
            .replacen(
                "      wg0: { address: 10.0.12.31 }\n",
                "      wg0: { address: 10.0.12.31 }\n      wg1: { address: 10.33.33.31 }\n",
                1,
            )
            .replacen(
                "      wg0: { address: 10.0.12.1 }\n",
                "      wg0: { address: 10.0.12.1 }\n      wg1: { address: 10.33.33.5 }\n",
                1,
            );
        let t = crate::validate::load(&text).unwrap();
        let ring = KeyRing::generated(&t);
        (t, ring)
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn a_node_on_two_planes_routes_each_prefix_through_one_link_and_keeps_its_allowed_ips() {
        let (t, ring) = two_plane_topology();
        for layout in ["primary", "chr02", "split-role"] {
            let p = plan(&t, &ring, layout).unwrap();
            for node in ["nuc", "chr01"] {
                let n = &p.nodes[&node.parse::<NodeName>().unwrap()];
                assert_eq!(n.interfaces.len(), 2, "{node}");
                let (a, b) = (&n.interfaces[0], &n.interfaces[1]);
                assert!(
                    a.routes.iter().all(|r| !b.routes.contains(r)),
                    "{node} in {layout}: the same route on both links: {:?} / {:?}",
                    a.routes,
                    b.routes
                );
                for (this, other) in [(a, b), (b, a)] {
                    let subnet = other.address.trunc();
                    assert!(
                        !this.routes.iter().any(|r| subnet.contains(r)),
                        "{node} in {layout}: {} routes into its own {}: {:?}",
                        this.plane,
                        other.plane,
                        this.routes
                    );
                    // Every route is one of the link's AllowedIPs: nothing invented.
                    for r in &this.routes {
                        assert!(
                            this.peers.iter().any(|p| p.allowed_ips.contains(r)),
                            "{node} in {layout}: {r} on {} is no peer's",
                            this.plane
                        );
                    }
                }
            }
            // nuc is a spoke of both planes; its AllowedIPs are exactly what a spoke of
            // each plane gets, untouched by the route dedup.
            let nuc = &p.nodes[&"nuc".parse::<NodeName>().unwrap()];
            for iface in &nuc.interfaces {
                let hub = &iface.peers[0];
                assert!(hub.allowed_ips.contains(&iface.address.trunc()), "{layout}");
                assert!(hub.allowed_ips.contains(&net("10.42.60.0/24")), "{layout}");
            }
            let both: Vec<&Ipv4Net> = nuc.interfaces.iter().flat_map(|i| &i.routes).collect();
            assert!(
                both.contains(&&net("10.42.60.0/24")),
                "{layout}: VLAN 60 lost"
            );
            assert!(
                !nuc.interfaces[0].routes.contains(&net("10.33.33.0/24")),
                "{layout}: wg1 is nuc's own subnet"
            );
        }
        // CHR01 as the wg0 hub keeps VLAN 60 on wg0, where its owner z640 is a peer.
        let p = plan(&t, &ring, "primary").unwrap();
        let chr01 = &p.nodes[&"chr01".parse::<NodeName>().unwrap()];
        assert!(chr01.interfaces[0].routes.contains(&net("10.42.60.0/24")));
        assert!(!chr01.interfaces[1].routes.contains(&net("10.42.60.0/24")));
    }

    #[test]
    fn a_routeros_hub_on_two_planes_holds_one_fabric_route_per_destination() {
        use crate::routeros_rest::{Menu, hub};
        let (t, ring) = two_plane_topology();
        let chr01: NodeName = "chr01".parse().unwrap();
        for layout in ["primary", "chr02", "split-role"] {
            let p = plan(&t, &ring, layout).unwrap();
            let node = &p.nodes[&chr01];
            let secrets = crate::render::Secrets::default();
            let mut dsts: Vec<String> = hub::desired(node, &secrets)
                .objects
                .iter()
                .filter(|o| o.menu == Menu::IpRoute)
                .map(|o| o.record["dst-address"].clone())
                .collect();
            assert!(!dsts.is_empty(), "{layout}");
            let n = dsts.len();
            dsts.sort();
            dsts.dedup();
            assert_eq!(dsts.len(), n, "{layout}: a destination twice over REST");
            assert!(
                !dsts.contains(&"10.33.33.0/24".to_string()),
                "{layout}: {dsts:?}"
            );
            let rsc = crate::render::routeros::render_hub(&p, node, &secrets).contents;
            let mut in_rsc: Vec<&str> = rsc
                .lines()
                .filter(|l| l.contains("/ip route add dst-address="))
                .filter_map(|l| l.split("dst-address=").nth(1)?.split(' ').next())
                .collect();
            assert_eq!(in_rsc.len(), n, "{layout}: .rsc and REST differ:\n{rsc}");
            in_rsc.sort();
            in_rsc.dedup();
            assert_eq!(in_rsc.len(), n, "{layout}: a destination twice in the .rsc");
        }
    }

    #[test]
    fn a_node_on_one_plane_routes_what_wg_quick_would() {
        let t = crate::validate::load(include_str!("../../topology.yaml")).unwrap();
        let ring = KeyRing::generated(&t);
        let p = plan(&t, &ring, "primary").unwrap();
        let z640 = &p.nodes[&"z640".parse::<NodeName>().unwrap()];
        let wg0 = &z640.interfaces[0];
        assert_eq!(wg0.routes, super::naive_routes(wg0));
        assert!(
            wg0.routes.contains(&net("10.33.33.0/24")),
            "{:?}",
            wg0.routes
        );
    }
}

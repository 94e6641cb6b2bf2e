//! Client sites stay apart at an SSTP hub: only the fabric's WireGuard planes may send to
//! them. An address list of every client site (its PPP address and LANs) and an interface
//! list of the hub's WireGuard interfaces; the hub's firewall drops forwarded traffic to a
//! client site that did not come in on one of those — another site's tunnel (client A routing
//! into client B's LAN, or spoofing a fabric source to reach B's management accepts) or the
//! WAN (also a WAN port forward or masqueraded traffic towards a site through the hub).
//! The `.rsc` writes all of it; a hub push keeps both lists (a client added by a push is
//! kept apart at once, a plane it adds reaches the sites at once) and checks that the rule
//! ([`FORWARD_DROP`]) is there, enabled, but does not place it.

use super::script::Script;
use crate::plan::{NodePlan, SstpServerPlan};

/// The address list of client-site prefixes.
pub const CLIENT_SITES: &str = "fabric-client-sites";
/// The interface list of the hub's WireGuard interfaces.
pub const FABRIC_WG: &str = "fabric-wg";

/// The two lists, ensured (and swept with the other fabric objects).
pub fn lists(s: &mut Script, node: &NodePlan, sstp: &SstpServerPlan) {
    s.comment("--- client sites take forwarded traffic only from the fabric's WireGuard planes (lists for the forward rule) ---");
    let tag = Script::tag("isolation");
    let list = format!("\"{FABRIC_WG}\"");
    s.ensure(
        "/interface list",
        &format!("name={list}"),
        &format!("name={list} comment={tag}"),
        &format!("comment={tag}"),
    );
    for iface in &node.interfaces {
        let name = crate::render::quote::ros_quote(iface.plane.as_str());
        s.ensure(
            "/interface list member",
            &format!("list={list} and interface={name}"),
            &format!("list={list} interface={name} comment={tag}"),
            &format!("comment={tag}"),
        );
    }
    let sites = format!("\"{CLIENT_SITES}\"");
    for address in client_sites(sstp) {
        s.ensure(
            "/ip firewall address-list",
            &format!("list={sites} and address={address}"),
            &format!("list={sites} address={address} comment={tag}"),
            &format!("comment={tag}"),
        );
    }
}

/// The entries of [`CLIENT_SITES`]: every client's PPP address and LANs, as RouterOS shows
/// them (a /32 as a bare address, so a lookup by address finds it again).
pub fn client_sites(sstp: &SstpServerPlan) -> Vec<String> {
    sstp.secrets
        .iter()
        .flat_map(|c| {
            std::iter::once(c.remote_address.to_string()).chain(c.routes.iter().map(|n| {
                if n.prefix_len() == 32 {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            }))
        })
        .collect()
}

/// What the forward rule matches and does (comment and placement aside): one source for the
/// `.rsc` and for the REST push's check that a hub has the rule. `!fabric-wg` is `!` +
/// [`FABRIC_WG`] (the tests below pin both spellings).
pub const FORWARD_DROP: [(&str, &str); 4] = [
    ("chain", "forward"),
    ("dst-address-list", CLIENT_SITES),
    ("in-interface-list", "!fabric-wg"),
    ("action", "drop"),
];

/// [`FORWARD_DROP`] as RouterOS arguments (`chain=forward …`).
pub fn forward_drop_args() -> String {
    FORWARD_DROP.map(|(k, v)| format!("{k}={v}")).join(" ")
}

/// The forward rule (its arguments; the firewall places it with fabric's other rules).
pub fn forward_drop() -> String {
    format!(
        "{} comment={}",
        forward_drop_args(),
        Script::tag("fwd:client-sites")
    )
}

#[cfg(test)]
mod tests {
    use crate::model::NodeName;
    use crate::plan::{KeyRing, plan};

    #[test]
    fn sstp_hubs_drop_forwarded_traffic_to_client_sites_unless_it_comes_from_the_planes() {
        let t = crate::validate::load(include_str!("../../../topology.yaml")).unwrap();
        let ring = KeyRing::generated(&t);
        for layout in ["primary", "chr02", "split-role"] {
            let p = plan(&t, &ring, layout).unwrap();
            for hub in ["chr01", "chr02"] {
                let node = &p.nodes[&hub.parse::<NodeName>().unwrap()];
                let sstp = node.sstp_server.as_ref().unwrap();
                let rsc = super::super::render_hub(&p, node, &Default::default()).contents;
                let rule = rsc
                    .lines()
                    .find(|l| l.contains("chain=forward"))
                    .unwrap_or_else(|| panic!("{hub} in {layout}: no forward rule\n{rsc}"));
                assert!(
                    rule.contains(
                        "dst-address-list=fabric-client-sites in-interface-list=!fabric-wg action=drop"
                    ),
                    "{rule}"
                );
                for iface in &node.interfaces {
                    let member = format!(
                        "member add list=\"fabric-wg\" interface=\"{}\"",
                        iface.plane
                    );
                    assert!(rsc.contains(&member), "{hub} in {layout}: {member}");
                }
                for c in &sstp.secrets {
                    let mut sites = vec![c.remote_address.to_string()];
                    sites.extend(c.routes.iter().map(ToString::to_string));
                    for a in sites {
                        let entry =
                            format!("address-list add list=\"fabric-client-sites\" address={a} ");
                        assert!(rsc.contains(&entry), "{hub} in {layout}: {entry}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_host_lan_is_listed_as_routeros_shows_it() {
        let t = crate::validate::load(include_str!("../../../topology.yaml")).unwrap();
        let ring = KeyRing::generated(&t);
        let p = plan(&t, &ring, "primary").unwrap();
        let mut node = p.nodes[&"chr01".parse::<NodeName>().unwrap()].clone();
        let sstp = node.sstp_server.as_mut().unwrap();
        sstp.secrets[0]
            .routes
            .push("192.168.99.1/32".parse().unwrap());
        let rsc = super::super::render_hub(&p, &node, &Default::default()).contents;
        assert!(rsc.contains("address=192.168.99.1 "), "{rsc}");
        assert!(!rsc.contains("192.168.99.1/32 comment"), "{rsc}");
    }

    #[test]
    fn a_reimport_ends_removed_clients_sessions_before_any_sweep() {
        let t = crate::validate::load(include_str!("../../../topology.yaml")).unwrap();
        let ring = KeyRing::generated(&t);
        let p = plan(&t, &ring, "primary").unwrap();
        let node = &p.nodes[&"chr01".parse::<NodeName>().unwrap()];
        let rsc = super::super::render_hub(&p, node, &Default::default()).contents;
        let lines: Vec<&str> = rsc.lines().collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{rsc}"))
        };
        let ended = at("/ppp active remove [find where name=$n and service=sstp]");
        let first_sweep = at("/ip firewall address-list remove [find where comment~");
        let secrets_swept = at("/ppp secret remove [find where comment~");
        // Inside the loop over the secrets of other generations: disabled, then session ended.
        let foreach =
            at(":foreach i in=[/ppp secret find where comment~\"^fabric:\" and !(comment~");
        assert!(
            lines[foreach + 1].contains("/ppp secret disable $i"),
            "{rsc}"
        );
        assert!(
            foreach < ended && ended < first_sweep && first_sweep < secrets_swept,
            "{rsc}"
        );
    }
}

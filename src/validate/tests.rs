//! One test per validation rule, each against the shipped topology with one mistake put in.

use super::load;

const SHIPPED: &str = include_str!("../../topology.yaml");

/// The shipped topology with the first `from` replaced by `to`.
fn with(from: &str, to: &str) -> String {
    assert!(
        SHIPPED.contains(from),
        "fixture text {from:?} not in topology.yaml"
    );
    SHIPPED.replacen(from, to, 1)
}

fn findings(text: &str) -> Vec<String> {
    load(text)
        .expect_err("expected findings")
        .iter()
        .map(|d| d.display("t.yaml").to_string())
        .collect()
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle present")
        + 1
}

/// Asserts exactly one finding, equal to `want` (with `@LINE` filled in from `needle`).
fn assert_single(text: &str, needle: &str, want: &str) {
    let got = findings(text);
    let want = want.replace("@LINE", &line_of(text, needle).to_string());
    assert_eq!(got, vec![want], "all findings: {got:#?}");
}

#[test]
fn shipped_topology_is_valid() {
    let t = load(SHIPPED).expect("shipped topology.yaml must validate");
    assert_eq!(t.nodes.len(), 7);
    assert_eq!(t.layouts.len(), 3);
}

#[test]
fn reports_yaml_syntax_errors_with_line() {
    let text = with("  hubs: [chr01, chr02]", "  hubs: [chr01, chr02");
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("t.yaml:") && got[0].contains("YAML syntax error"),
        "{got:?}"
    );
}

#[test]
fn rejects_unknown_fields() {
    let text = with(
        "    keepalive: 25\n    routes",
        "    keepalive: 25\n    route: []\n    routes",
    );
    assert_single(
        &text,
        "route: []",
        "t.yaml:@LINE:5: planes.wg1.route: unknown field \"route\" (check the spelling; docs/topology.md lists every field)",
    );
}

#[test]
fn rejects_duplicate_node_names() {
    let text = with("  nuc:\n", "  z640:\n");
    let got = findings(&text);
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "  z640:")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(
        got,
        vec![format!(
            "t.yaml:{line}:3: nodes.z640: duplicate key \"z640\" (the first one would be silently overwritten) (remove or rename one of them)"
        )]
    );
}

#[test]
fn rejects_client_router_named_like_a_node() {
    let text = with("    - name: client-b", "    - name: nuc");
    assert_single(
        &text,
        "- name: nuc",
        "t.yaml:@LINE:13: sstp.clients[2].name: duplicate name \"nuc\" (also at nodes.nuc) (node and client-router names share one namespace (they become DNS names))",
    );
}

#[test]
fn rejects_duplicate_addresses() {
    let text = with(
        "wg0: { address: 10.0.12.31 }",
        "wg0: { address: 10.0.12.30 }",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("duplicate address \"10.0.12.30\""),
        "{got:?}"
    );
}

#[test]
fn rejects_duplicate_public_keys() {
    let key = "HAZwJElH8BUNzGpNmDFJP5bG+3V2M/fx8fQn20PJy0k=";
    let text = with(
        "wg0: { address: 10.0.12.30 }",
        &format!("wg0: {{ address: 10.0.12.30, public_key: \"{key}\" }}"),
    );
    let text = text.replacen(
        "wg0: { address: 10.0.12.31 }",
        &format!("wg0: {{ address: 10.0.12.31, public_key: \"{key}\" }}"),
        1,
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("nodes.z640.planes.wg0.public_key: duplicate public key")
            && got[0].contains("also at nodes.nuc.planes.wg0.public_key"),
        "{got:?}"
    );
}

#[test]
fn rejects_duplicate_sstp_users() {
    let text = with(
        "      site: Other client router",
        "      site: Other client router\n      user: client-a-hq",
    );
    let got = findings(&text);
    assert!(
        got.iter()
            .any(|g| g.contains("sstp.clients[2].user: duplicate SSTP user \"client-a-hq\"")),
        "{got:?}"
    );
}

#[test]
fn rejects_address_outside_plane_subnet() {
    let text = with(
        "wg0: { address: 10.0.12.31 }",
        "wg0: { address: 10.0.99.31 }",
    );
    assert_single(
        &text,
        "10.0.99.31",
        "t.yaml:@LINE:23: nodes.nuc.planes.wg0.address: \"10.0.99.31\" is outside plane wg0's subnet 10.0.12.0/24 (pick a free address in 10.0.12.0/24)",
    );
}

#[test]
fn rejects_overlapping_routed_prefixes() {
    let text = with(
        "      lans: [192.168.60.0/24]",
        "      lans: [10.42.60.128/25]",
    );
    assert_single(
        &text,
        "10.42.60.128/25",
        "t.yaml:@LINE:14: sstp.clients[2].lans[0]: \"10.42.60.128/25\" overlaps \"10.42.60.0/24\" (vlans.list[0].subnet) (routed prefixes must be disjoint, or WireGuard AllowedIPs silently steal traffic from one peer; shrink or move one)",
    );
}

#[test]
fn rejects_vlan_id_that_is_not_the_third_octet() {
    let text = with("    - id: 60", "    - id: 61");
    assert_single(
        &text,
        "subnet: 10.42.60.0/24",
        "t.yaml:@LINE:15: vlans.list[0].subnet: VLAN 61 has subnet \"10.42.60.0/24\" (third octet 60) (the convention is VLAN id = third octet: use 10.42.61.0/24 or change the id)",
    );
}

#[test]
fn rejects_malformed_public_keys() {
    let text = with(
        "wg0: { address: 10.0.12.31 }",
        "wg0: { address: 10.0.12.31, public_key: \"AAAA\" }",
    );
    assert_single(
        &text,
        "\"AAAA\"",
        "t.yaml:@LINE:47: nodes.nuc.planes.wg0.public_key: \"AAAA\" decodes to 3 bytes; a WireGuard key is 32 (see docs/topology.md)",
    );
}

#[test]
fn rejects_dangling_references() {
    let text = with("      via: z640", "      via: z641");
    assert_single(
        &text,
        "via: z641",
        "t.yaml:@LINE:12: vlans.list[0].via: node \"z641\" is not defined (name a node under nodes)",
    );
    let text = with("  chr02:      { wg0: chr02,", "  chr02:      { wg0: chr03,");
    let got = findings(&text);
    assert!(
        got.iter()
            .any(|g| g.contains("layouts.chr02.wg0: node \"chr03\" is not defined")),
        "{got:?}"
    );
}

#[test]
fn rejects_interface_names_longer_than_15_bytes() {
    let text = SHIPPED.replace("wg1", "wg1-operators-xx");
    let got = findings(&text);
    let line = line_of(&text, "  wg1-operators-xx:");
    let want = format!(
        "t.yaml:{line}:3: planes.wg1-operators-xx: interface name \"wg1-operators-xx\" is 16 bytes; Linux allows 1-15 (see docs/topology.md)"
    );
    assert!(got.contains(&want), "{got:#?}");
    assert!(
        got.iter()
            .all(|g| g.contains("\"wg1-operators-xx\" is 16 bytes")),
        "only the name is reported: {got:#?}"
    );
}

#[test]
fn rejects_ports_out_of_range() {
    let text = with("    listen_port: 51821", "    listen_port: 70000");
    assert_single(
        &text,
        "70000",
        "t.yaml:@LINE:18: planes.wg1.listen_port: port 70000 is out of range (use 1-65535)",
    );
}

#[test]
fn rejects_inline_private_keys_and_passwords() {
    let text = with(
        "      site: Other client router",
        "      site: Other client router\n      password: hunter2",
    );
    assert_single(
        &text,
        "password: hunter2",
        "t.yaml:@LINE:7: sstp.clients[2].password: \"password\" holds a secret; secrets never live in topology.yaml (delete it: fabric keeps private keys and passwords in the secrets directory (`fabric keys`); a node that keeps its own key lists only public_key)",
    );
    let text = with(
        "wg0: { address: 10.0.12.31 }",
        "wg0: { address: 10.0.12.31, private_key: x }",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("nodes.nuc.planes.wg0.private_key: \"private_key\" holds a secret"),
        "{got:?}"
    );
}

#[test]
fn rejects_prefixes_with_host_bits() {
    let text = with("    subnet: 10.0.12.0/24", "    subnet: 10.0.12.1/24");
    let got = findings(&text);
    assert!(
        got.iter().any(|g| g.contains(
            "planes.wg0.subnet: \"10.0.12.1/24\" has host bits set (did you mean 10.0.12.0/24?)"
        )),
        "{got:?}"
    );
}

#[test]
fn requires_a_primary_layout() {
    let text = with("  primary:    {", "  normal:     {");
    let got = findings(&text);
    assert!(
        got.iter()
            .any(|g| g.contains("layouts: there is no \"primary\" layout")),
        "{got:?}"
    );
}

#[test]
fn hub_must_have_an_endpoint() {
    let text = with("  split-role: { wg0: vps01,", "  split-role: { wg0: z640,");
    let got = findings(&text);
    assert!(
        got.iter()
            .any(|g| g.contains("layouts.split-role.wg0: hub \"z640\" has no endpoint")),
        "{got:?}"
    );
}

#[test]
fn reports_every_finding_in_one_run_sorted_by_line() {
    let text = with("    listen_port: 51821", "    listen_port: 0");
    let text = text.replacen("    - id: 60", "    - id: 61", 1).replacen(
        "wg0: { address: 10.0.12.31 }",
        "wg0: { address: 10.9.9.9 }",
        1,
    );
    let got = findings(&text);
    assert_eq!(got.len(), 3, "{got:#?}");
    let lines: Vec<usize> = got
        .iter()
        .map(|g| g.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn wrong_types_name_the_path() {
    let text = with(
        "    mtu: 1420\n    keepalive: 25\n    routes",
        "    mtu: [1420]\n    keepalive: 25\n    routes",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("planes.wg1.mtu: wrong type"), "{got:?}");
    assert!(
        got[0].starts_with(&format!("t.yaml:{}:", line_of(&text, "mtu: [1420]"))),
        "{got:?}"
    );
}

#[test]
fn shipped_failover_policy_has_the_documented_defaults() {
    use crate::model::Failback;
    use std::time::Duration;
    let p = load(SHIPPED).unwrap().failover.expect("failover section");
    assert_eq!(p.controller.as_str(), "vps01");
    assert_eq!(p.watch.as_str(), "chr01");
    assert_eq!(p.target.as_str(), "chr02");
    assert_eq!(p.primary.as_str(), "primary");
    assert_eq!(p.interval, Duration::from_millis(100));
    assert_eq!(p.probe_timeout, Duration::from_millis(100));
    assert_eq!((p.probes, p.misses, p.signals_needed), (6, 5, 1));
    assert_eq!(p.hold_down, Duration::from_secs(60));
    assert_eq!(p.failback, Failback::Manual);
    assert_eq!(p.stable, Duration::from_secs(300));
}

#[test]
fn failover_fields_default_when_left_out() {
    let text = with(
        "  interval_ms: 100\n  probe_timeout_ms: 100\n  probes: 6\n  misses: 5\n",
        "",
    );
    let p = load(&text).unwrap().failover.unwrap();
    assert_eq!((p.probes, p.misses), (6, 5));
    assert_eq!(p.interval.as_millis(), 100);
}

#[test]
fn rejects_an_undefined_failover_target() {
    let text = with("  target: chr02 ", "  target: chr03 ");
    assert_single(
        &text,
        "target: chr03",
        "t.yaml:@LINE:11: failover.target: layout \"chr03\" is not defined (name a layout from the layouts section)",
    );
}

#[test]
fn rejects_primary_as_failover_target() {
    let text = with("  target: chr02 ", "  target: primary ");
    assert_single(
        &text,
        "target: primary",
        "t.yaml:@LINE:11: failover.target: the target cannot be primary (name the layout to use while the watched hub is down)",
    );
}

#[test]
fn rejects_a_target_that_keeps_the_watched_hub() {
    let text = with("  watch: chr01 ", "  watch: vps01 ").replacen(
        "  target: chr02 ",
        "  target: split-role ",
        1,
    );
    assert_single(
        &text,
        "target: split-role",
        "t.yaml:@LINE:11: failover.target: layout \"split-role\" still makes vps01 the hub of wg0 (the target must move every plane hub role away from the watched node)",
    );
}

#[test]
fn rejects_watching_a_node_that_is_no_hub() {
    let text = with("  watch: chr01 ", "  watch: z640 ");
    assert_single(
        &text,
        "watch: z640",
        "t.yaml:@LINE:10: failover.watch: \"z640\" is not a plane hub in layout primary (watch the hub that failover moves traffic away from)",
    );
}

#[test]
fn rejects_a_controller_that_is_not_linux() {
    let text = with("  controller: vps01 ", "  controller: chr02 ");
    assert_single(
        &text,
        "controller: chr02",
        "t.yaml:@LINE:15: failover.controller: \"chr02\" is not a linux node (the controller runs `fabric serve`, which needs Linux)",
    );
}

#[test]
fn rejects_a_probe_timeout_longer_than_the_interval() {
    let text = with("  probe_timeout_ms: 100", "  probe_timeout_ms: 250");
    assert_single(
        &text,
        "probe_timeout_ms: 250",
        "t.yaml:@LINE:21: failover.probe_timeout_ms: probe_timeout_ms 250 is longer than interval_ms 100 (a round must end before the next one starts; raise interval_ms or lower the timeout)",
    );
}

#[test]
fn rejects_more_signals_needed_than_there_are_signals() {
    let text = with("  signals_needed: 1", "  signals_needed: 6");
    assert_single(
        &text,
        "signals_needed: 6",
        "t.yaml:@LINE:19: failover.signals_needed: signals_needed 6 is out of range (use 1-3)",
    );
}

#[test]
fn rejects_signals_needed_a_dead_hub_cannot_reach() {
    for n in [4, 5] {
        let text = with("  signals_needed: 1", &format!("  signals_needed: {n}"));
        assert_single(
            &text,
            &format!("signals_needed: {n}"),
            &format!(
                "t.yaml:@LINE:19: failover.signals_needed: signals_needed {n} would never fail over on a dead hub (use 1-3: of the 5 signals, a silent hub makes only tunnel, underlay and handshake bad (tls and rest are unknown without an answer))"
            ),
        );
    }
    for n in [1, 2, 3] {
        let text = with("  signals_needed: 1", &format!("  signals_needed: {n}"));
        let t = load(&text).expect("valid");
        assert_eq!(t.failover.unwrap().signals_needed, n);
    }
}

#[test]
fn rejects_an_unknown_failback_mode() {
    let text = with("  failback: manual", "  failback: sometimes");
    assert_single(
        &text,
        "failback: sometimes",
        "t.yaml:@LINE:13: failover.failback: \"sometimes\" is not a failback mode (use manual (only `fabric failback` returns) or auto)",
    );
}

#[test]
fn rejects_a_routed_prefix_containing_a_public_endpoint() {
    // nuc's LAN would swallow CHR01's endpoint 203.0.113.10: spokes would send the tunnel's
    // own packets into the tunnel.
    let text = with(
        "      wg0: { address: 10.0.12.31 }\n",
        "      wg0: { address: 10.0.12.31 }\n    routes: [203.0.113.0/24]\n",
    );
    let got = findings(&text);
    let line = line_of(&text, "routes: [203.0.113.0/24]");
    assert_eq!(
        got,
        vec![
            format!(
                "t.yaml:{line}:14: nodes.nuc.routes[0]: \"203.0.113.0/24\" contains the endpoint 203.0.113.10 of node \"chr01\" (peers would route the tunnel's own packets into the tunnel; keep public endpoints out of routed prefixes)"
            ),
            format!(
                "t.yaml:{line}:14: nodes.nuc.routes[0]: \"203.0.113.0/24\" contains the endpoint 203.0.113.20 of node \"chr02\" (peers would route the tunnel's own packets into the tunnel; keep public endpoints out of routed prefixes)"
            ),
        ]
    );
    // A plane's extra routes too, including a full tunnel (fabric apply routes prefixes
    // without wg-quick's policy routing, so 0.0.0.0/0 would take the host's default route).
    for route in ["198.51.100.0/24", "0.0.0.0/0"] {
        let text = with(
            "routes: [10.42.60.0/24]",
            &format!("routes: [10.42.60.0/24, {route}]"),
        );
        let got = findings(&text);
        assert!(!got.is_empty(), "{route}");
        assert!(
            got.iter()
                .all(|g| g.contains("planes.wg1.routes[1]") && g.contains("contains the endpoint")),
            "{got:#?}"
        );
    }
}

#[test]
fn rejects_a_rest_port_on_the_sstp_port() {
    // Left out, REST defaults to 8443, off the SSTP port.
    let text = with(
        "    rest: { port: 8443, allow_from: [198.51.100.20/32] }\n  chr02",
        "    rest: { allow_from: [198.51.100.20/32] }\n  chr02",
    );
    let t = load(&text).expect("valid");
    let chr01 = &t.nodes[&"chr01".parse().unwrap()];
    assert_eq!(chr01.rest.as_ref().unwrap().port, 8443);
    let text = with(
        "    rest: { port: 8443, allow_from: [198.51.100.20/32] }\n  chr02",
        "    rest: { port: 443, allow_from: [198.51.100.20/32] }\n  chr02",
    );
    assert_single(
        &text,
        "rest: { port: 443",
        "t.yaml:@LINE:19: nodes.chr01.rest.port: REST port 443 is the SSTP port (sstp.port 443) (RouterOS gives a TCP port to one service: move REST elsewhere, e.g. 8443)",
    );
}

#[test]
fn rejects_an_sstp_hub_listed_twice_and_ppp_network_addresses() {
    let text = with("  hubs: [chr01, chr02]", "  hubs: [chr01, chr02, chr01]");
    assert_single(
        &text,
        "hubs: [chr01, chr02, chr01]",
        "t.yaml:@LINE:24: sstp.hubs[2]: \"chr01\" is listed twice (list each hub once: clients dial every listed hub, in this order)",
    );
    let text = with("      address: 10.0.13.13", "      address: 10.0.13.255");
    assert_single(
        &text,
        "address: 10.0.13.255",
        "t.yaml:@LINE:16: sstp.clients[2].address: \"10.0.13.255\" is the network or broadcast address of 10.0.13.0/24 (pick a host address)",
    );
    let text = with("sstp: { address: 10.0.13.2,", "sstp: { address: 10.0.13.0,");
    assert_single(
        &text,
        "sstp: { address: 10.0.13.0,",
        "t.yaml:@LINE:22: nodes.chr02.sstp.address: \"10.0.13.0\" is the network or broadcast address of 10.0.13.0/24 (pick a host address)",
    );
}

#[test]
fn a_layout_hub_on_a_phone_is_reported_before_membership_or_endpoint() {
    let text = with("split-role: { wg0: vps01,", "split-role: { wg0: mac,");
    assert_single(
        &text,
        "split-role: { wg0: mac,",
        "t.yaml:@LINE:22: layouts.split-role.wg0: \"mac\" runs Macos, which cannot be a hub (hubs are linux or routeros-v7 nodes)",
    );
}

#[test]
fn a_node_with_its_own_findings_is_not_also_reported_undefined() {
    // vps01's bad platform is the one finding; failover.controller names it and says nothing.
    let text = with(
        "    platform: linux\n    description: VPS",
        "    platform: debian\n    description: VPS",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("nodes.vps01.platform"), "{got:#?}");
    // A plane with a bad MTU is not also "not defined" for sstp.plane.
    let text = with(
        "    mtu: 1420\n    keepalive: 25\n  wg1",
        "    mtu: 1500000\n    keepalive: 25\n  wg1",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("planes.wg0.mtu"), "{got:#?}");
    // A controller left to its default names the default.
    let text =
        with("  controller: vps01 ", "  #controller: vps01 ").replace("  vps01:\n", "  vps09:\n");
    let got = findings(&text);
    assert!(
        got.iter().any(|g| g.contains("failover: controller defaults to \"vps01\", which is not a node here (set failover.controller to one of the nodes)")),
        "{got:#?}"
    );
}

#[test]
fn vlan_hints_follow_the_supernet_and_ids_above_255_are_free() {
    let text = with("supernet: 10.42.0.0/16", "supernet: 10.50.0.0/16")
        .replacen(
            "subnet: 10.42.60.0/24\n      via",
            "subnet: 10.50.61.0/24\n      via",
            1,
        )
        .replacen("routes: [10.42.60.0/24]", "routes: [10.50.61.0/24]", 1)
        .replacen("value: 10.42.60.12", "value: 10.50.61.12", 1);
    assert_single(
        &text,
        "subnet: 10.50.61.0/24",
        "t.yaml:@LINE:15: vlans.list[0].subnet: VLAN 60 has subnet \"10.50.61.0/24\" (third octet 61) (the convention is VLAN id = third octet: use 10.50.60.0/24 or change the id)",
    );
    let text = with("    - id: 60", "    - id: 300");
    load(&text).expect("a VLAN id above 255 cannot follow the third-octet convention");
}

#[test]
fn rest_presents_the_sstp_certificate_unless_told_otherwise() {
    let cert = |text: &str, node: &str| {
        let t = load(text).expect("valid");
        t.nodes[&node.parse().unwrap()]
            .rest
            .as_ref()
            .unwrap()
            .certificate
            .clone()
    };
    assert_eq!(cert(SHIPPED, "chr01"), "chr01-sstp");
    let text = with(
        "rest: { port: 8443, allow_from: [198.51.100.20/32] }\n  chr02",
        "rest: { port: 8443, certificate: api-cert, allow_from: [198.51.100.20/32] }\n  chr02",
    );
    assert_eq!(cert(&text, "chr01"), "api-cert");
    // A RouterOS node without an sstp side: the bootstrap script's default name.
    let text = with(
        "    sstp: { address: 10.0.13.2, hostname: chr02.lab.example.com, certificate: chr02-sstp }\n",
        "",
    )
    .replace("hubs: [chr01, chr02]", "hubs: [chr01]")
    .replace("sstp: chr02 }", "sstp: chr01 }");
    assert_eq!(cert(&text, "chr02"), "fabric-sstp");
}

#[test]
fn dns_data_the_server_would_refuse_is_a_finding() {
    // A CNAME beside the service A record of the same name.
    let text = with(
        "    - { name: \"@\", type: TXT",
        "    - { name: git, type: CNAME, value: vps01 }\n    - { name: \"@\", type: TXT",
    );
    assert_single(
        &text,
        "name: git, type: CNAME",
        "t.yaml:@LINE:15: dns.records[3].name: the DNS zone does not load: git.lab.example.com.: a CNAME cannot coexist with other data at the same name (a CNAME must be the only record at its name (node, service and client names have A records): rename it)",
    );
    // A target that is not a DNS name.
    let text = with(
        "type: CNAME, value: vps01 }",
        "type: CNAME, value: \"vps 01\" }",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains("dns.records[1].value: the DNS zone does not load: CNAME target"),
        "{got:#?}"
    );
}

#[test]
fn services_must_not_shadow_generated_names_and_must_be_reachable_from_the_access_plane() {
    let text = with(
        "services: { git: vps01,",
        "services: { chr01: vps01, git: vps01,",
    );
    assert_single(
        &text,
        "services: { chr01: vps01",
        "t.yaml:@LINE:22: dns.services.chr01: \"chr01\" is already a name fabric gives a node, client router or the server (pick another service name (the node's own name already resolves))",
    );
    // nuc is on wg0 only; wg1 members route 10.33.33.0/24 and 10.42.60.0/24.
    let text = with("services: { git: vps01,", "services: { git: nuc,");
    assert_single(
        &text,
        "services: { git: nuc",
        "t.yaml:@LINE:20: dns.services.git: node \"nuc\" is published at 10.0.12.31, which the access plane wg1 does not reach (answers go to wg1 members: give nuc an address on wg1, or add the subnet of 10.0.12.31 to planes.wg1.routes)",
    );
    // Routing its subnet to wg1 makes it reachable.
    let routed = text.replacen(
        "    routes: [10.42.60.0/24]",
        "    routes: [10.42.60.0/24, 10.0.12.0/24]",
        1,
    );
    assert!(load(&routed).is_ok(), "{:#?}", findings(&routed));
    // The zone publishes nuc's first plane address (wg0, no access plane); wg1 routing only
    // its second plane (wg2) does not reach the published one.
    let third = routed
        .replacen(
            "    routes: [10.42.60.0/24, 10.0.12.0/24]",
            "    routes: [10.42.60.0/24, 10.0.14.0/24]\n  \
             wg2: { purpose: infrastructure, subnet: 10.0.14.0/24, listen_port: 51822 }",
            1,
        )
        .replacen(
            "      wg0: { address: 10.0.12.31 }\n",
            "      wg0: { address: 10.0.12.31 }\n      wg2: { address: 10.0.14.31 }\n",
            1,
        )
        .replacen(
            "      wg0: { address: 10.0.12.20 }\n",
            "      wg0: { address: 10.0.12.20 }\n      wg2: { address: 10.0.14.1 }\n",
            1,
        )
        .replace("wg1: vps01, sstp:", "wg1: vps01, wg2: vps01, sstp:");
    let got = findings(&third);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains("dns.services.git: node \"nuc\" is published at 10.0.12.31"),
        "{got:#?}"
    );
}

#[test]
fn a_field_finding_does_not_hide_duplicates_and_overlaps_elsewhere() {
    let text = with("    platform: macos\n", "    platform: macintosh\n")
        .replacen(
            "      wg0: { address: 10.0.12.31 }",
            "      wg0: { address: 10.0.12.30 }",
            1,
        )
        .replacen(
            "      wg1: { address: 10.33.33.11 }",
            "      wg1: { address: 10.33.33.10 }",
            1,
        );
    let got = findings(&text);
    let has = |needle: &str| got.iter().any(|g| g.contains(needle));
    assert!(has("nodes.mac.platform"), "{got:#?}");
    // nuc repeats z640's address; mac (with its own finding) is not compared, so the iPhone
    // repeating mac's address is not reported until mac parses.
    assert!(
        has("nodes.nuc.planes.wg0.address") && has("10.0.12.30"),
        "{got:#?}"
    );
    assert!(!has("nodes.iphone.planes.wg1.address"), "{got:#?}");
    // References still wait for the field findings: nothing says "not defined".
    assert!(!has("not defined"), "{got:#?}");
}

#[test]
fn a_route_with_its_own_finding_is_not_also_an_overlap() {
    // nuc routes VLAN 60's subnet with host bits: one finding (host bits), not also
    // "overlaps 10.42.60.0/24" for the same entry.
    let text = with(
        "      wg0: { address: 10.0.12.31 }\n",
        "      wg0: { address: 10.0.12.31 }\n    routes: [10.42.60.1/24]\n",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains("nodes.nuc.routes[0]: \"10.42.60.1/24\" has host bits set"),
        "{got:#?}"
    );
    // A node dropped for its own finding: its routes are not compared either.
    let text = with(
        "    platform: macos\n",
        "    platform: macintosh\n    routes: [10.42.60.0/24]\n",
    );
    let got = findings(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("nodes.mac.platform"), "{got:#?}");
}

//! Golden tests: the shipped topology rendered in every layout, byte for byte against
//! tests/golden/<layout>/. Regenerate with `FABRIC_BLESS=1 cargo test --test golden`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn shipped_topology_renders_exactly_the_golden_files_in_every_layout() {
    let t = common::load(&common::repo().join("topology.yaml"));
    let bless = std::env::var_os("FABRIC_BLESS").is_some();
    for layout in common::LAYOUTS {
        let dir = common::repo().join("tests/golden").join(layout);
        let artifacts = common::render(&t, layout);
        if bless {
            let _ = fs::remove_dir_all(&dir);
            for a in &artifacts {
                let p = dir.join(&a.path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, &a.contents).unwrap();
            }
        }
        let mut expected = BTreeSet::new();
        files_under(&dir, &dir, &mut expected);
        let produced: BTreeSet<String> = artifacts.iter().map(|a| a.path.clone()).collect();
        assert_eq!(
            produced, expected,
            "layout {layout}: rendered file set differs from tests/golden/{layout}"
        );
        for a in &artifacts {
            let want = fs::read_to_string(dir.join(&a.path)).unwrap();
            assert!(
                a.contents == want,
                "layout {layout}: {} differs from its golden file (FABRIC_BLESS=1 to accept)\n--- rendered ---\n{}",
                a.path,
                a.contents
            );
        }
    }
}

#[test]
fn render_is_byte_stable() {
    let t = common::load(&common::repo().join("topology.yaml"));
    for layout in common::LAYOUTS {
        let a: Vec<String> = common::render(&t, layout)
            .into_iter()
            .map(|a| a.contents)
            .collect();
        let b: Vec<String> = common::render(&t, layout)
            .into_iter()
            .map(|a| a.contents)
            .collect();
        assert_eq!(a, b);
    }
}

#[test]
fn layouts_move_the_wg0_hub_role() {
    let t = common::load(&common::repo().join("topology.yaml"));
    let hub_of = |layout: &str, node: &str| {
        let (plan, _) = common::plan(&t, layout);
        let n = &plan.nodes[&node.parse().unwrap()];
        n.interfaces
            .iter()
            .find(|i| i.plane.as_str() == "wg0")
            .unwrap()
            .peers
            .iter()
            .map(|p| p.node.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(hub_of("primary", "z640"), ["chr01"]);
    assert_eq!(hub_of("chr02", "z640"), ["chr02"]);
    assert_eq!(hub_of("split-role", "z640"), ["vps01"]);
    // Split role: CHR01 keeps SSTP and becomes a wg0 spoke of VPS01, carrying the client LANs.
    assert_eq!(hub_of("split-role", "chr01"), ["vps01"]);
    let (plan, _) = common::plan(&t, "split-role");
    let vps = &plan.nodes[&"vps01".parse().unwrap()];
    let chr01_peer = vps
        .interfaces
        .iter()
        .find(|i| i.plane.as_str() == "wg0")
        .unwrap()
        .peers
        .iter()
        .find(|p| p.node.as_str() == "chr01")
        .unwrap();
    let allowed: Vec<String> = chr01_peer
        .allowed_ips
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        allowed,
        [
            "10.0.12.1/32",
            "10.0.13.0/24",
            "192.168.50.0/24",
            "192.168.51.0/24",
            "192.168.60.0/24"
        ]
    );
}

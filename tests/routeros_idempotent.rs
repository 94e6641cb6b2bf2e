//! Structure that makes the RouterOS scripts safe to re-import, checked on every rendered
//! script of every layout with routeros-lsp's parser (tests/tools/rsc_commands.py):
//! * every `add` runs only when a `find` for the same object found nothing (inside
//!   `:if ([:len [… find where …]] = 0) do={…}`), except in menus that fabric clears of its own
//!   objects right before (firewall rules) — so a second import never duplicates;
//! * every object fabric adds carries a `fabric:` comment tag, so a sweep or a push touches
//!   only fabric's objects;
//! * every menu with tagged objects gets a generation sweep, so removed objects go away.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

fn commands(path: &std::path::Path) -> Vec<Value> {
    let tool = common::repo().join("tests/tools/rsc_commands.py");
    let out = Command::new("python3")
        .arg(&tool)
        .arg(path)
        .arg("--compact")
        .output()
        .expect("python3 (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["commands"]
        .as_array()
        .unwrap()
        .clone()
}

/// Menus whose fabric-owned objects are removed wholesale before being added again.
const CLEARED_FIRST: &[&str] = &["/ip firewall filter"];

#[test]
fn every_add_is_guarded_tagged_and_swept() {
    let t = common::load(&common::repo().join("topology.yaml"));
    for layout in common::LAYOUTS {
        let dir = tempfile::tempdir().unwrap();
        for a in common::render(&t, layout) {
            if !a.path.ends_with(".rsc") {
                continue;
            }
            let path = dir.path().join(a.path.replace('/', "_"));
            std::fs::write(&path, &a.contents).unwrap();
            let cmds = commands(&path);
            let mut added_menus = BTreeSet::new();
            let mut swept_menus = BTreeSet::new();
            let mut cleared = BTreeSet::new();
            let mut clear_only_in = std::collections::BTreeMap::new();
            for c in &cmds {
                let (menu, verb) = (
                    c["path"].as_str().unwrap_or(""),
                    c["verb"].as_str().unwrap_or(""),
                );
                let source = c["source"].as_str().unwrap_or("");
                // A sweep: `comment~"^fabric:" and !(comment~"^fabric:g<GEN>:")`; a clear:
                // every fabric object of the menu, or (client firewall) fabric's `in:` rules.
                if verb == "remove" && source.contains("comment~\"^fabric:") {
                    if source.contains("!(comment~") {
                        swept_menus.insert(menu.to_string());
                    } else {
                        let only_in = source.contains(":in:\"");
                        if only_in {
                            // The one narrowed clear: it must match every tag fabric writes
                            // for an `in:` rule (`fabric:g<GEN>:in:…`), or rules pile up.
                            assert!(
                                source.contains("comment~\"^fabric:g[0-9a-f]+:in:\""),
                                "{layout}/{}: a clear that misses fabric's tags: {source}",
                                a.path
                            );
                        }
                        cleared.insert(menu.to_string());
                        clear_only_in.insert(menu.to_string(), only_in);
                    }
                }
                if verb != "add" || menu == "/certificate" {
                    continue;
                }
                let where_ = format!("{layout}/{}:{}", a.path, c["line"]);
                let comment = c["args"]["comment"].as_str().unwrap_or("");
                assert!(
                    comment.starts_with("fabric:"),
                    "{where_}: {menu} add without a fabric: comment tag"
                );
                let guarded =
                    c["parent"]
                        .as_u64()
                        .map(|p| &cmds[p as usize])
                        .is_some_and(|parent| {
                            let cond = parent["positional"][0]["source"].as_str().unwrap_or("");
                            parent["command"] == ":if"
                                && c["context"] == "do"
                                && cond.contains(&format!("{menu} find where"))
                                && cond.ends_with("= 0)")
                        });
                let after_clear = CLEARED_FIRST.contains(&menu) && cleared.contains(menu);
                if after_clear && clear_only_in.get(menu) == Some(&true) {
                    let kind = comment.splitn(3, ':').nth(2).unwrap_or("");
                    assert!(
                        kind.starts_with("in:"),
                        "{where_}: the clear removes only in: rules, this add would pile up: {source}"
                    );
                }
                assert!(
                    guarded || after_clear,
                    "{where_}: {menu} add is neither find-guarded nor after a clear: {source}"
                );
                added_menus.insert(menu.to_string());
            }
            for menu in &added_menus {
                assert!(
                    swept_menus.contains(menu) || cleared.contains(menu),
                    "{layout}/{}: {menu} has fabric objects but no sweep of old generations",
                    a.path
                );
            }
        }
    }
}

//! Contract test for `fabric render`: every `wg-quick` artifact of every layout loads into a
//! real WireGuard implementation (wireguard-go in a fresh namespace) through
//! `wg-quick strip FILE | wg setconf IF /dev/stdin`, and `wg showconf` then reports the same
//! peers (and private key) as the file. Secret artifacts and secrets are mode 0600.
//!
//! The manifest contract is described in tests/support/fabric.rs.

mod support;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::fabric::{LAYOUTS, render_layout};
use support::netns::{Netns, check_ok, is_valid_ifname, require_root, wg_keypair};

/// What a WireGuard configuration says about its keys and peers.
#[derive(Debug, Default, PartialEq)]
struct WgConf {
    private_key: Option<String>,
    /// Peer public keys, in file order.
    peers: Vec<String>,
}

/// Parses a wg-quick file or `wg showconf` output: `[Interface] PrivateKey`, and the
/// `PublicKey` of every `[Peer]` (each peer must have exactly one).
fn parse_wg_conf(text: &str) -> Result<WgConf, String> {
    #[derive(PartialEq)]
    enum Section {
        None,
        Interface,
        Peer,
    }
    let mut conf = WgConf::default();
    let mut section = Section::None;
    let mut peer_key: Option<Option<String>> = None;
    let finish_peer =
        |peer_key: &mut Option<Option<String>>, conf: &mut WgConf| match peer_key.take() {
            None => Ok(()),
            Some(Some(key)) => {
                conf.peers.push(key);
                Ok(())
            }
            Some(None) => Err(format!("[Peer] #{} has no PublicKey", conf.peers.len() + 1)),
        };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            finish_peer(&mut peer_key, &mut conf)?;
            section = match line.to_ascii_lowercase().as_str() {
                "[interface]" => Section::Interface,
                "[peer]" => {
                    peer_key = Some(None);
                    Section::Peer
                }
                _ => return Err(format!("line {}: unknown section {line}", n + 1)),
            };
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: not KEY = VALUE: {line}", n + 1))?;
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_string());
        match (&section, key.as_str()) {
            (Section::Interface, "privatekey") => conf.private_key = Some(value),
            (Section::Peer, "publickey") => {
                let earlier = peer_key.replace(Some(value));
                if earlier != Some(None) {
                    return Err(format!("line {}: second PublicKey in one [Peer]", n + 1));
                }
            }
            (Section::None, _) => return Err(format!("line {}: outside any section", n + 1)),
            _ => {}
        }
    }
    finish_peer(&mut peer_key, &mut conf)?;
    Ok(conf)
}

/// Loads the wg-quick file at `path` into wireguard-go in a fresh namespace and compares what
/// the interface reports with the file. The interface is named after the file's stem when that
/// is a valid interface name ending in `.conf` (what `wg-quick` requires), else `wgtest`.
fn check_wg_quick_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let expected = parse_wg_conf(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let ns = Netns::new();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let is_conf = path.extension().is_some_and(|e| e == "conf");
    let (ifname, file): (&str, PathBuf) = if is_conf && is_valid_ifname(stem) {
        (stem, path.to_path_buf())
    } else {
        println!(
            "note: {} is not named IFNAME.conf; checking a copy as wgtest.conf",
            path.display()
        );
        let copy = ns.dir().join("wgtest.conf");
        std::fs::write(&copy, &text).map_err(|e| format!("write {}: {e}", copy.display()))?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod {}: {e}", copy.display()))?;
        ("wgtest", copy)
    };
    ns.wireguard_go(ifname);
    let stripped = ns.exec_in_wg_rundir(&[
        OsStr::new("wg-quick"),
        OsStr::new("strip"),
        file.as_os_str(),
    ]);
    if !stripped.status.success() {
        return Err(format!(
            "{}: wg-quick strip failed: {}",
            path.display(),
            String::from_utf8_lossy(&stripped.stderr).trim()
        ));
    }
    let set = ns.wg_stdin(&["setconf", ifname, "/dev/stdin"], &stripped.stdout);
    if !set.status.success() {
        return Err(format!(
            "{}: wg setconf {ifname} rejected it: {}",
            path.display(),
            String::from_utf8_lossy(&set.stderr).trim()
        ));
    }
    let shown = check_ok("wg showconf", ns.wg(&["showconf", ifname]));
    let actual = parse_wg_conf(&shown).map_err(|e| format!("wg showconf output: {e}\n{shown}"))?;
    let mut problems = Vec::new();
    if actual.peers.len() != expected.peers.len() {
        problems.push(format!(
            "{} peers in the file, {} on the interface",
            expected.peers.len(),
            actual.peers.len()
        ));
    }
    let (mut want, mut got) = (expected.peers.clone(), actual.peers.clone());
    want.sort();
    got.sort();
    if want != got {
        problems.push(format!(
            "peer public keys differ: file {want:?}, interface {got:?}"
        ));
    }
    if expected.private_key.is_some() && expected.private_key != actual.private_key {
        problems.push("the interface's private key is not the file's".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", path.display(), problems.join("; ")))
    }
}

fn wg_quick_artifacts_load_into_wireguard_go(layout: &str) {
    require_root();
    let rendered = render_layout(layout);
    let artifacts: Vec<_> = rendered.with_format("wg-quick").collect();
    assert!(
        !artifacts.is_empty(),
        "layout {layout} rendered no wg-quick artifact: {:#?}",
        rendered.manifest.artifacts
    );
    let failures: Vec<String> = artifacts
        .iter()
        .filter_map(|a| {
            check_wg_quick_file(&rendered.path_of(a))
                .err()
                .map(|e| format!("[{} {}] {e}", a.node, a.plane.as_deref().unwrap_or("-")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "layout {layout}: {} of {} wg-quick artifacts were not accepted:\n{}",
        failures.len(),
        artifacts.len(),
        failures.join("\n")
    );
}

#[test]
fn primary_layout_wg_quick_files_load_into_wireguard_go() {
    wg_quick_artifacts_load_into_wireguard_go("primary");
}

#[test]
fn chr02_layout_wg_quick_files_load_into_wireguard_go() {
    wg_quick_artifacts_load_into_wireguard_go("chr02");
}

#[test]
fn split_role_layout_wg_quick_files_load_into_wireguard_go() {
    wg_quick_artifacts_load_into_wireguard_go("split-role");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn secret_artifacts_and_secrets_are_mode_0600() {
    let mut failures = Vec::new();
    for layout in LAYOUTS {
        let rendered = render_layout(layout);
        for a in rendered.manifest.artifacts.iter().filter(|a| a.secret) {
            let mode = mode_of(&rendered.path_of(a));
            if mode != 0o600 {
                failures.push(format!("{layout}: artifact {} has mode {mode:o}", a.path));
            }
        }
        let mut stack = vec![rendered.secrets.clone()];
        let mut secret_files = 0;
        while let Some(dir) = stack.pop() {
            let entries =
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("read a secrets directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    secret_files += 1;
                    let mode = mode_of(&path);
                    if mode != 0o600 {
                        failures.push(format!(
                            "{layout}: secret {} has mode {mode:o}",
                            path.display()
                        ));
                    }
                }
            }
        }
        assert!(
            secret_files > 0,
            "fabric keys wrote no secret files for layout {layout}"
        );
    }
    assert!(
        failures.is_empty(),
        "files with secrets readable by others:\n{}",
        failures.join("\n")
    );
}

// --- The checker itself, on hand-written files (so it is known to pass and to fail). ---

fn write_conf(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a sample config");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn sample_conf(peer_keys: &[&str]) -> String {
    let (private, _) = wg_keypair();
    let mut text = format!(
        "# sample wg-quick file\n[Interface]\nPrivateKey = {private}\nAddress = 198.51.100.1/24\n\
         ListenPort = 51820\nDNS = 192.0.2.53\nMTU = 1420\nPostUp = true\n"
    );
    for (i, key) in peer_keys.iter().enumerate() {
        text.push_str(&format!(
            "\n[Peer]  # peer {i}\npublickey = {key}\nAllowedIPs = 203.0.113.{}/32\n\
             Endpoint = 192.0.2.{}:51820\nPersistentKeepalive = 25\n",
            i + 1,
            i + 2
        ));
    }
    text
}

#[test]
fn checker_accepts_a_handwritten_wg_quick_file() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, k1) = wg_keypair();
    let (_, k2) = wg_keypair();
    let conf = sample_conf(&[&k1, &k2]);
    assert_eq!(parse_wg_conf(&conf).expect("parse").peers, vec![k1, k2]);
    check_wg_quick_file(&write_conf(dir.path(), "wg7.conf", &conf)).expect("wg7.conf is valid");
    // A name wg-quick would refuse is checked under the name wgtest.
    check_wg_quick_file(&write_conf(dir.path(), "z640-wg0-primary.conf", &conf))
        .expect("a long file name is checked as wgtest");
}

#[test]
fn checker_rejects_a_file_wg_cannot_load() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, good) = wg_keypair();
    let bad = sample_conf(&[&good, "not-a-key"]);
    let err = check_wg_quick_file(&write_conf(dir.path(), "wg7.conf", &bad))
        .expect_err("a peer with an invalid public key must be rejected");
    assert!(err.contains("wg setconf"), "unexpected error: {err}");
}

#[test]
fn parser_rejects_a_peer_without_public_key() {
    let err = parse_wg_conf("[Interface]\nPrivateKey = x\n[Peer]\nAllowedIPs = 192.0.2.1/32\n")
        .expect_err("peer without key");
    assert!(err.contains("no PublicKey"), "{err}");
}

#[test]
fn checker_notices_peers_that_do_not_survive_loading() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key) = wg_keypair();
    // wg merges a repeated peer into one: the interface then has fewer peers than the file.
    let twice = sample_conf(&[&key, &key]);
    let err = check_wg_quick_file(&write_conf(dir.path(), "wg7.conf", &twice))
        .expect_err("a repeated peer must be reported");
    assert!(
        err.contains("2 peers in the file, 1 on the interface"),
        "{err}"
    );
}

/// A node on two planes (nuc as a spoke of wg0 and wg1) comes up with real `wg-quick`, one
/// plane after the other: its configs route each prefix on one link (`Table = off` and the
/// plan's routes), where wg-quick's own routes would put VLAN 60 on both links (the second
/// `ip route add` fails: "File exists") and 10.33.33.0/24 over wg0 as well.
#[test]
fn a_node_on_two_planes_comes_up_with_wg_quick() {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("fabric-two-planes-")
        .tempdir()
        .expect("create a temporary directory");
    let shipped = std::fs::read_to_string(support::fabric::topology_path()).unwrap();
    let nuc = "      wg0: { address: 10.0.12.31 }\n";
    assert!(
        shipped.contains(nuc),
        "nuc's wg0 membership moved in topology.yaml"
    );
    let topology = dir.path().join("topology.yaml");
    std::fs::write(
        &topology,
        shipped.replacen(
            nuc,
            "      wg0: { address: 10.0.12.31 }\n      wg1: { address: 10.33.33.31 }\n",
            1,
        ),
    )
    .unwrap();
    let secrets = dir.path().join("secrets");
    let out = dir.path().join("out");
    let t = topology.to_str().unwrap();
    let s = secrets.to_str().unwrap();
    support::fabric::fabric_ok(&["keys", "-t", t, "--secrets", s]);
    support::fabric::fabric_ok(&[
        "render",
        "-t",
        t,
        "--secrets",
        s,
        "--out",
        out.to_str().unwrap(),
    ]);
    let ns = Netns::new();
    let confs = dir.path().join("confs");
    std::fs::create_dir(&confs).unwrap();
    for plane in ["wg0", "wg1"] {
        let text = std::fs::read_to_string(out.join(format!("wg-quick/nuc/{plane}.conf"))).unwrap();
        assert!(text.contains("Table = off"), "{plane}:\n{text}");
        // No systemd-resolved in a test namespace: the split-DNS hook is left out here.
        let text: String = text
            .lines()
            .filter(|l| !l.contains("resolvectl"))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = write_conf(&confs, &format!("{plane}.conf"), &text);
        let up = ns.exec_in_wg_rundir(&["wg-quick".as_ref(), "up".as_ref(), path.as_os_str()]);
        assert!(
            up.status.success(),
            "wg-quick up {plane} failed:\n{}",
            String::from_utf8_lossy(&up.stderr)
        );
    }
    let table = ns.run_ok(&["ip", "-4", "-o", "route", "show", "table", "main"]);
    let dev_of = |dst: &str| -> Vec<String> {
        table
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(dst))
            .filter_map(|l| {
                let mut w = l.split_whitespace().skip_while(|x| *x != "dev");
                w.nth(1).map(str::to_string)
            })
            .collect()
    };
    assert_eq!(dev_of("10.42.60.0/24").len(), 1, "{table}");
    assert_eq!(dev_of("10.33.33.0/24"), ["wg1"], "{table}");
    assert_eq!(dev_of("10.0.12.0/24"), ["wg0"], "{table}");
}

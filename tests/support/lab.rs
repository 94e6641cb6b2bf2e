//! The shipped topology end to end in the netns lab (root): `fabric lab up` boots it, spokes
//! reach VPS01 through CHR01, the Mac reaches VPS01 on wg1 and resolves names through
//! `fabric dns` served on wg1, a client-site stand-in reaches the infrastructure plane, every
//! node's `fabric plan` shows no drift, the overlay interfaces are kernel WireGuard exactly
//! when the machine has the module (`--backend auto`), and `fabric lab down` leaves nothing
//! behind. Run by `tests/lab.rs` on the host and by `tests/apply_kernel.rs` with kernel
//! WireGuard. Traffic stays inside the lab's namespaces; the underlay is TEST-NET only.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use super::netns::require_root;

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");

/// A lab that is torn down when dropped, also when the test panics.
struct Lab {
    prefix: String,
    topology: String,
    extra: Vec<Child>,
}

impl Lab {
    fn up(layout: &str) -> Lab {
        require_root();
        let prefix = format!("t{}", std::process::id());
        let topology = super::fabric::topology_path()
            .to_string_lossy()
            .into_owned();
        let lab = Lab {
            prefix,
            topology,
            extra: Vec::new(),
        };
        let out = lab.fabric(&["lab", "up", "-t", &lab.topology, "--layout", layout]);
        assert!(
            out.status.success(),
            "lab up failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        lab
    }

    /// `fabric lab …` with this lab's prefix (placed before any `--`).
    fn fabric(&self, args: &[&str]) -> Output {
        assert_eq!(args[0], "lab");
        Command::new(FABRIC)
            .args(["lab", "--prefix", &self.prefix])
            .args(&args[1..])
            .output()
            .unwrap()
    }

    /// Runs a command in a node's namespace.
    fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["lab", "exec", node, "--"];
        args.extend_from_slice(cmd);
        self.fabric(&args)
    }

    /// Pings until one reply or the deadline (bounded count and time).
    fn reaches(&self, node: &str, addr: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        for _ in 0..40 {
            if self
                .exec(node, &["ping", "-c1", "-W1", addr])
                .status
                .success()
            {
                return true;
            }
            if Instant::now() > deadline {
                break;
            }
        }
        false
    }

    fn namespaces(&self) -> Vec<String> {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        text(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{}-", self.prefix)))
            .map(String::from)
            .collect()
    }

    fn pids(&self) -> Vec<String> {
        self.namespaces()
            .iter()
            .flat_map(|n| {
                text(
                    &Command::new("ip")
                        .args(["netns", "pids", n])
                        .output()
                        .unwrap()
                        .stdout,
                )
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.fabric(&["lab", "down"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every check of the shipped topology in one lab (see the module doc).
pub fn shipped_topology_end_to_end() {
    let mut lab = Lab::up("primary");

    for spoke in ["z640", "nuc"] {
        assert!(
            lab.reaches(spoke, "10.0.12.20"),
            "{spoke} cannot reach vps01's wg0 address"
        );
        let endpoints = text(&lab.exec(spoke, &["wg", "show", "wg0", "endpoints"]).stdout);
        assert!(
            endpoints.contains("203.0.113.10:51820"),
            "{spoke} must reach vps01 through chr01: {endpoints}"
        );
    }
    assert!(
        lab.reaches("mac", "10.33.33.1"),
        "mac cannot reach vps01 on wg1"
    );
    assert!(
        lab.reaches("client-a-hq", "10.0.12.20"),
        "client-site stand-in cannot reach the infrastructure plane"
    );

    // `--backend auto`: new interfaces are kernel links where the module exists, wireguard-go
    // (TUN) otherwise.
    let kernel = fabric::apply::kernel::kernel_available();
    for (node, ifname) in [
        ("chr01", "wg0"),
        ("vps01", "wg0"),
        ("vps01", "wg1"),
        ("z640", "wg0"),
    ] {
        let uevent = text(
            &lab.exec(node, &["cat", &format!("/sys/class/net/{ifname}/uevent")])
                .stdout,
        );
        assert_eq!(
            uevent.contains("DEVTYPE=wireguard"),
            kernel,
            "{node} {ifname}: kernel module available: {kernel}, link: {uevent}"
        );
    }

    for node in ["chr01", "chr02", "vps01", "z640", "nuc", "mac", "iphone"] {
        let out = lab.exec(
            node,
            &[
                FABRIC,
                "plan",
                "--node",
                node,
                "-t",
                &lab.topology,
                "--secrets",
                &format!("/run/fabric-lab/{}/secrets", lab.prefix),
            ],
        );
        assert!(
            out.status.success(),
            "{node}: plan right after lab up must show no drift:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    // Split DNS on wg1: fabric dns in vps01's namespace, queried from the Mac over the tunnel.
    let dns = Command::new(FABRIC)
        .args([
            "lab",
            "--prefix",
            &lab.prefix,
            "exec",
            "vps01",
            "--",
            FABRIC,
            "dns",
            "-t",
            &lab.topology,
        ])
        .spawn()
        .unwrap();
    lab.extra.push(dns);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answer = String::new();
    for _ in 0..50 {
        answer = text(
            &lab.exec(
                "mac",
                &[
                    "dig",
                    "+short",
                    "+time=1",
                    "+tries=1",
                    "@10.33.33.1",
                    "vps01.lab.example.com",
                    "A",
                ],
            )
            .stdout,
        );
        if answer.trim() == "10.33.33.1" || Instant::now() > deadline {
            break;
        }
    }
    assert_eq!(
        answer.trim(),
        "10.33.33.1",
        "the Mac resolves vps01 over wg1"
    );
    let refused = text(
        &lab.exec(
            "z640",
            &[
                "dig",
                "+time=1",
                "+tries=1",
                "@10.33.33.1",
                "vps01.lab.example.com",
                "A",
            ],
        )
        .stdout,
    );
    assert!(
        refused.contains("status: REFUSED"),
        "a wg0 source must be REFUSED by the wg1 resolver: {refused}"
    );

    let pids = lab.pids();
    assert!(!pids.is_empty());
    let prefix = lab.prefix.clone();
    let names = lab.namespaces();
    assert!(
        names.len() >= 11,
        "inet + 7 nodes + 3 client stand-ins: {names:?}"
    );
    drop(lab);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !text(&left.stdout).contains(&format!("{prefix}-")),
        "namespaces left behind: {}",
        text(&left.stdout)
    );
    let alive: Vec<_> = pids
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
    assert!(!Path::new(&format!("/run/fabric-lab/{prefix}")).exists());
}

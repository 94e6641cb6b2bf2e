//! Kernel WireGuard, end to end as root:
//! - `fabric apply --backend kernel --node z640` in a fresh namespace creates the interface
//!   in the kernel, a second apply changes nothing, drift made with `wg set` is shown by
//!   `fabric plan` and repaired in place (the interface index never changes: no teardown);
//! - `--backend auto` leaves an interface wireguard-go holds with wireguard-go and creates a
//!   missing one in the kernel;
//! - the whole shipped topology in `fabric lab` (`--backend auto`) runs on kernel WireGuard
//!   links, with the SSTP stand-ins on wireguard-go beside them: pings, split DNS, no drift,
//!   clean tear-down ([`support::lab::shipped_topology_end_to_end`]).
//!
//! Those tests are `#[ignore]`d: they need the module. [`kernel_wireguard_suite`] runs
//! them — on the host where the module exists, else inside a QEMU guest booting an installed
//! Debian kernel that has it ([`support::kernel_vm`]; TCG, no KVM needed), which is how they
//! run on this project's machines and CI (their kernel has no module support at all). Only
//! when neither is possible does it print a loud NOT RUN banner with the reason.
//! Traffic: namespaces created by the tests only (the lab's underlay is TEST-NET); the guest
//! has no network device.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::fabric::{fabric_ok, topology_path};
use support::kernel_vm;
use support::netns::{Netns, require_root};

/// Boot (~5 s under TCG) plus the tests, emulated (~50 s together here).
const GUEST_TIMEOUT: Duration = Duration::from_secs(400);
/// The kernel-only tests of this file.
const KERNEL_TESTS: usize = 3;

#[test]
fn kernel_wireguard_suite() {
    require_root();
    let exe = std::env::current_exe().unwrap();
    let args = "--ignored --nocapture --test-threads=1";
    let (where_, status, output) = if fabric::apply::kernel::kernel_available() {
        let out = Command::new(&exe).args(args.split(' ')).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        ("on this host".to_string(), out.status.code(), text)
    } else {
        let kernel = match kernel_vm::find_guest_kernel() {
            Ok(k) => k,
            Err(why) => {
                loud(&format!(
                    "\n==================== NOT RUN ====================\n\
                     kernel WireGuard tests: this machine has no WireGuard kernel module and\n\
                     no guest can be started to run them in: {why}.\n\
                     The kernel backend is covered here only by unit tests.\n\
                     =================================================\n"
                ));
                return;
            }
        };
        // The lab's SSTP stand-ins use wireguard-go (tun); module autoloading does not work
        // from the guest's chroot, so load what the tests use up front.
        let script = format!(
            "set -e\nmodprobe -a wireguard veth tun\ncd {dir}\n{exe} {args}\n",
            dir = env!("CARGO_MANIFEST_DIR"),
            exe = exe.display()
        );
        let run = kernel_vm::run(&kernel, &script, GUEST_TIMEOUT);
        let where_ = format!(
            "in a QEMU guest (kernel {}) in {:.1} s",
            kernel.version,
            run.took.as_secs_f64()
        );
        let output = format!("{}\n--- guest console ---\n{}", run.output, run.console);
        (where_, run.status, output)
    };
    loud(&format!(
        "kernel WireGuard tests ran {where_}, exit {status:?}:\n{output}\n"
    ));
    assert_eq!(status, Some(0), "kernel WireGuard tests failed {where_}");
    assert!(
        output.contains(&format!("test result: ok. {KERNEL_TESTS} passed")),
        "not every kernel WireGuard test ran {where_}"
    );
}

/// The whole shipped topology in the lab, on kernel WireGuard.
#[test]
#[ignore = "kernel WireGuard only: run by kernel_wireguard_suite (host or guest)"]
fn shipped_topology_lab_on_kernel_wireguard() {
    require_kernel_module();
    support::lab::shipped_topology_end_to_end();
}

fn require_kernel_module() {
    require_root();
    assert!(
        fabric::apply::kernel::kernel_available(),
        "this test needs the WireGuard kernel module (run it through kernel_wireguard_suite)"
    );
}

/// A namespace for z640 and the keys of the shipped topology.
struct Z640 {
    ns: Netns,
    topology: String,
    secrets: String,
    _dir: tempfile::TempDir,
}

impl Z640 {
    fn new() -> Z640 {
        require_kernel_module();
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets").to_str().unwrap().to_string();
        let topology = topology_path().to_str().unwrap().to_string();
        fabric_ok(&["keys", "-t", &topology, "--secrets", &secrets]);
        Z640 {
            ns: Netns::new(),
            topology,
            secrets,
            _dir: dir,
        }
    }

    /// `fabric VERB --backend BACKEND --node z640` in the namespace; asserts the exit code.
    fn fabric(&self, verb: &str, backend: &str, code: i32) -> String {
        let bin = Path::new(env!("CARGO_BIN_EXE_fabric")).to_str().unwrap();
        let out = self.ns.exec_in_wg_rundir(&[
            bin,
            verb,
            "--backend",
            backend,
            "--node",
            "z640",
            "-t",
            &self.topology,
            "--secrets",
            &self.secrets,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "fabric {verb} --backend {backend}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn is_kernel_link(&self) -> bool {
        let uevent = self.ns.run_ok(&["cat", "/sys/class/net/wg0/uevent"]);
        uevent.contains("DEVTYPE=wireguard")
    }

    fn ifindex(&self) -> String {
        self.ns.run_ok(&["cat", "/sys/class/net/wg0/ifindex"])
    }
}

/// `fabric apply --backend kernel`: create, converge, drift, repair in place.
#[test]
#[ignore = "kernel WireGuard only: run by kernel_wireguard_suite (host or guest)"]
fn kernel_backend_creates_converges_and_repairs_drift_in_place() {
    let z = Z640::new();
    let first = z.fabric("apply", "kernel", 0);
    assert!(first.contains("+ interface"), "{first}");
    assert!(z.is_kernel_link());
    let index = z.ifindex();
    assert!(z.fabric("apply", "kernel", 0).contains("no change"));
    z.fabric("plan", "kernel", 0);
    // Drift: keepalive of the hub peer changed by hand.
    let peers = z.ns.run_ok(&["wg", "show", "wg0", "peers"]);
    let hub = peers.lines().next().expect("a hub peer").trim().to_string();
    z.ns.run_ok(&[
        "wg",
        "set",
        "wg0",
        "peer",
        &hub,
        "persistent-keepalive",
        "7",
    ]);
    let drift = z.fabric("plan", "kernel", 1);
    assert!(drift.contains("keepalive 7 -> 25"), "{drift}");
    z.fabric("apply", "kernel", 0);
    z.fabric("plan", "kernel", 0);
    assert_eq!(z.ifindex(), index, "the interface was recreated");
}

/// `--backend auto` with the module loaded: an interface wireguard-go already holds stays
/// with wireguard-go (converged in place, not replaced by a kernel link); a missing one is
/// created in the kernel.
#[test]
#[ignore = "kernel WireGuard only: run by kernel_wireguard_suite (host or guest)"]
fn auto_backend_keeps_wireguard_go_interfaces_and_creates_kernel_ones() {
    let z = Z640::new();
    let wg_go = z.ns.wireguard_go("wg0");
    let index = z.ifindex();
    z.fabric("apply", "auto", 0);
    assert!(!z.is_kernel_link(), "wireguard-go's wg0 was replaced");
    assert_eq!(z.ifindex(), index);
    assert!(z.fabric("apply", "auto", 0).contains("no change"));
    z.fabric("plan", "auto", 0);
    z.ns.stop(wg_go.pid); // its interface goes with it
    assert!(
        support::netns::poll_until(Duration::from_secs(10), Duration::from_millis(50), || {
            !z.ns.has_link("wg0")
        }),
        "wg0 outlived wireguard-go"
    );
    let created = z.fabric("apply", "auto", 0);
    assert!(created.contains("+ interface"), "{created}");
    assert!(z.is_kernel_link(), "a new interface belongs in the kernel");
    z.fabric("plan", "auto", 0);
}

/// Writes to the process's stderr past the test harness's output capture (which takes only
/// `print!`/`eprint!`), so the banner shows in every `cargo test` log, passing or not.
fn loud(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

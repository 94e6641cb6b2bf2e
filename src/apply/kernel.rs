//! The [`WgBackend`] for kernel WireGuard (the `wireguard` module), and [`AutoBackend`], which
//! drives each interface with the implementation that holds it.
//!
//! - read: `defguard_wireguard_rs` `WGApi::<Kernel>::read_interface_data()` (generic netlink)
//!   plus [`super::ip`] for addresses, MTU, link state and routes.
//! - apply: a missing interface is created with `WGApi::<Kernel>::create_interface()`; peers
//!   change in place, one netlink request each (`configure_peer`: allowed IPs replaced,
//!   keepalive explicit; `remove_peer`). The library's only setter for the private key and
//!   listen port is `configure_interface`, which flushes the addresses and replaces every
//!   peer — a teardown — so those two go through `wg set IF private-key /proc/self/fd/0
//!   listen-port N` (wireguard-tools), the key on a pipe, never on the command line.
//!
//! Tests: unit tests of what it sends, and `tests/apply_kernel.rs` live against kernel
//! WireGuard — on the host where the module exists, else in a QEMU guest (this machine and
//! CI have no module support).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use defguard_wireguard_rs::host::Host;
use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::peer::Peer;
use defguard_wireguard_rs::{Kernel, WGApi, WireguardInterfaceApi};

use super::backend::WgBackend;
use super::ip;
use super::model::{InterfaceObserved, PeerField, WgChange};
use super::uapi::{self, socket_path};
use super::userspace::{self, UserspaceBackend};
use crate::model::Ifname;

/// Upper bound for one netlink read (the kernel answers at once; this guards the library).
pub const NETLINK_TIMEOUT: Duration = Duration::from_secs(10);

/// Kernel WireGuard through netlink.
#[derive(Debug, Default)]
pub struct KernelBackend;

impl WgBackend for KernelBackend {
    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
        let Some(link) = ip::read(ifname.as_str())? else {
            return Ok(InterfaceObserved::default());
        };
        if link_kind(ifname) != LinkKind::Kernel {
            bail!(
                "{ifname} exists but is not a kernel WireGuard interface (a wireguard-go TUN \
                 or another kind of link); use --backend userspace or remove it"
            );
        }
        let host = read_host(ifname, NETLINK_TIMEOUT)?;
        userspace::observed(&host, link)
    }

    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
        let mut api = WGApi::<Kernel>::new(ifname.to_string())
            .map_err(|e| anyhow!("{ifname}: netlink: {e}"))?;
        if changes.contains(&WgChange::CreateInterface) {
            api.create_interface()
                .map_err(|e| anyhow!("{ifname}: creating a kernel WireGuard interface: {e}"))?;
        }
        if let Some(args) = wg_set_args(changes) {
            wg_set(ifname, &args, private_key_of(changes))?;
        }
        for op in peer_ops(changes) {
            match op {
                PeerOp::Set(peer) => api.configure_peer(&peer),
                PeerOp::Remove(key) => api.remove_peer(&key),
            }
            .map_err(|e| anyhow!("{ifname}: configuring a peer over netlink: {e}"))?;
        }
        userspace::apply_link_changes(ifname, changes)
    }
}

/// The WireGuard state of a kernel interface over netlink, on a worker thread bounded by
/// `timeout`.
pub fn read_host(ifname: &Ifname, timeout: Duration) -> anyhow::Result<Host> {
    let name = ifname.to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = WGApi::<Kernel>::new(name).and_then(|api| api.read_interface_data());
        let _ = tx.send(r);
    });
    rx.recv_timeout(timeout)
        .map_err(|_| anyhow!("{ifname}: netlink did not answer within {timeout:?}"))?
        .map_err(|e| anyhow!("{ifname}: reading WireGuard state over netlink: {e}"))
}

/// One peer request.
#[derive(Debug, Clone, PartialEq)]
enum PeerOp {
    Set(Peer),
    Remove(Key),
}

/// The peer requests for `changes`, removals last, as in the UAPI transaction: setting a
/// peer's allowed IPs moves them from whichever peer held them, so the new hub or the
/// re-keyed peer carries the traffic before the old one goes, and a request that fails
/// halfway leaves the old peer in place rather than no route at all.
fn peer_ops(changes: &[WgChange]) -> Vec<PeerOp> {
    let mut removes = Vec::new();
    let mut sets = Vec::new();
    for c in changes {
        match c {
            WgChange::AddPeer(p) => {
                let mut new = uapi::peer(p, false);
                new.persistent_keepalive_interval = p.keepalive;
                sets.push(PeerOp::Set(new));
            }
            WgChange::UpdatePeer { peer, fields } => {
                let clear = fields.contains(&PeerField::PresharedKeyRemoved);
                sets.push(PeerOp::Set(uapi::peer(peer, clear)));
            }
            WgChange::RemovePeer { public_key, .. } => {
                removes.push(PeerOp::Remove(Key::new(*public_key.as_bytes())));
            }
            _ => {}
        }
    }
    sets.extend(removes);
    sets
}

/// Where `wg set` reads the private key: stdin, so the key never shows in `ps`. Not
/// `/dev/stdin`, a symlink that udev makes and minimal systems lack (the test guest has none).
const STDIN_PATH: &str = "/proc/self/fd/0";

/// `wg set` arguments for the interface-level changes, `None` when there are none.
fn wg_set_args(changes: &[WgChange]) -> Option<Vec<String>> {
    let mut args = Vec::new();
    for c in changes {
        match c {
            WgChange::SetPrivateKey { .. } => {
                args.extend(["private-key".to_string(), STDIN_PATH.to_string()]);
            }
            WgChange::SetListenPort { to, .. } => {
                args.extend(["listen-port".to_string(), to.to_string()]);
            }
            _ => {}
        }
    }
    (!args.is_empty()).then_some(args)
}

fn private_key_of(changes: &[WgChange]) -> Option<String> {
    changes.iter().find_map(|c| match c {
        WgChange::SetPrivateKey { key, .. } => Some(key.expose_base64()),
        _ => None,
    })
}

/// Runs `wg set IF ARGS…` with the private key (if any) on stdin, bounded by
/// [`ip::CMD_TIMEOUT`].
fn wg_set(ifname: &Ifname, args: &[String], key: Option<String>) -> anyhow::Result<()> {
    let mut child = Command::new("wg")
        .arg("set")
        .arg(ifname.as_str())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `wg` (install wireguard-tools)")?;
    let mut stdin = child.stdin.take().expect("piped");
    if let Some(k) = key {
        stdin.write_all(k.as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    drop(stdin);
    let deadline = std::time::Instant::now() + ip::CMD_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            bail!("{ifname}: `wg set` failed ({status}): {}", err.trim());
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{ifname}: `wg set` did not finish within {:?}",
                ip::CMD_TIMEOUT
            );
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// What kind of WireGuard link an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// No such link.
    Missing,
    /// A kernel WireGuard link (`DEVTYPE=wireguard`).
    Kernel,
    /// A TUN device with a wireguard-go UAPI socket.
    Userspace,
    /// Something else (a TUN without socket, a bridge, …).
    Other,
}

/// The kind of `ifname`, from sysfs and the UAPI socket (no subprocess).
pub fn link_kind(ifname: &Ifname) -> LinkKind {
    let sys = Path::new("/sys/class/net").join(ifname.as_str());
    let uevent = std::fs::read_to_string(sys.join("uevent")).ok();
    classify(
        uevent.as_deref(),
        sys.join("tun_flags").exists(),
        socket_path(ifname).exists(),
    )
}

/// Pure part of [`link_kind`].
fn classify(uevent: Option<&str>, tun: bool, uapi_socket: bool) -> LinkKind {
    let Some(uevent) = uevent else {
        return LinkKind::Missing;
    };
    if uevent.lines().any(|l| l.trim() == "DEVTYPE=wireguard") {
        LinkKind::Kernel
    } else if tun && uapi_socket {
        LinkKind::Userspace
    } else {
        LinkKind::Other
    }
}

/// Whether this machine can make kernel WireGuard interfaces: the module is loaded, or it is
/// installed for the running kernel (creating the first link loads it).
pub fn kernel_available() -> bool {
    if Path::new("/sys/module/wireguard").exists() {
        return true;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let dir = Path::new("/lib/modules").join(release.trim());
    std::fs::read_to_string(dir.join("modules.dep"))
        .map(|deps| module_listed(&deps))
        .unwrap_or(false)
        || std::fs::read_to_string(dir.join("modules.builtin"))
            .map(|b| module_listed(&b))
            .unwrap_or(false)
}

/// Whether a modules.dep / modules.builtin text lists `wireguard.ko` (any compression).
fn module_listed(text: &str) -> bool {
    text.lines().any(|l| {
        let path = l.split(':').next().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        file == "wireguard.ko" || file.starts_with("wireguard.ko.")
    })
}

/// Picks, per interface, the implementation that holds it: an existing wireguard-go
/// interface stays userspace, an existing kernel link stays kernel (an apply never swaps the
/// implementation under a live interface); a missing one is created with `default`.
pub struct AutoBackend {
    pub default_kernel: bool,
    kernel: KernelBackend,
    userspace: UserspaceBackend,
}

impl AutoBackend {
    pub fn new(default_kernel: bool) -> AutoBackend {
        AutoBackend {
            default_kernel,
            kernel: KernelBackend,
            userspace: UserspaceBackend::default(),
        }
    }

    fn kernel_for(&self, ifname: &Ifname) -> bool {
        match link_kind(ifname) {
            LinkKind::Kernel => true,
            LinkKind::Userspace => false,
            LinkKind::Missing | LinkKind::Other => self.default_kernel,
        }
    }
}

impl WgBackend for AutoBackend {
    fn prefetch(&self) {
        self.userspace.prefetch();
    }

    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
        if self.kernel_for(ifname) {
            self.kernel.read(ifname)
        } else {
            self.userspace.read(ifname)
        }
    }

    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
        if self.kernel_for(ifname) {
            self.kernel.apply(ifname, changes)
        } else {
            self.userspace.apply(ifname, changes)
        }
    }
}

#[cfg(test)]
mod tests;

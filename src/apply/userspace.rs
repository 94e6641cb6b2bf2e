//! The real [`WgBackend`] for userspace WireGuard (wireguard-go), through its UAPI socket
//! `/var/run/wireguard/IF.sock`.
//!
//! - read ([`super::uapi`]): a UAPI `get` read whole under one deadline on a worker thread
//!   and parsed by `defguard_wireguard_rs`'s `Host::parse_uapi` (the library's own reader
//!   retries a timed-out read forever), plus [`super::ip`] for addresses, MTU, link state and
//!   routes.
//! - apply: every WireGuard change of one interface goes out as ONE UAPI `set` transaction
//!   built from the library's serializers (`Peer::as_uapi_update` / `as_uapi_remove`): peers
//!   change in place, the interface is never torn down, and 1,000 changed peers cost one
//!   socket round trip instead of 1,000 (`WGApi::configure_peer` opens a connection per
//!   peer). The library has no in-place setter for listen port / private key (its
//!   `write_host` replaces all peers), another reason for the single transaction.
//! - a missing interface is created by starting `wireguard-go IF` (it daemonizes) and waiting,
//!   bounded, for its socket.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use defguard_wireguard_rs::host::Host;
use defguard_wireguard_rs::key::Key;
use ipnet::{IpNet, Ipv4Net};

use super::backend::WgBackend;
use super::ip;
use super::model::{InterfaceObserved, PeerObserved, WgChange};
use super::uapi::{RUN_DIR, UAPI_TIMEOUT, read_host, socket_path, uapi_set, uapi_transaction};
use crate::model::{Ifname, PublicKey};

/// Upper bound for a new wireguard-go to create its interface and socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Held by `fabric apply` while it reads, diffs and changes the node, so two applies (cron and
/// a person) never interleave. It lives in the run directory, which the netns lab makes
/// private per node.
pub const LOCK_FILE: &str = "fabric-apply.lock";
/// How long `fabric apply` waits for another one to finish.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Takes the apply lock (an exclusive `flock` on [`LOCK_FILE`]); released when the returned
/// file is dropped or the process ends. Waits at most `timeout`.
pub fn lock(timeout: Duration) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
    let path = PathBuf::from(RUN_DIR).join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = Instant::now() + timeout;
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                if !told {
                    tracing::info!(lock = %path.display(), "waiting for another fabric apply");
                    told = true;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another `fabric apply` holds {} for more than {timeout:?}",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// IPv4 forwarding switch of the current network namespace.
pub(super) const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn read_forwarding() -> anyhow::Result<bool> {
    let v = std::fs::read_to_string(IP_FORWARD).with_context(|| format!("reading {IP_FORWARD}"))?;
    Ok(v.trim() == "1")
}

#[derive(Debug, Default)]
pub struct UserspaceBackend {
    /// Reads started by [`WgBackend::prefetch`], by interface name; the first `read` of an
    /// interface takes its result, later reads go to the system again.
    prefetched: Mutex<BTreeMap<String, JoinHandle<anyhow::Result<InterfaceObserved>>>>,
}

pub(super) fn public_key(key: &Key) -> PublicKey {
    // `Key` displays as base64, the form `PublicKey` parses.
    key.to_string()
        .parse()
        .expect("a 32-byte key is a valid public key")
}

impl WgBackend for UserspaceBackend {
    /// Starts reading every interface that has a UAPI socket, while the caller loads the
    /// topology (on a node these are its fabric interfaces; a read costs wireguard-go, not us).
    fn prefetch(&self) {
        let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
            return;
        };
        let mut prefetched = self.prefetched.lock().unwrap_or_else(|p| p.into_inner());
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(Ok(ifname)) = name.strip_suffix(".sock").map(str::parse::<Ifname>) else {
                continue;
            };
            let key = ifname.to_string();
            prefetched.insert(key, thread::spawn(move || read_now(&ifname)));
        }
    }

    fn read(&self, ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
        let early = self
            .prefetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ifname.as_str());
        match early {
            // Bounded: the read inside has its own deadlines.
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow!("{ifname}: reading WireGuard state panicked"))?,
            None => read_now(ifname),
        }
    }

    fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
        apply_now(ifname, changes)
    }
}

/// Reads one interface: the UAPI read runs on its own thread while `ip` reads the link.
fn read_now(ifname: &Ifname) -> anyhow::Result<InterfaceObserved> {
    let sock = socket_path(ifname);
    // The UAPI read runs on its own thread while `ip` reads the link (saves a round trip).
    let host = sock.exists().then(|| read_host(ifname, UAPI_TIMEOUT));
    let link = ip::read(ifname.as_str())?;
    let host = match (&link, host) {
        (None, None) => return Ok(InterfaceObserved::default()),
        (Some(_), None) => bail!(
            "{ifname} exists but has no wireguard-go socket {} (a kernel WireGuard \
             interface, or wireguard-go started in another mount namespace?)",
            sock.display()
        ),
        // A killed wireguard-go leaves its socket behind; nobody answers it, and the next
        // wireguard-go removes it when it starts. So: no interface.
        (None, Some(_)) => match std::os::unix::net::UnixStream::connect(&sock) {
            Err(e) if is_refused(&e) => return Ok(InterfaceObserved::default()),
            _ => bail!(
                "{} answers but there is no link {ifname} in this network namespace (a \
                 wireguard-go of another namespace sharing /var/run/wireguard?)",
                sock.display()
            ),
        },
        (Some(_), Some(pending)) => pending.wait()?,
    };
    observed(&host, link.unwrap_or_default())
}

/// What an interface reports, from its WireGuard state (`host`, from UAPI or netlink) and its
/// link state. Shared by the userspace and the kernel backend.
pub(super) fn observed(host: &Host, link: ip::LinkObserved) -> anyhow::Result<InterfaceObserved> {
    let peers = host
        .peers
        .values()
        .map(|p| PeerObserved {
            public_key: public_key(&p.public_key),
            endpoint: p.endpoint,
            allowed_ips: p
                .allowed_ips
                .iter()
                .filter_map(|m| IpNet::new(m.address, m.cidr).ok())
                .collect(),
            keepalive: p.persistent_keepalive_interval.filter(|k| *k != 0),
            preshared_key: p
                .preshared_key
                .as_ref()
                .is_some_and(|k| k.as_array() != [0; 32]),
        })
        .collect();
    Ok(InterfaceObserved {
        exists: true,
        listen_port: Some(host.listen_port).filter(|p| *p != 0),
        public_key: host
            .private_key
            .as_ref()
            .map(|k| public_key(&k.public_key())),
        peers,
        addresses: link.addresses,
        mtu: link.mtu,
        up: link.up,
        routes: link.routes,
        forwarding: read_forwarding()?,
    })
}

fn apply_now(ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
    if changes.contains(&WgChange::CreateInterface) {
        create(ifname)?;
    }
    let uapi = uapi_set(changes);
    if !uapi.is_empty() {
        uapi_transaction(ifname, &uapi, UAPI_TIMEOUT)
            .with_context(|| format!("{ifname}: configuring WireGuard"))?;
    }
    apply_link_changes(ifname, changes)
}

/// Whether `e` says nothing listens on the socket (connection refused, or the file vanished
/// meanwhile).
fn is_refused(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
    )
}

/// Whether the kernel would make one of these addresses a secondary of the other.
fn same_subnet(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.prefix_len() == b.prefix_len() && a.network() == b.network()
}

/// Switches on `promote_secondaries` for the link (best effort): removing its primary address
/// then promotes a secondary instead of deleting it.
fn promote_secondaries(ifname: &str) -> bool {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries");
    match std::fs::write(&path, "1\n") {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("{path}: {e}; removing the old address first");
            false
        }
    }
}

/// The non-WireGuard part of `changes` (MTU, addresses, link up, routes, forwarding) through
/// iproute2. Shared by the userspace and the kernel backend.
pub(super) fn apply_link_changes(ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
    let name = ifname.as_str();
    for change in changes {
        match change {
            WgChange::SetMtu { to, .. } => ip::set_mtu(name, *to)?,
            WgChange::SetAddress { remove, add } => {
                // The new address goes first, so the link never loses its last IPv4 address
                // (which flushes every route through it, the operator's too). The kernel makes
                // an address a secondary of a primary with the same network and prefix
                // length, and removing the primary takes its secondaries along — unless
                // `promote_secondaries` is on, so it is switched on for that case; where it
                // cannot be, the old address goes first. Fabric's own routes are put back
                // either way.
                let routes = |name| ip::read(name).map(|l| l.map(|l| l.routes).unwrap_or_default());
                let before = routes(name)?;
                let add_first = add.is_some_and(|a| {
                    remove.iter().all(|r| !same_subnet(&a, r)) || promote_secondaries(name)
                });
                if add_first && let Some(a) = add {
                    ip::add_address(name, *a)?;
                }
                for r in remove {
                    ip::del_address(name, *r)?;
                }
                if !add_first && let Some(a) = add {
                    ip::add_address(name, *a)?;
                }
                let after = routes(name)?;
                for r in before.iter().filter(|r| !after.contains(r)) {
                    ip::replace_route(name, *r)?;
                }
            }
            WgChange::LinkUp => ip::set_up(name)?,
            WgChange::AddRoute(n) => ip::replace_route(name, *n)?,
            WgChange::RemoveRoute(n) => ip::del_route(name, *n)?,
            WgChange::EnableForwarding => std::fs::write(IP_FORWARD, "1\n")
                .with_context(|| format!("enabling forwarding ({IP_FORWARD})"))?,
            _ => {}
        }
    }
    Ok(())
}

/// Starts `wireguard-go IF` (which daemonizes once the interface and socket exist) and waits,
/// bounded, until both are there.
fn create(ifname: &Ifname) -> anyhow::Result<()> {
    std::fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
    let mut cmd = Command::new("wireguard-go");
    // Without LOG_LEVEL the daemon gets /dev/null for its output, not our pipes.
    cmd.arg(ifname.as_str()).env_remove("LOG_LEVEL");
    // A long-running daemon: no transparent huge pages (RSS). The fabric binary turns them
    // off for itself and its children before `main`; set here too for other callers of the
    // library (the tests).
    // SAFETY: the closure runs between fork and exec and only calls prctl, which takes plain
    // integers and is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
            Ok(())
        });
    }
    let sock = socket_path(ifname);
    ip::run_command(&mut cmd, START_TIMEOUT).with_context(|| {
        format!(
            "{ifname}: starting wireguard-go ({})",
            start_failure_hint(&sock, std::path::Path::new(TUN_DEVICE))
        )
    })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if sock.exists() && ip::read(ifname.as_str())?.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{ifname}: wireguard-go started but {} did not appear within {START_TIMEOUT:?}",
                sock.display()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The TUN device wireguard-go opens for every interface.
const TUN_DEVICE: &str = "/dev/net/tun";

/// Why a wireguard-go that exited at once most likely failed (its daemon's own log goes to
/// /dev/null; its banner about kernel support is printed either way and is not the reason).
fn start_failure_hint(sock: &std::path::Path, tun: &std::path::Path) -> String {
    // Opening the device creates nothing (that takes an ioctl); it only checks access.
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(tun) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tun)
            .map(|m| format!("mode {:o}", m.permissions().mode() & 0o7777))
            .unwrap_or_else(|_| "missing".into());
        return format!(
            "cannot open {} ({e}; {mode}): wireguard-go needs it read-write. Debian's udev makes \
             it 0666; on a host without udev run `chmod 0666 {}`, or run fabric as root",
            tun.display(),
            tun.display()
        );
    }
    if std::os::unix::net::UnixStream::connect(sock).is_ok() {
        return format!(
            "{} is in use: another wireguard-go still serves this interface (a stopping one, \
             or one started in this run directory by hand)",
            sock.display()
        );
    }
    format!(
        "its reason is in its own log: run `LOG_LEVEL=verbose wireguard-go -f {}` once by hand",
        sock.file_stem().unwrap_or_default().to_string_lossy()
    )
}

/// The last handshake of each peer of a WireGuard interface (`None`: never), for the
/// failover monitor's handshake-age signal: over the UAPI socket for wireguard-go, over
/// netlink for a kernel interface. Bounded by `timeout`.
pub fn last_handshakes(
    ifname: &Ifname,
    timeout: Duration,
) -> anyhow::Result<Vec<(PublicKey, Option<std::time::SystemTime>)>> {
    let host = if socket_path(ifname).exists() {
        read_host(ifname, timeout).wait()?
    } else if super::kernel::link_kind(ifname) == super::kernel::LinkKind::Kernel {
        super::kernel::read_host(ifname, timeout)?
    } else {
        bail!("{ifname}: neither a wireguard-go socket nor a kernel WireGuard link");
    };
    Ok(host
        .peers
        .values()
        .map(|p| (public_key(&p.public_key), p.last_handshake))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_likely_reason_wireguard_go_failed_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("wg7.sock");
        let tun = dir.path().join("tun");
        let hint = super::start_failure_hint(&sock, &tun);
        assert!(
            hint.contains("tun (No such file") && hint.contains("missing"),
            "{hint}"
        );
        std::fs::write(&tun, "").unwrap();
        let hint = super::start_failure_hint(&sock, &tun);
        assert!(
            hint.contains("`LOG_LEVEL=verbose wireguard-go -f wg7`"),
            "{hint}"
        );
        let _served = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let hint = super::start_failure_hint(&sock, &tun);
        assert!(
            hint.contains("wg7.sock is in use: another wireguard-go"),
            "{hint}"
        );
    }
}

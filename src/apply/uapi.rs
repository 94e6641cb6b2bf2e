//! The wireguard-go UAPI wire (`/var/run/wireguard/IF.sock`): a `get` read under one
//! deadline (parsed by `defguard_wireguard_rs`'s `Host::parse_uapi` once the whole answer is
//! in), and one `set` transaction for many changes, built from the library's serializers
//! (`Peer::as_uapi_update` / `as_uapi_remove`).

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use defguard_wireguard_rs::host::Host;
use defguard_wireguard_rs::key::Key;
use defguard_wireguard_rs::net::IpAddrMask;
use defguard_wireguard_rs::peer::Peer;

use super::model::{PeerField, WgChange};
use crate::model::Ifname;
use crate::plan::PeerPlan;

/// Where wireguard-go puts its UAPI sockets (fixed in wireguard-go and in the library).
pub const RUN_DIR: &str = "/var/run/wireguard";
/// Upper bound for one UAPI read or write transaction.
pub const UAPI_TIMEOUT: Duration = Duration::from_secs(10);

pub fn socket_path(ifname: &Ifname) -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{ifname}.sock"))
}

/// A UAPI `get` running on a worker thread (beside the caller's own work).
pub struct PendingRead {
    ifname: String,
    rx: mpsc::Receiver<anyhow::Result<Host>>,
    deadline: Instant,
    timeout: Duration,
}

/// Starts [`uapi_get`] on a worker thread; [`PendingRead::wait`] gives its answer. The
/// thread ends by the deadline whatever wireguard-go does (the library's own reader retries
/// a timed-out read forever, so a hung daemon would keep one spinning thread per read).
pub fn read_host(ifname: &Ifname, timeout: Duration) -> PendingRead {
    let (tx, rx) = mpsc::channel();
    let path = socket_path(ifname);
    thread::spawn(move || {
        let _ = tx.send(uapi_get(&path, timeout));
    });
    PendingRead {
        ifname: ifname.to_string(),
        rx,
        deadline: Instant::now() + timeout,
        timeout,
    }
}

impl PendingRead {
    pub fn wait(self) -> anyhow::Result<Host> {
        // A little past the reader's own deadline, so its error is the one reported.
        let left =
            self.deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200);
        let (ifname, timeout) = (self.ifname, self.timeout);
        match self.rx.recv_timeout(left) {
            Ok(result) => result.map_err(|e| anyhow!("{ifname}: reading WireGuard state: {e:#}")),
            Err(_) => bail!("{ifname}: wireguard-go did not answer within {timeout:?}"),
        }
    }
}

/// `get=1` on the UAPI socket at `path`: reads the whole answer (up to `errno=`) under one
/// deadline, then parses it.
pub fn uapi_get(path: &std::path::Path, timeout: Duration) -> anyhow::Result<Host> {
    let deadline = Instant::now() + timeout;
    let mut sock =
        UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    sock.set_write_timeout(Some(timeout))?;
    sock.write_all(b"get=1\n\n")?;
    let answer = read_answer(&mut sock, 512 * 1024, deadline, timeout)?;
    match errno_of(&answer) {
        Some("0") => Host::parse_uapi(answer.as_slice()).context("parsing the UAPI answer"),
        Some(errno) => bail!("wireguard-go answered errno {errno}"),
        None => bail!("wireguard-go ended its answer without an errno line"),
    }
}

/// The most a UAPI answer may take: ≈ 300 B per peer, so room for 100,000 peers. A daemon
/// that sends more (or never ends a line) is not wireguard-go.
const MAX_ANSWER: usize = 32 * 1024 * 1024;

/// Reads one UAPI answer — everything up to the blank line that ends it — with raw reads
/// into a buffer of `first_read` bytes, doubled while it fills,
/// each under the time left until `deadline`, and at most [`MAX_ANSWER`] bytes. A daemon that
/// trickles bytes, never ends a line or never stops fails at the deadline or the cap.
fn read_answer(
    sock: &mut UnixStream,
    first_read: usize,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<Vec<u8>> {
    // One buffer, read into directly and doubled when full: 1,000 peers are ≈ 300 KB. Fresh
    // zeroed memory costs only the pages the answer fills; a separate read chunk plus an
    // answer grown by doubling put four differently sized large blocks on this thread
    // (each opening its own allocator page, a zeroed huge page apiece).
    let mut answer = vec![0u8; first_read];
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("wireguard-go did not answer within {timeout:?}");
        }
        if filled == answer.len() {
            if answer.len() >= MAX_ANSWER {
                bail!("wireguard-go sent more than {MAX_ANSWER} bytes without ending its answer");
            }
            answer.resize((2 * answer.len()).min(MAX_ANSWER), 0);
        }
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut answer[filled..]) {
            Ok(0) => bail!("wireguard-go closed the socket before the end of its answer"),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                bail!("wireguard-go closed the socket before the end of its answer")
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("wireguard-go did not answer within {timeout:?}")
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the UAPI answer"),
        }
        // Only the end of an answer holds a blank line ("errno=N\n\n").
        if answer[..filled].ends_with(b"\n\n") {
            answer.truncate(filled);
            return Ok(answer);
        }
    }
}

/// The value of the answer's last line, `errno=N` (`None` when it is not there).
fn errno_of(answer: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(answer).ok()?;
    text.trim_end().lines().last()?.strip_prefix("errno=")
}

/// The UAPI `set` body (without `set=1` and the final blank line) for the WireGuard part of
/// `changes`: interface keys first, then peers, as UAPI requires.
pub fn uapi_set(changes: &[WgChange]) -> String {
    let mut head = String::new();
    let mut peers = String::new();
    for change in changes {
        match change {
            WgChange::SetPrivateKey { key, .. } => {
                let k = Key::try_from(key.expose_base64().as_str()).expect("valid key");
                head.push_str(&format!("private_key={}\n", k.to_lower_hex()));
            }
            WgChange::SetListenPort { to, .. } => {
                head.push_str(&format!("listen_port={to}\n"));
            }
            WgChange::AddPeer(p) => {
                let mut new = peer(p, false);
                // A new peer has no keepalive: say nothing rather than 0.
                new.persistent_keepalive_interval = p.keepalive;
                peers.push_str(&new.as_uapi_update());
            }
            WgChange::UpdatePeer { peer: p, fields } => {
                let clear_psk = fields.contains(&PeerField::PresharedKeyRemoved);
                peers.push_str(&peer(p, clear_psk).as_uapi_update());
            }
            WgChange::RemovePeer { public_key, .. } => {
                peers.push_str(&Peer::new(Key::new(*public_key.as_bytes())).as_uapi_remove());
            }
            _ => {}
        }
    }
    head + &peers
}

/// The library's peer for `p`: keepalive always explicit (0 turns it off), allowed IPs
/// replaced, the preshared key zeroed (= none) when asked.
pub(super) fn peer(p: &PeerPlan, clear_psk: bool) -> Peer {
    let mut out = Peer::new(Key::new(*p.public_key.as_bytes()));
    out.endpoint = p.endpoint;
    out.persistent_keepalive_interval = Some(p.keepalive.unwrap_or(0));
    out.allowed_ips = p
        .allowed_ips
        .iter()
        .map(|n| IpAddrMask::new(IpAddr::V4(n.addr()), n.prefix_len()))
        .collect();
    if clear_psk {
        out.preshared_key = Some(Key::new([0; 32]));
    }
    out
}

/// One `set=1` transaction on the interface's UAPI socket; fails on a non-zero errno.
pub fn uapi_transaction(ifname: &Ifname, body: &str, timeout: Duration) -> anyhow::Result<()> {
    let path = socket_path(ifname);
    let deadline = Instant::now() + timeout;
    let mut sock =
        UnixStream::connect(&path).with_context(|| format!("connecting to {}", path.display()))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut msg = String::with_capacity(body.len() + 8);
    msg.push_str("set=1\n");
    msg.push_str(body);
    msg.push('\n');
    sock.write_all(msg.as_bytes())?;
    let answer = read_answer(&mut sock, 4 * 1024, deadline, timeout)?;
    match errno_of(&answer) {
        Some("0") => Ok(()),
        Some(errno) => bail!(
            "wireguard-go refused the change (errno {errno}); what came before it is \
             applied, run apply again after fixing the cause"
        ),
        None => bail!("wireguard-go answered without an errno line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::diff::tests::peer as plan_peer;
    use crate::model::PrivateKey;

    /// A UAPI socket in a temporary directory, answered by `answer` on its own thread.
    fn fake_socket(answer: impl FnOnce(UnixStream) + Send + 'static) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("wg9.sock")).unwrap();
        thread::spawn(move || {
            if let Ok((conn, _)) = listener.accept() {
                answer(conn);
            }
        });
        dir
    }

    #[test]
    fn get_reads_the_whole_answer_and_parses_it() {
        let key = PrivateKey::generate().public_key();
        let hex_key = Key::new(*key.as_bytes()).to_lower_hex();
        let dump = format!(
            "listen_port=51820\npublic_key={hex_key}\nendpoint=203.0.113.10:51820\n\
             allowed_ip=10.0.12.0/24\nlast_handshake_time_sec=1700000000\n\
             last_handshake_time_nsec=0\npersistent_keepalive_interval=25\nerrno=0\n\n"
        );
        let dir = fake_socket(move |mut c| {
            let mut req = [0u8; 7];
            std::io::Read::read_exact(&mut c, &mut req).unwrap();
            assert_eq!(&req, b"get=1\n\n");
            // In two pieces, as a busy daemon may write it.
            let (a, b) = dump.split_at(40);
            c.write_all(a.as_bytes()).unwrap();
            thread::sleep(Duration::from_millis(20));
            c.write_all(b.as_bytes()).unwrap();
            thread::sleep(Duration::from_millis(500));
        });
        let host = uapi_get(&dir.path().join("wg9.sock"), Duration::from_secs(5)).unwrap();
        assert_eq!(host.listen_port, 51820);
        let peer = &host.peers[&Key::new(*key.as_bytes())];
        assert_eq!(peer.persistent_keepalive_interval, Some(25));
        assert_eq!(peer.allowed_ips.len(), 1);
        assert!(peer.last_handshake.is_some());
    }

    #[test]
    fn get_gives_up_at_the_deadline_on_a_daemon_that_never_finishes() {
        // Accepts, says a little, then nothing: the library's reader would spin forever.
        let dir = fake_socket(|mut c| {
            c.write_all(b"listen_port=51820\n").unwrap();
            thread::sleep(Duration::from_secs(3));
        });
        let start = Instant::now();
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_millis(300)).unwrap_err();
        let took = start.elapsed();
        assert!(
            format!("{err:#}").contains("did not answer within 300ms"),
            "{err:#}"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
        // A daemon that closes mid-answer, and one that refuses.
        let dir = fake_socket(|mut c| c.write_all(b"listen_port=1\n").unwrap());
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_secs(2)).unwrap_err();
        assert!(format!("{err:#}").contains("closed the socket"), "{err:#}");
        let dir = fake_socket(|mut c| {
            c.write_all(b"errno=5\n\n").unwrap();
            thread::sleep(Duration::from_millis(300));
        });
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_secs(2)).unwrap_err();
        assert!(format!("{err:#}").contains("errno 5"), "{err:#}");
    }

    #[test]
    fn get_gives_up_at_the_deadline_on_a_daemon_that_trickles_bytes_without_a_newline() {
        // A byte every 20 ms, no newline: each read returns data, none ends the answer.
        let dir = fake_socket(|mut c| {
            for _ in 0..150 {
                if c.write_all(b"x").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        let start = Instant::now();
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_millis(300)).unwrap_err();
        let took = start.elapsed();
        assert!(format!("{err:#}").contains("within 300ms"), "{err:#}");
        assert!(took < Duration::from_millis(1000), "took {took:?}");
    }

    #[test]
    fn get_stops_reading_a_daemon_that_never_ends_its_answer() {
        let dir = fake_socket(|mut c| {
            let line = [b'y'; 64 * 1024];
            // Bounded: 40 MiB at most, more than the cap.
            for _ in 0..640 {
                if c.write_all(&line).is_err() {
                    return;
                }
            }
        });
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_secs(20)).unwrap_err();
        assert!(format!("{err:#}").contains("more than"), "{err:#}");
    }

    #[test]
    fn an_answer_ends_at_its_blank_line_and_names_its_errno() {
        assert_eq!(errno_of(b"listen_port=1\nerrno=0\n\n"), Some("0"));
        assert_eq!(errno_of(b"errno=22\n\n"), Some("22"));
        assert_eq!(errno_of(b"listen_port=1\n\n"), None);
        let dir = fake_socket(|mut c| {
            c.write_all(b"listen_port=1\n\n").unwrap();
            thread::sleep(Duration::from_millis(300));
        });
        let err = uapi_get(&dir.path().join("wg9.sock"), Duration::from_secs(2)).unwrap_err();
        assert!(format!("{err:#}").contains("without an errno"), "{err:#}");
    }

    fn hex(k: &crate::model::PublicKey) -> String {
        Key::new(*k.as_bytes()).to_lower_hex()
    }

    #[test]
    fn set_body_puts_interface_keys_first_and_spells_out_peer_changes() {
        let key = PrivateKey::generate();
        let mut hub = plan_peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"]);
        hub.keepalive = None;
        let mut new = plan_peer("vps01", None, &["10.0.12.20/32"]);
        new.keepalive = None;
        let gone = PrivateKey::generate().public_key();
        let body = uapi_set(&[
            WgChange::AddPeer(new.clone()),
            WgChange::UpdatePeer {
                peer: hub.clone(),
                fields: vec![PeerField::PresharedKeyRemoved],
            },
            WgChange::RemovePeer {
                public_key: gone,
                node: None,
            },
            WgChange::SetListenPort {
                from: None,
                to: 51820,
            },
            WgChange::SetPrivateKey {
                key: key.clone(),
                from: None,
                to: key.public_key(),
            },
        ]);
        let private = Key::try_from(key.expose_base64().as_str()).unwrap();
        let expected = format!(
            "listen_port=51820\nprivate_key={}\n\
             public_key={}\nreplace_allowed_ips=true\nallowed_ip=10.0.12.20/32\n\
             public_key={}\npreshared_key={}\nendpoint=203.0.113.10:51820\n\
             persistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=10.0.12.0/24\n\
             public_key={}\nremove=true\n",
            private.to_lower_hex(),
            hex(&new.public_key),
            hex(&hub.public_key),
            "0".repeat(64),
            hex(&gone),
        );
        assert_eq!(body, expected);
    }
}

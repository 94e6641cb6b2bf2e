//! Health probes behind the [`Probe`] trait: ICMP echo over a datagram ICMP socket (no
//! CAP_NET_RAW: the kernel's "ping socket", allowed by `net.ipv4.ping_group_range`) and the
//! WireGuard handshake age of a peer read through wireguard-go's UAPI socket. [`FakeProbe`]
//! answers from a script for tests.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::failover::Signal;
use crate::model::{Ifname, PublicKey};

/// A peer without a handshake for this long has no valid session (WireGuard's
/// Reject-After-Time is 180 s; a live peer re-handshakes every 120 s while traffic flows).
pub const HANDSHAKE_STALE: Duration = Duration::from_secs(180);

/// One health signal, probed once per round.
#[async_trait::async_trait]
pub trait Probe: Send {
    fn name(&self) -> &'static str;
    /// Probes once; must return within `timeout` (plus scheduling).
    async fn probe(&mut self, timeout: Duration) -> Signal;
}

/// ICMP echo to `target`: `count` requests at once, good when any reply comes back in time.
pub struct IcmpProbe {
    name: &'static str,
    target: Ipv4Addr,
    count: u8,
    socket: UdpSocket,
    seq: u16,
}

impl IcmpProbe {
    pub fn new(name: &'static str, target: Ipv4Addr, count: u8) -> anyhow::Result<IcmpProbe> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).context(
            "opening an ICMP datagram socket (is this group inside net.ipv4.ping_group_range?)",
        )?;
        s.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(s))?;
        Ok(IcmpProbe {
            name,
            target,
            count: count.max(1),
            socket,
            seq: 0,
        })
    }

    /// Echo request with `seq`; the kernel fills in the identifier and checksum.
    fn request(seq: u16) -> [u8; 16] {
        let mut p = [0u8; 16];
        p[0] = 8; // echo request
        p[6..8].copy_from_slice(&seq.to_be_bytes());
        p[8..16].copy_from_slice(b"fabricHC");
        p
    }
}

#[async_trait::async_trait]
impl Probe for IcmpProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn probe(&mut self, timeout: Duration) -> Signal {
        let first = self.seq;
        let dest = SocketAddr::V4(SocketAddrV4::new(self.target, 0));
        let mut sent = 0;
        for _ in 0..self.count {
            self.seq = self.seq.wrapping_add(1);
            if self.socket.send_to(&Self::request(self.seq), dest).await.is_ok() {
                sent += 1;
            }
        }
        if sent == 0 {
            return Signal::Bad; // no route, unreachable link: as good as lost
        }
        let mine = |s: u16| s.wrapping_sub(first).wrapping_sub(1) < u16::from(self.count);
        let wait = async {
            let mut buf = [0u8; 64];
            loop {
                match self.socket.recv_from(&mut buf).await {
                    Ok((n, SocketAddr::V4(from)))
                        if n >= 8
                            && buf[0] == 0
                            && *from.ip() == self.target
                            && mine(u16::from_be_bytes([buf[6], buf[7]])) =>
                    {
                        return;
                    }
                    Ok(_) => continue, // a late reply of an earlier round
                    Err(_) => {
                        // ICMP errors (host unreachable) come back as socket errors; keep
                        // waiting for a real reply until the deadline.
                        tokio::task::yield_now().await;
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(()) => Signal::Good,
            Err(_) => Signal::Bad,
        }
    }
}

/// Handshake age of `peer` on `ifname`: bad after [`HANDSHAKE_STALE`], unknown before the
/// first handshake or when the peer is not configured.
pub struct HandshakeProbe {
    pub ifname: Ifname,
    pub peer: PublicKey,
}

#[async_trait::async_trait]
impl Probe for HandshakeProbe {
    fn name(&self) -> &'static str {
        "handshake"
    }

    async fn probe(&mut self, timeout: Duration) -> Signal {
        let (ifname, peer) = (self.ifname.clone(), self.peer);
        let read = tokio::task::spawn_blocking(move || {
            crate::apply::userspace::last_handshakes(&ifname, timeout)
        });
        let Ok(Ok(peers)) = read.await else {
            return Signal::Unknown;
        };
        let Some((_, Some(at))) = peers.into_iter().find(|(k, _)| *k == peer) else {
            return Signal::Unknown;
        };
        if at <= SystemTime::UNIX_EPOCH {
            return Signal::Unknown; // never
        }
        match SystemTime::now().duration_since(at) {
            Ok(age) if age > HANDSHAKE_STALE => Signal::Bad,
            _ => Signal::Good,
        }
    }
}

/// A probe that answers from a shared, changeable verdict (tests).
#[derive(Clone)]
pub struct FakeProbe {
    pub name: &'static str,
    pub verdict: Arc<Mutex<Signal>>,
}

impl FakeProbe {
    pub fn new(name: &'static str, verdict: Signal) -> FakeProbe {
        FakeProbe {
            name,
            verdict: Arc::new(Mutex::new(verdict)),
        }
    }

    pub fn set(&self, verdict: Signal) {
        *self.verdict.lock().expect("not poisoned") = verdict;
    }
}

#[async_trait::async_trait]
impl Probe for FakeProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn probe(&mut self, _timeout: Duration) -> Signal {
        *self.verdict.lock().expect("not poisoned")
    }
}

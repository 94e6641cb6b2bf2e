//! Health probes behind the [`Probe`] trait: ICMP echo over a datagram ICMP socket (no
//! CAP_NET_RAW: the kernel's "ping socket", allowed by `net.ipv4.ping_group_range`; a raw
//! socket when that range excludes us and we hold CAP_NET_RAW) and the
//! WireGuard handshake age of a peer read through wireguard-go's UAPI socket. [`FakeProbe`]
//! answers from a script for tests. The `tls` and `rest` service signals are probes too, run
//! on their own cadence: [`super::service_probe`].

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
    /// Why the last verdict is not Good, when the probe knows more than the signal says
    /// (shown by `fabric status`).
    fn detail(&self) -> Option<String> {
        None
    }
    /// The last probe's round-trip time, when it measures one and got an answer.
    fn rtt(&self) -> Option<Duration> {
        None
    }
}

/// ICMP echo to `target`: `count` requests at once, good when any reply comes back in time.
pub struct IcmpProbe {
    name: &'static str,
    target: Ipv4Addr,
    count: u8,
    socket: UdpSocket,
    seq: u16,
    /// Raw socket: we set the identifier and checksum, and replies carry the IP header.
    raw: Option<u16>,
    /// From the requests being sent to the first reply, in the last round.
    last_rtt: Option<Duration>,
}

impl IcmpProbe {
    pub fn new(name: &'static str, target: Ipv4Addr, count: u8) -> anyhow::Result<IcmpProbe> {
        let (s, raw) = match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
            Ok(s) => (s, None),
            Err(dgram) => {
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).with_context(
                    || format!(
                        "opening an ICMP socket: datagram refused ({dgram}: this group is outside \
                         net.ipv4.ping_group_range), raw refused (no CAP_NET_RAW)"
                    ),
                )?;
                let id = (std::process::id() as u16) ^ u16::from(target.octets()[3]) << 8;
                (s, Some(id))
            }
        };
        s.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(s))?;
        Ok(IcmpProbe {
            name,
            target,
            count: count.max(1),
            socket,
            seq: 0,
            raw,
            last_rtt: None,
        })
    }

    /// Echo request with `seq`. On a datagram socket the kernel fills in the identifier and
    /// checksum; on a raw socket we do.
    fn request(&self, seq: u16) -> [u8; 16] {
        let mut p = [0u8; 16];
        p[0] = 8; // echo request
        p[6..8].copy_from_slice(&seq.to_be_bytes());
        p[8..16].copy_from_slice(b"fabricHC");
        if let Some(id) = self.raw {
            p[4..6].copy_from_slice(&id.to_be_bytes());
            let sum = checksum(&p);
            p[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        p
    }

    /// The echo reply's (identifier, sequence) in a received packet, if it is one.
    fn reply(&self, buf: &[u8]) -> Option<(u16, u16)> {
        let icmp = match self.raw {
            None => buf,
            Some(_) => buf.get(usize::from(buf.first()? & 0x0f) * 4..)?,
        };
        if icmp.len() < 8 || icmp[0] != 0 {
            return None;
        }
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        if self.raw.is_some_and(|mine| mine != id) {
            return None;
        }
        Some((id, u16::from_be_bytes([icmp[6], icmp[7]])))
    }
}

#[async_trait::async_trait]
impl Probe for IcmpProbe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    async fn probe(&mut self, timeout: Duration) -> Signal {
        self.last_rtt = None;
        let started = std::time::Instant::now();
        let first = self.seq;
        let dest = SocketAddr::V4(SocketAddrV4::new(self.target, 0));
        let mut sent = 0;
        for _ in 0..self.count {
            self.seq = self.seq.wrapping_add(1);
            if self
                .socket
                .send_to(&self.request(self.seq), dest)
                .await
                .is_ok()
            {
                sent += 1;
            }
        }
        if sent == 0 {
            return Signal::Bad; // no route, unreachable link: as good as lost
        }
        let mine = |s: u16| s.wrapping_sub(first).wrapping_sub(1) < u16::from(self.count);
        let wait = async {
            let mut buf = [0u8; 128];
            loop {
                match self.socket.recv_from(&mut buf).await {
                    Ok((n, SocketAddr::V4(from))) if *from.ip() == self.target => {
                        if self.reply(&buf[..n]).is_some_and(|(_, seq)| mine(seq)) {
                            return;
                        }
                    }
                    Ok(_) => {} // a late reply of an earlier round, or another host
                    Err(_) => {
                        // ICMP errors (host unreachable) come back as socket errors; keep
                        // waiting for a real reply until the deadline.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(()) => {
                self.last_rtt = Some(started.elapsed());
                Signal::Good
            }
            Err(_) => Signal::Bad,
        }
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// How often the handshake age is actually read (it changes on a scale of minutes; reading
/// it every 100 ms round would cost a UAPI round trip and a thread each time).
pub const HANDSHAKE_READ_EVERY: Duration = Duration::from_secs(1);

/// Handshake age of `peer` on `ifname`: bad after [`HANDSHAKE_STALE`], unknown before the
/// first handshake or when the peer is not configured. Read at most every
/// [`HANDSHAKE_READ_EVERY`]; rounds in between reuse the last reading.
pub struct HandshakeProbe {
    pub ifname: Ifname,
    pub peer: PublicKey,
    pub last: Option<(tokio::time::Instant, Signal)>,
}

impl HandshakeProbe {
    pub fn new(ifname: Ifname, peer: PublicKey) -> HandshakeProbe {
        HandshakeProbe {
            ifname,
            peer,
            last: None,
        }
    }
}

#[async_trait::async_trait]
impl Probe for HandshakeProbe {
    fn name(&self) -> &'static str {
        "handshake"
    }

    async fn probe(&mut self, timeout: Duration) -> Signal {
        let now = tokio::time::Instant::now();
        if let Some((at, s)) = self.last
            && now.duration_since(at) < HANDSHAKE_READ_EVERY
        {
            return s;
        }
        let s = self.read(timeout).await;
        self.last = Some((now, s));
        s
    }
}

impl HandshakeProbe {
    async fn read(&self, timeout: Duration) -> Signal {
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

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2; the checksum is its complement.
        assert_eq!(
            super::checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[tokio::test]
    async fn icmp_probe_to_loopback_is_good() {
        use super::{IcmpProbe, Probe, Signal};
        use std::time::Duration;
        let Ok(mut p) = IcmpProbe::new("lo", "127.0.0.1".parse().unwrap(), 3) else {
            panic!("PRIVILEGED TEST CANNOT RUN: no ICMP socket (needs ping_group_range or root)");
        };
        assert_eq!(p.probe(Duration::from_millis(500)).await, Signal::Good);
        assert_eq!(p.probe(Duration::from_millis(500)).await, Signal::Good);
        let rtt = p.rtt().expect("a round trip was measured");
        assert!(rtt < Duration::from_millis(500), "{rtt:?}");
    }
}

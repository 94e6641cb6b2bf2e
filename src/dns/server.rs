//! Owns request dispatch shared by the UDP and TCP loops: the access rule, the fast path (parse,
//! prepared-answer lookup, response assembly — synchronous, no allocation) and the hand-off to
//! the hickory general path with its deadline; plus [`serve`], which runs the loops until the
//! shutdown token fires.
//!
//! # Access rule
//! A query is answered when its source address is in `DnsConfig::allowed_sources`. In addition,
//! on a socket bound to a loopback address, queries from that same address or from the host's
//! default loopback source (`127.0.0.1`, `::1`) are allowed — so `--listen 127.0.0.1:PORT` works
//! for local clients without configuration. Other loopback addresses (`127.0.0.2`, ...) are not
//! implied: they are sometimes used to stand for other hosts and must be listed like any other
//! source. A socket bound to an unspecified address (`0.0.0.0`, `::`) gets no exemption. Every
//! refused query gets REFUSED; nothing is ever resolved for it.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hickory_server::zone_handler::Catalog;
use ipnet::IpNet;
use tokio::{
    net::{TcpListener, UdpSocket},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    answers::Lookup,
    general::{self, General},
    handle::ZoneHandle,
    tcp, udp,
    wire::{self, FORMERR, Parse, REFUSED, SERVFAIL},
    zone::DnsConfig,
};

/// Queries on the general (hickory) path in flight at once; beyond it UDP gets SERVFAIL.
const MAX_GENERAL_IN_FLIGHT: usize = 512;

/// What the fast path decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `out` holds the response.
    Reply,
    /// Send nothing.
    Nothing,
    /// Needs the general path.
    General,
}

/// State shared by all sockets of one server.
pub(crate) struct Shared {
    zone: ZoneHandle,
    forward: Catalog,
    allowed: Vec<IpNet>,
    has_upstreams: bool,
    upstream_timeout: Duration,
    pub(crate) general_slots: Arc<Semaphore>,
}

impl Shared {
    pub(crate) fn new(zone: ZoneHandle, cfg: &DnsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            zone,
            forward: general::forward_catalog(cfg)?,
            allowed: cfg.allowed_sources.clone(),
            has_upstreams: !cfg.upstreams.is_empty(),
            upstream_timeout: cfg.upstream_timeout,
            general_slots: Arc::new(Semaphore::new(MAX_GENERAL_IN_FLIGHT)),
        })
    }

    /// The access rule (see the module documentation).
    pub(crate) fn allows(&self, src: IpAddr, local: IpAddr) -> bool {
        allowed(&self.allowed, src, local)
    }

    /// Answers what the fast path can. `tcp` lifts the UDP size limit.
    pub(crate) fn fast(
        &self,
        packet: &[u8],
        src: SocketAddr,
        local: IpAddr,
        tcp: bool,
        out: &mut Vec<u8>,
    ) -> Step {
        let parsed = wire::parse(packet);
        if !self.allows(src.ip(), local) {
            debug!(%src, "refusing query from a source that is not allowed");
            match &parsed {
                Parse::Ignore => return Step::Nothing,
                Parse::Query(query) => wire::write_error(
                    out,
                    packet,
                    REFUSED.into(),
                    Some(query),
                    query.edns.is_some(),
                ),
                _ => wire::write_error(out, packet, REFUSED.into(), None, false),
            }
            return Step::Reply;
        }
        let query = match parsed {
            Parse::Ignore => return Step::Nothing,
            Parse::General => return Step::General,
            Parse::Error { rcode, edns } => {
                wire::write_error(out, packet, rcode, None, edns);
                return Step::Reply;
            }
            Parse::Query(query) => query,
        };
        let zone = self.zone.load();
        match zone
            .table
            .lookup(query.lower_name(), query.label_offsets(), query.qtype)
        {
            Lookup::Zone(answer) => {
                let limit = if tcp {
                    usize::from(u16::MAX)
                } else {
                    query.udp_limit()
                };
                let origin_len = zone.table.origin_len();
                wire::write_answer(
                    out,
                    packet,
                    &query,
                    answer,
                    origin_len,
                    self.has_upstreams,
                    limit,
                );
                Step::Reply
            }
            // Forward only what asks for recursion (RD); the rest is REFUSED right here, as
            // hickory would, without its per-request log line.
            Lookup::OutOfZone if self.has_upstreams && packet[2] & 0x01 != 0 => Step::General,
            Lookup::OutOfZone => {
                wire::write_error(
                    out,
                    packet,
                    REFUSED.into(),
                    Some(&query),
                    query.edns.is_some(),
                );
                Step::Reply
            }
        }
    }

    /// Answers through hickory-server, bounded by the upstream timeout (SERVFAIL after it).
    pub(crate) async fn general(
        &self,
        packet: &[u8],
        src: SocketAddr,
        tcp: bool,
    ) -> Option<Vec<u8>> {
        let zone = self.zone.load_full();
        let answer = general::answer(&zone.catalog, &zone.origin, &self.forward, packet, src, tcp);
        let mut out = Vec::new();
        match tokio::time::timeout(self.upstream_timeout, answer).await {
            Ok(General::Reply(bytes)) => return Some(bytes),
            Ok(General::Ignore) => return None,
            Ok(General::FormErr) => {
                wire::write_error(&mut out, packet, FORMERR.into(), None, false)
            }
            Err(_) => {
                debug!(%src, "general path timed out; answering SERVFAIL");
                wire::write_error(&mut out, packet, SERVFAIL.into(), None, false);
            }
        }
        Some(out)
    }
}

fn allowed(nets: &[IpNet], src: IpAddr, local: IpAddr) -> bool {
    let src = src.to_canonical();
    let local = local.to_canonical();
    if nets.iter().any(|net| net.contains(&src)) {
        return true;
    }
    local.is_loopback()
        && (src == local
            || src == IpAddr::V4(Ipv4Addr::LOCALHOST)
            || src == IpAddr::V6(Ipv6Addr::LOCALHOST))
}

/// Whether a response can be sent to `src` at all (hickory's rule: no port 0, no unspecified
/// or broadcast source).
pub(crate) fn sane_source(src: SocketAddr) -> bool {
    src.port() != 0
        && !src.ip().is_unspecified()
        && !matches!(src.ip(), IpAddr::V4(v4) if v4.is_broadcast())
}

/// Logs an I/O problem at most once per 10 s at warn level, otherwise at debug level, so a
/// flood of bad packets cannot flood the log.
pub(crate) fn log_limited(what: &str, error: &dyn fmt::Display) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let next = NEXT.load(Ordering::Relaxed);
    if now >= next
        && NEXT
            .compare_exchange(next, now + 10, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn!("{what}: {error} (similar messages suppressed for 10 s)");
    } else {
        debug!("{what}: {error}");
    }
}

/// Serves `zone` on the given sockets until `shutdown` is cancelled.
///
/// The caller binds the sockets (see [`super::bind`]); each UDP socket gets a thread with its
/// own single-threaded Tokio runtime (one task), each TCP listener one accept task on the
/// caller's runtime, which also runs the general (hickory) path. Returns `Ok` after shutdown — all tasks, including queries in
/// flight, are stopped before it returns — or the first socket error that stops a loop.
pub async fn serve(
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    zone: ZoneHandle,
    cfg: DnsConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::new(zone.clone(), &cfg)?);
    // Stops the UDP threads, also if this future is dropped.
    let stop = CancellationToken::new();
    let _stop_on_drop = stop.clone().drop_guard();
    let mut udp_loops = JoinSet::new();
    for socket in udp {
        info!(addr = ?socket.local_addr().ok(), origin = %zone.origin(), "serving DNS over UDP");
        udp_loops.spawn(udp::spawn_thread(socket, shared.clone(), stop.clone())?);
    }
    let mut tcp_loops = JoinSet::new();
    for listener in tcp {
        info!(addr = ?listener.local_addr().ok(), origin = %zone.origin(), "serving DNS over TCP");
        tcp_loops.spawn(tcp::run(listener, shared.clone()));
    }
    let ended = |ended: Result<std::io::Result<()>, tokio::task::JoinError>| match ended {
        Ok(Ok(())) => Err(anyhow::anyhow!("a DNS socket loop ended unexpectedly")),
        Ok(Err(error)) => Err(anyhow::Error::new(error).context("DNS socket failed")),
        Err(error) => Err(anyhow::anyhow!("DNS socket task failed: {error}")),
    };
    let result = tokio::select! {
        _ = shutdown.cancelled() => Ok(()),
        Some(end) = udp_loops.join_next() => ended(end),
        Some(end) = tcp_loops.join_next() => ended(end),
    };
    stop.cancel();
    // Aborting a TCP loop drops its JoinSet of connections, aborting those too; the UDP
    // threads return at `stop` and drop their in-flight queries.
    tcp_loops.shutdown().await;
    while udp_loops.join_next().await.is_some() {}
    info!("DNS server stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn access_rule() {
        let nets: Vec<IpNet> = vec!["10.1.0.0/16".parse().unwrap()];
        assert!(allowed(&nets, ip("10.1.2.3"), ip("10.1.0.1")));
        assert!(!allowed(&nets, ip("10.2.0.1"), ip("10.1.0.1")));
        assert!(allowed(&nets, ip("::ffff:10.1.2.3"), ip("10.1.0.1")));
        // Loopback exemption only on loopback sockets, only for the default / same address.
        assert!(allowed(&nets, ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(allowed(&nets, ip("127.0.0.1"), ip("127.0.0.53")));
        assert!(allowed(&nets, ip("127.0.0.53"), ip("127.0.0.53")));
        assert!(!allowed(&nets, ip("127.0.0.2"), ip("127.0.0.1")));
        assert!(allowed(&nets, ip("::1"), ip("::1")));
        assert!(!allowed(&nets, ip("127.0.0.1"), ip("0.0.0.0")));
        assert!(!allowed(&nets, ip("127.0.0.1"), ip("10.1.0.1")));
        assert!(!allowed(&[], ip("10.1.2.3"), ip("127.0.0.1")));
        let lo: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(allowed(&lo, ip("127.0.0.2"), ip("127.0.0.1")));
    }
}

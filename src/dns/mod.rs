//! Split-DNS server for the fabric's domain (issue #4), built on hickory-server.
//!
//! Owns the public API: [`ZoneData`] and [`DnsConfig`] (pure data from the topology),
//! [`ZoneHandle`] (atomically reloadable zone), [`bind`] (SO_REUSEPORT UDP sockets and a TCP
//! listener per address) and [`serve`] (runs until a cancellation token fires).
//!
//! ```no_run
//! # async fn demo(zone: fabric::dns::ZoneData, cfg: fabric::dns::DnsConfig) -> anyhow::Result<()> {
//! use fabric::dns;
//! let handle = dns::ZoneHandle::new(zone)?;
//! let (udp, tcp) = dns::bind(&["127.0.0.1:15353".parse()?], 2)?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(dns::serve(udp, tcp, handle.clone(), cfg, shutdown.clone()));
//! // later: handle.replace(new_zone)?; shutdown.cancel();
//! # Ok(()) }
//! ```
//!
//! # Two paths
//! * **Fast path** (`answers`, `wire`): at zone-build time every in-zone answer (positive, CNAME
//!   chains, wildcard, NODATA, NXDOMAIN with the SOA in authority, negative TTL =
//!   min(SOA minimum, SOA TTL)) is encoded once; a UDP or TCP query for the zone costs a header
//!   and question parse, a hash lookup and a copy with the ID, RD/CD and question case patched.
//! * **General path** (`general`): everything else — names outside the zone (hickory's
//!   forwarder to `DnsConfig::upstreams`, SERVFAIL after `upstream_timeout`, REFUSED without
//!   upstreams), ANY, AXFR (refused), other classes, messages with extra records — goes through
//!   hickory-server's `Catalog` with the same zone loaded into its `InMemoryZoneHandler`.
//!
//! Threads: each UDP socket is served by one thread with its own single-threaded Tokio runtime
//! (on Linux reading and answering queries in batches with `recvmmsg`/`sendmmsg`); TCP and the
//! general path run on the caller's runtime.
//!
//! Access control (`server`): sources outside `allowed_sources` get REFUSED; see the loopback
//! rule there. UDP responses honour the client's EDNS payload size (512 without EDNS, at most
//! 1232) and set TC when the answer does not fit; TCP always carries the whole answer.
//! Per-packet logging is at debug level; socket errors are rate-limited. hickory-server itself
//! logs a few per-request events at info level on the general path (e.g. queries with the DO
//! bit); a daemon should filter `hickory_server=warn`.

mod answers;
mod encode;
mod general;
mod handle;
#[cfg(target_os = "linux")]
mod mmsg;
mod name;
mod server;
mod tcp;
mod udp;
mod wire;
mod zone;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_edge;

use std::{io, net::SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

pub use handle::ZoneHandle;
pub use name::NameError;
pub use server::serve;
pub use zone::{APEX_TTL, DnsConfig, RecordData, RecordValue, SoaData, ZoneData, ZoneError};

/// Whether `zone` would load into the server (names, CNAME rules, sizes), without building
/// the answers: what `fabric check` asks of every layout's zone.
pub fn check_zone(zone: &ZoneData) -> Result<(), ZoneError> {
    zone::ValidZone::new(zone).map(|_| ())
}

/// Attempts at finding a port free for both UDP and TCP when an address asks for port 0.
const PORT_ATTEMPTS: usize = 16;
/// Receive buffer asked for on each UDP socket (the kernel may cap it at `rmem_max`).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// Binds, for every address, `udp_sockets_per_addr` UDP sockets sharing the port through
/// SO_REUSEPORT (at least one) and one TCP listener on the same port. Port 0 picks one free
/// port for both protocols. Must be called inside a Tokio runtime.
pub fn bind(
    addrs: &[SocketAddr],
    udp_sockets_per_addr: usize,
) -> io::Result<(Vec<UdpSocket>, Vec<TcpListener>)> {
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for &addr in addrs {
        let mut attempt = 0;
        let (first, listener) = loop {
            attempt += 1;
            let first = udp_socket(addr)?;
            let port = first.local_addr()?.port();
            match tcp_listener(SocketAddr::new(addr.ip(), port)) {
                Ok(listener) => break (first, listener),
                Err(e) if addr.port() == 0 && attempt < PORT_ATTEMPTS => {
                    tracing::debug!(%addr, port, error = %e, "TCP port taken; trying another");
                }
                Err(e) => return Err(e),
            }
        };
        let bound = first.local_addr()?;
        udp.push(UdpSocket::from_std(first)?);
        for _ in 1..udp_sockets_per_addr.max(1) {
            udp.push(UdpSocket::from_std(udp_socket(bound)?)?);
        }
        tcp.push(listener);
    }
    Ok((udp, tcp))
}

fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    // Best effort: a larger buffer absorbs bursts; failing to get it is not an error.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

//! Owns the UDP receive loop: one task per socket (several SO_REUSEPORT sockets share a port and
//! the kernel spreads queries over them). On Linux the task reads and answers queued queries in
//! batches (`mmsg`: one `recvmmsg` + one `sendmmsg` per batch); elsewhere one datagram at a
//! time. Fast-path answers are assembled into a reused buffer and sent inline; queries for the
//! general path are spawned, bounded by a semaphore.

use std::{io, net::SocketAddr, sync::Arc};

use tokio::{net::UdpSocket, task::JoinSet};
use tracing::debug;
#[cfg(target_os = "linux")]
use {super::mmsg::Batch, std::os::fd::AsRawFd, tokio::io::Interest};

use super::{
    server::{Shared, Step, log_limited, sane_source},
    wire::{self, SERVFAIL},
};

/// Largest datagram read; longer ones are cut and then fail to parse (FORMERR).
#[cfg(not(target_os = "linux"))]
const RECV_BUF: usize = 65_535;

/// Serves one UDP socket until aborted, in batches. Returns only on an unrecoverable socket
/// error.
#[cfg(target_os = "linux")]
pub(crate) async fn run(socket: UdpSocket, shared: Arc<Shared>) -> io::Result<()> {
    let socket = Arc::new(socket);
    let local = socket.local_addr()?.ip();
    let fd = socket.as_raw_fd();
    let mut batch = Batch::new();
    // Responses of one batch back to back, and (offset, length, datagram index) of each.
    let mut arena = Vec::with_capacity(super::mmsg::BATCH * 512);
    let mut replies = Vec::with_capacity(super::mmsg::BATCH);
    // Dropping this (when the loop is aborted) aborts the general-path queries in flight.
    let mut in_flight = JoinSet::new();
    loop {
        socket.readable().await?;
        let count = match socket.try_io(Interest::READABLE, || batch.recv(fd)) {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) if unrecoverable(&error) => return Err(error),
            Err(error) => {
                log_limited("receiving DNS queries over UDP", &error);
                tokio::task::yield_now().await;
                continue;
            }
        };
        arena.clear();
        replies.clear();
        for index in 0..count {
            let (packet, src, cut) = batch.datagram(index);
            let Some(src) = src.filter(|src| sane_source(*src)) else {
                continue;
            };
            // A query longer than the buffer: what was read is not the query.
            let packet = if cut {
                &packet[..packet.len().min(11)]
            } else {
                packet
            };
            let start = arena.len();
            if answer(
                &socket,
                &shared,
                &mut in_flight,
                packet,
                src,
                local,
                &mut arena,
            ) {
                replies.push((start, arena.len() - start, index));
            } else {
                arena.truncate(start);
            }
        }
        let mut sent = 0;
        while sent < replies.len() {
            match socket.try_io(Interest::WRITABLE, || {
                batch.send(fd, &arena, &replies[sent..])
            }) {
                Ok(n) => sent += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    socket.writable().await?
                }
                Err(error) => {
                    // e.g. an unreachable destination: skip that response, keep the rest.
                    log_limited("sending DNS responses over UDP", &error);
                    sent += 1;
                }
            }
        }
        while in_flight.try_join_next().is_some() {}
    }
}

/// Runs the fast path for one datagram; returns whether `out` got a response to send now.
/// General-path queries are spawned (they send their own response later).
fn answer(
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared>,
    in_flight: &mut JoinSet<()>,
    packet: &[u8],
    src: SocketAddr,
    local: std::net::IpAddr,
    out: &mut Vec<u8>,
) -> bool {
    match shared.fast(packet, src, local, false, out) {
        Step::Reply => true,
        Step::Nothing => false,
        Step::General => match shared.general_slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let (socket, shared, packet) = (socket.clone(), shared.clone(), packet.to_vec());
                in_flight.spawn(async move {
                    if let Some(response) = shared.general(&packet, src, false).await {
                        send(&socket, &response, src).await;
                    }
                    drop(permit);
                });
                false
            }
            Err(_) => {
                debug!(%src, "general path saturated; answering SERVFAIL");
                wire::write_error(out, packet, SERVFAIL.into(), None, false);
                true
            }
        },
    }
}

/// Serves one UDP socket until aborted, one datagram per system call. Returns only on an
/// unrecoverable socket error.
#[cfg(not(target_os = "linux"))]
pub(crate) async fn run(socket: UdpSocket, shared: Arc<Shared>) -> io::Result<()> {
    let socket = Arc::new(socket);
    let local = socket.local_addr()?.ip();
    let mut buf = vec![0u8; RECV_BUF];
    let mut out = Vec::with_capacity(4096);
    // Dropping this (when the loop is aborted) aborts the general-path queries in flight.
    let mut in_flight = JoinSet::new();
    loop {
        let (len, src) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) if unrecoverable(&error) => return Err(error),
            Err(error) => {
                log_limited("receiving a DNS query over UDP", &error);
                tokio::task::yield_now().await;
                continue;
            }
        };
        if !sane_source(src) {
            continue;
        }
        let packet = &buf[..len];
        out.clear();
        match shared.fast(packet, src, local, false, &mut out) {
            Step::Reply => send(&socket, &out, src).await,
            Step::Nothing => {}
            Step::General => match shared.general_slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (socket, shared, packet) =
                        (socket.clone(), shared.clone(), packet.to_vec());
                    in_flight.spawn(async move {
                        if let Some(response) = shared.general(&packet, src, false).await {
                            send(&socket, &response, src).await;
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    debug!(%src, "general path saturated; answering SERVFAIL");
                    wire::write_error(&mut out, packet, SERVFAIL.into(), None, false);
                    send(&socket, &out, src).await;
                }
            },
        }
        while in_flight.try_join_next().is_some() {}
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], dst: SocketAddr) {
    let result = match socket.try_send_to(bytes, dst) {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => socket.send_to(bytes, dst).await,
        other => other,
    };
    if let Err(error) = result {
        log_limited("sending a DNS response over UDP", &error);
    }
}

fn unrecoverable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotConnected | io::ErrorKind::ConnectionAborted
    )
}

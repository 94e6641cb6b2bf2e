//! Owns the UDP receive loop: one task per socket, each on its own thread with a single-threaded
//! Tokio runtime (several SO_REUSEPORT sockets share a port and the kernel spreads queries over
//! them, like unbound's threads). On Linux the task reads and answers queued queries in batches
//! (`mmsg`: one `recvmmsg` + one `sendmmsg` per batch); elsewhere one datagram at a time.
//! Fast-path answers are assembled into a reused buffer and sent inline; queries for the general
//! path are spawned on the caller's runtime, bounded by a semaphore.

use std::{io, net::SocketAddr, sync::Arc};

use tokio::{net::UdpSocket, runtime::Handle, task::JoinSet};
use tokio_util::sync::CancellationToken;
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

/// Runs [`run`] for `socket` on a dedicated thread with its own single-threaded runtime (its own
/// epoll instance), like one unbound thread per socket, so sockets never wait for each other or
/// for a shared I/O driver. General-path queries still run on the caller's runtime. The returned
/// future resolves when the thread has finished; it finishes promptly once `stop` is cancelled.
pub(crate) fn spawn_thread(
    socket: UdpSocket,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> io::Result<impl Future<Output = io::Result<()>> + Send + 'static> {
    let socket = socket.into_std()?;
    let general = Handle::current();
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("fabric-dns-udp".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let result = runtime.and_then(|runtime| {
                runtime.block_on(async {
                    let socket = UdpSocket::from_std(socket)?;
                    tokio::select! {
                        result = run(socket, shared, general) => result,
                        () = stop.cancelled() => Ok(()),
                    }
                })
            });
            let _ = done.send(result);
        })?;
    Ok(async move {
        finished
            .await
            .unwrap_or_else(|_| Err(io::Error::other("DNS UDP thread panicked")))
    })
}

/// Serves one UDP socket until aborted, in batches. Returns only on an unrecoverable socket
/// error.
#[cfg(target_os = "linux")]
pub(crate) async fn run(socket: UdpSocket, shared: Arc<Shared>, general: Handle) -> io::Result<()> {
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
            // Queries longer than the 4 KiB buffer are dropped (no real query is that long).
            let Some(src) = src.filter(|src| sane_source(*src) && !cut) else {
                continue;
            };
            let start = arena.len();
            if answer(
                &socket,
                &shared,
                &general,
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
/// General-path queries are spawned on `general` (they send their own response later).
#[allow(clippy::too_many_arguments)]
fn answer(
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared>,
    general: &Handle,
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
                let task = async move {
                    if let Some(response) = shared.general(&packet, src, false).await {
                        send(&socket, &response, src).await;
                    }
                    drop(permit);
                };
                in_flight.spawn_on(task, general);
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
pub(crate) async fn run(socket: UdpSocket, shared: Arc<Shared>, general: Handle) -> io::Result<()> {
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
        if answer(
            &socket,
            &shared,
            &general,
            &mut in_flight,
            packet,
            src,
            local,
            &mut out,
        ) {
            send(&socket, &out, src).await;
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

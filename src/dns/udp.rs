//! Owns the UDP receive loop: one task per socket (several SO_REUSEPORT sockets share a port and
//! the kernel spreads queries over them). Fast-path answers are assembled into a reused buffer
//! and sent inline; queries for the general path are spawned, bounded by a semaphore.

use std::{io, net::SocketAddr, sync::Arc};

use tokio::{net::UdpSocket, task::JoinSet};
use tracing::debug;

use super::{
    server::{Shared, Step, log_limited, sane_source},
    wire::{self, SERVFAIL},
};

/// Largest datagram read; longer ones are cut and then fail to parse (FORMERR).
const RECV_BUF: usize = 65_535;

/// Serves one UDP socket until aborted. Returns only on an unrecoverable socket error.
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

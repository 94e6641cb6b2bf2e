//! Owns DNS over TCP (RFC 7766): an accept loop per listener with a cap on open connections,
//! and per connection sequential length-prefixed queries with an idle timeout on every read
//! and write, so silent or slow clients cannot pin resources. Both paths answer over TCP:
//! prepared answers are never truncated here.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
    time::timeout,
};
use tracing::debug;

use super::server::{Shared, Step, log_limited, sane_source};

/// Open TCP connections per listener; further connections are closed at once.
const MAX_CONNECTIONS: usize = 256;
/// Idle time allowed before a query (and for each read/write).
const IDLE: Duration = Duration::from_secs(10);

/// Accepts connections until aborted. Returns only on an unrecoverable listener error.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    let local = listener.local_addr()?.ip();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Dropping this (when the loop is aborted) closes every connection.
    let mut connections = JoinSet::new();
    loop {
        let (stream, src) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                log_limited("accepting a DNS TCP connection", &error);
                // e.g. out of file descriptors: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(%src, "too many DNS TCP connections; closing");
            continue;
        };
        if !sane_source(src) {
            continue;
        }
        let shared = shared.clone();
        connections.spawn(async move {
            if let Err(error) = connection(stream, src, local, &shared).await {
                debug!(%src, %error, "DNS TCP connection ended");
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn connection(
    mut stream: TcpStream,
    src: SocketAddr,
    local: IpAddr,
    shared: &Shared,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = Vec::with_capacity(1024);
    loop {
        let mut len = [0u8; 2];
        match timeout(IDLE, stream.read_exact(&mut len)).await {
            Err(_) => return Ok(()), // idle
            Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(result) => result?,
        };
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        timeout(IDLE, stream.read_exact(&mut packet)).await??;
        out.clear();
        out.extend_from_slice(&[0, 0]); // length prefix, filled in below
        match shared.fast(&packet, src, local, true, &mut out) {
            Step::Reply => {}
            Step::Nothing => continue,
            Step::General => match shared.general(&packet, src, true).await {
                Some(response) => out.extend_from_slice(&response),
                None => continue,
            },
        }
        let Ok(len) = u16::try_from(out.len() - 2) else {
            return Err(io::Error::other("response longer than 65535 bytes"));
        };
        out[..2].copy_from_slice(&len.to_be_bytes());
        timeout(IDLE, stream.write_all(&out)).await??;
    }
}

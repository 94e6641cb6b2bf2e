//! The local control socket (unix stream, mode 0600): one JSON request line, one JSON response
//! line. `fabric failover|failback|status` are its clients.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    Status,
    /// The Prometheus text of `fabric serve --metrics` ([`super::metrics`]).
    Metrics,
    Failover {
        to: String,
        dry_run: bool,
    },
    Failback {
        dry_run: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub text: String,
}

/// A request and where its answer goes.
pub type Call = (Request, oneshot::Sender<Response>);

/// Binds the socket (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing stale {}", path.display()));
        }
        _ => {}
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accepts connections until `shutdown`; each request goes to `calls`.
pub async fn serve(listener: UnixListener, calls: mpsc::Sender<Call>, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, calls).await {
                tracing::warn!(error = %format!("{e:#}"), "control connection failed");
            }
        });
    }
}

async fn connection(stream: UnixStream, calls: mpsc::Sender<Call>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Err(e) => Response {
            ok: false,
            text: format!("bad request: {e}"),
        },
        Ok(req) => {
            let (tx, rx) = oneshot::channel();
            calls.send((req, tx)).await.context("daemon stopping")?;
            rx.await.context("daemon stopping")?
        }
    };
    let mut out = serde_json::to_string(&response)?;
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    Ok(())
}

/// The client side: sends `req`, returns the daemon's answer (blocking, bounded).
pub fn call(path: &Path, req: &Request, timeout: std::time::Duration) -> anyhow::Result<Response> {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to {} (is `fabric serve` running?)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut answer = String::new();
    std::io::BufReader::new(s)
        .read_line(&mut answer)
        .context("reading the daemon's answer")?;
    serde_json::from_str(&answer).with_context(|| format!("bad answer from daemon: {answer:?}"))
}

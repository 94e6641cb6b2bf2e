//! The controller endpoint for agents: HTTPS (rustls), one long-poll route.
//!
//! ```text
//! GET /v1/layout?after=EPOCH
//! Authorization: Bearer <the node's token>
//!
//! 200 {"epoch": 7, "layout": "chr02"}   as soon as the published epoch is > EPOCH
//! 204                                   after the long-poll window (~25 s) without one
//! 401 {"error": 401, "message": "Unauthorized"}   unknown or missing token
//! 400 / 404 / 405                        bad query, unknown path, other method
//! 503                                    the controller is shutting down
//! ```
//!
//! Only what the controller published is ever sent, and only when it is newer than the
//! agent's own epoch, so an agent can never be handed an older layout by this route. Tokens
//! are compared in constant time against every known token (no early exit), and never
//! logged. The server takes a bound listener and a shutdown token from its caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::http_util::{self as http, Body};

pub use crate::failover::Published;

/// How long a request waits for a newer epoch before answering 204.
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// The route's path.
pub const LAYOUT_PATH: &str = "/v1/layout";

/// Per-node bearer tokens; `Debug` shows node names only.
struct Tokens(Vec<(Vec<u8>, String)>);

impl Tokens {
    /// The node a presented token belongs to. Every known token is compared, in constant
    /// time, whatever matches first.
    fn node(&self, presented: &[u8]) -> Option<&str> {
        let mut found = None;
        for (token, node) in &self.0 {
            let equal: bool = token.as_slice().ct_eq(presented).into();
            found = if equal { Some(node.as_str()) } else { found };
        }
        found
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(_, n)| n))
            .finish()
    }
}

#[derive(Debug)]
struct State {
    tokens: Tokens,
    rx: watch::Receiver<Published>,
    long_poll: Duration,
    shutdown: CancellationToken,
}

/// Serves the agent API on `listener` until `shutdown` is cancelled; pending long-polls are
/// answered 503 at shutdown and the function returns once every connection has closed.
/// `tokens` maps token → node name.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    tokens: HashMap<String, String>,
    rx: watch::Receiver<Published>,
    shutdown: CancellationToken,
) {
    serve_with(listener, tls, tokens, rx, shutdown, LONG_POLL).await
}

/// [`serve`] with a chosen long-poll window (tests use a short one).
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    tokens: HashMap<String, String>,
    rx: watch::Receiver<Published>,
    shutdown: CancellationToken,
    long_poll: Duration,
) {
    let state = Arc::new(State {
        tokens: Tokens(
            tokens
                .into_iter()
                .filter(|(t, _)| !t.is_empty())
                .map(|(t, n)| (t.into_bytes(), n))
                .collect(),
        ),
        rx,
        long_poll,
        shutdown: shutdown.clone(),
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, nodes = ?state.tokens, "agent API listening");
    }
    http::serve_tls(listener, tls, shutdown, move |req| {
        let state = state.clone();
        async move { handle(&state, req).await }
    })
    .await
}

fn error(status: StatusCode, detail: Option<&str>) -> Response<Body> {
    let mut body = json!({
        "error": status.as_u16(),
        "message": status.canonical_reason().unwrap_or(""),
    });
    if let Some(d) = detail {
        body["detail"] = json!(d);
    }
    http::json(status, &body)
}

/// `after=N` from the query string (0 when absent).
fn after(query: Option<&str>) -> Result<u64, String> {
    let mut after = 0;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "after" {
            after = v
                .parse()
                .map_err(|_| format!("after={v:?} is not an epoch (a non-negative integer)"))?;
        }
    }
    Ok(after)
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() != LAYOUT_PATH {
        return error(StatusCode::NOT_FOUND, None);
    }
    if req.method() != Method::GET {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, None);
        r.headers_mut()
            .insert("allow", hyper::header::HeaderValue::from_static("GET"));
        return r;
    }
    let presented = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    let Some(node) = state.tokens.node(presented) else {
        tracing::warn!("agent API: request with an unknown or missing token");
        let mut r = error(StatusCode::UNAUTHORIZED, None);
        r.headers_mut().insert(
            "www-authenticate",
            hyper::header::HeaderValue::from_static("Bearer realm=\"fabric\""),
        );
        return r;
    };
    let after = match after(req.uri().query()) {
        Ok(a) => a,
        Err(detail) => return error(StatusCode::BAD_REQUEST, Some(&detail)),
    };
    let mut rx = state.rx.clone();
    let newer = tokio::select! {
        r = tokio::time::timeout(state.long_poll, rx.wait_for(|p| p.epoch > after)) => r,
        _ = state.shutdown.cancelled() => return error(StatusCode::SERVICE_UNAVAILABLE, Some("shutting down")),
    };
    match newer {
        Ok(Ok(p)) => {
            let p = p.clone();
            tracing::info!(node, after, epoch = p.epoch, layout = %p.layout, "agent API: layout delivered");
            http::json(StatusCode::OK, &json!(p))
        }
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, Some("no publisher")),
        Err(_) => {
            tracing::debug!(node, after, "agent API: nothing newer");
            http::empty(StatusCode::NO_CONTENT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lookup_finds_exactly_the_matching_node() {
        let t = Tokens(vec![
            (b"aaaa".to_vec(), "z640".into()),
            (b"bbbb".to_vec(), "nuc".into()),
        ]);
        assert_eq!(t.node(b"bbbb"), Some("nuc"));
        assert_eq!(t.node(b"aaaa"), Some("z640"));
        assert_eq!(t.node(b"aaa"), None);
        assert_eq!(t.node(b""), None);
        assert_eq!(format!("{t:?}"), "[\"z640\", \"nuc\"]");
    }

    #[test]
    fn after_is_parsed_from_the_query() {
        assert_eq!(after(None), Ok(0));
        assert_eq!(after(Some("after=7")), Ok(7));
        assert_eq!(after(Some("x=1&after=3")), Ok(3));
        assert!(after(Some("after=-1")).is_err());
    }
}

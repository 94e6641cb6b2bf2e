//! The agent's side of the agent API: one long-poll request over HTTPS with the controller's
//! certificate as the only trust anchor and the node's bearer token.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::control::Published;
use crate::control::agent_api::{LAYOUT_PATH, LONG_POLL};
use crate::model::Secret;

/// TCP connect (and so the first sign of an unreachable controller) must succeed this fast.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client for one controller.
pub struct ControllerClient {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Secret,
}

impl ControllerClient {
    /// `base` like `https://198.51.100.20:8444`; `pinned_pem` the controller's certificate.
    /// The request deadline is the server's long-poll window plus a margin.
    pub fn new(base: &str, pinned_pem: &[u8], token: Secret) -> anyhow::Result<Self> {
        Self::with_long_poll(base, pinned_pem, token, LONG_POLL)
    }

    pub fn with_long_poll(
        base: &str,
        pinned_pem: &[u8],
        token: Secret,
        long_poll: Duration,
    ) -> anyhow::Result<Self> {
        let base: reqwest::Url = base
            .parse()
            .with_context(|| format!("controller URL {base:?}"))?;
        if base.scheme() != "https" {
            bail!("controller URL {base} must be https://");
        }
        let url = base.join(LAYOUT_PATH)?;
        let http = crate::tls::pinned_http_client(
            pinned_pem,
            CONNECT_TIMEOUT,
            long_poll + Duration::from_secs(10),
        )?;
        Ok(ControllerClient { http, url, token })
    }

    /// One long-poll: `Some` when the controller has an epoch newer than `after`, `None`
    /// when the window passed without one.
    pub async fn poll(&self, after: u64) -> anyhow::Result<Option<Published>> {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("after", &after.to_string());
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))
            .with_context(|| format!("polling {}", self.url))?;
        match resp.status() {
            reqwest::StatusCode::OK => {
                let p: Published = resp.json().await.context("reading the published layout")?;
                Ok(Some(p))
            }
            reqwest::StatusCode::NO_CONTENT => Ok(None),
            s => {
                let body = resp.text().await.unwrap_or_default();
                bail!("controller answered {s}: {}", body.trim())
            }
        }
    }
}

/// reqwest's error with its sources (the TLS reason sits deep in the chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

//! The RouterOS REST client: reqwest over rustls trusting only the pinned certificate (the
//! router's self-signed certificate or the fabric CA), Basic auth, short timeouts, typed
//! errors that keep RouterOS' `{"error","message","detail"}`.

use std::time::Duration;

use super::{FABRIC_COMMENT_PREFIX, Menu, Record, record_from_json};
use crate::model::Secret;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole-request deadline (RouterOS' own per-request timeout is much longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// RouterOS answered with an error status and (usually) its JSON error body.
    #[error("RouterOS answered {status} {message}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Api {
        status: u16,
        message: String,
        detail: Option<String>,
    },
    /// No answer: connection, TLS (certificate not the pinned one) or timeout.
    #[error("RouterOS REST request failed: {0}")]
    Transport(String),
    /// An answer that is not what the API documents.
    #[error("RouterOS REST answer unreadable: {0}")]
    Decode(String),
}

impl RestError {
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client for one router.
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    user: String,
    password: Secret,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("user", &self.user)
            .field("password", &self.password)
            .finish()
    }
}

impl RestClient {
    /// `base` like `https://203.0.113.10:8443` (the `/rest` prefix is added).
    pub fn new(
        base: &str,
        user: &str,
        password: Secret,
        pinned_pem: &[u8],
    ) -> anyhow::Result<Self> {
        Self::with_timeouts(
            base,
            user,
            password,
            pinned_pem,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
        )
    }

    pub fn with_timeouts(
        base: &str,
        user: &str,
        password: Secret,
        pinned_pem: &[u8],
        connect: Duration,
        request: Duration,
    ) -> anyhow::Result<Self> {
        let url: reqwest::Url = base.parse()?;
        if url.scheme() != "https" {
            anyhow::bail!("RouterOS REST URL {base} must be https://");
        }
        Ok(RestClient {
            http: crate::tls::pinned_http_client(pinned_pem, connect, request)?,
            base: format!("{}/rest/", base.trim_end_matches('/')),
            user: user.to_string(),
            password,
        })
    }

    fn url(&self, menu: Menu, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}{}/{id}", self.base, menu.path()),
            None => format!("{}{}", self.base, menu.path()),
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<serde_json::Value>, RestError> {
        let resp = req
            .basic_auth(&self.user, Some(self.password.expose()))
            .send()
            .await
            .map_err(|e| RestError::Transport(crate::agent::client::error_chain(&e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| RestError::Transport(crate::agent::client::error_chain(&e)))?;
        if !status.is_success() {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(RestError::Api {
                status: status.as_u16(),
                message: body["message"]
                    .as_str()
                    .unwrap_or(status.canonical_reason().unwrap_or(""))
                    .to_string(),
                detail: body["detail"].as_str().map(str::to_string),
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| RestError::Decode(e.to_string()))
    }

    fn one(v: Option<serde_json::Value>) -> Result<Record, RestError> {
        let v = v.ok_or_else(|| RestError::Decode("empty answer".into()))?;
        // Some versions wrap a single object in an array (`/system/resource` in old docs).
        let v = match v {
            serde_json::Value::Array(mut a) if a.len() == 1 => a.remove(0),
            v => v,
        };
        record_from_json(&v).map_err(RestError::Decode)
    }

    /// `GET /rest/<menu>?k=v…`: every record (RouterOS filters by equality).
    pub async fn list(
        &self,
        menu: Menu,
        filter: &[(&str, &str)],
    ) -> Result<Vec<Record>, RestError> {
        let mut url: reqwest::Url = self
            .url(menu, None)
            .parse()
            .map_err(|e| RestError::Transport(format!("bad URL: {e}")))?;
        if !filter.is_empty() {
            url.query_pairs_mut().extend_pairs(filter);
        }
        let v = self.send(self.http.get(url)).await?;
        match v {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| record_from_json(i).map_err(RestError::Decode))
                .collect(),
            Some(other) => Ok(vec![record_from_json(&other).map_err(RestError::Decode)?]),
            None => Ok(Vec::new()),
        }
    }

    /// `GET /rest/<menu>/<id>`.
    pub async fn get(&self, menu: Menu, id: &str) -> Result<Record, RestError> {
        Self::one(self.send(self.http.get(self.url(menu, Some(id)))).await?)
    }

    /// `PUT /rest/<menu>` (add): the created record, with its `.id`.
    pub async fn add(&self, menu: Menu, record: &Record) -> Result<Record, RestError> {
        Self::one(
            self.send(self.http.put(self.url(menu, None)).json(record))
                .await?,
        )
    }

    /// `PATCH /rest/<menu>/<id>` (set): the updated record.
    pub async fn set(&self, menu: Menu, id: &str, changes: &Record) -> Result<Record, RestError> {
        Self::one(
            self.send(self.http.patch(self.url(menu, Some(id))).json(changes))
                .await?,
        )
    }

    /// `DELETE /rest/<menu>/<id>` (remove).
    pub async fn remove(&self, menu: Menu, id: &str) -> Result<(), RestError> {
        self.send(self.http.delete(self.url(menu, Some(id))))
            .await?;
        Ok(())
    }

    /// `GET /rest/system/resource`: uptime, version, cpu-load… (the health probe).
    pub async fn system_resource(&self) -> Result<Record, RestError> {
        Self::one(
            self.send(self.http.get(self.url(Menu::SystemResource, None)))
                .await?,
        )
    }

    /// Fencing: `disabled=true` on every WireGuard peer whose comment starts with `fabric:`
    /// and is not disabled yet. Returns the `.id`s it disabled. Peers fabric does not own are
    /// never touched.
    pub async fn disable_fabric_peers(&self) -> Result<Vec<String>, RestError> {
        self.set_fabric_peers(true).await
    }

    /// Undoes [`disable_fabric_peers`](Self::disable_fabric_peers) (failback).
    pub async fn enable_fabric_peers(&self) -> Result<Vec<String>, RestError> {
        self.set_fabric_peers(false).await
    }

    /// Fencing the SSTP side: `disabled=true` on every fabric-owned `/ppp/secret` (comment
    /// `fabric:`), then ends the SSTP sessions of those users (a disabled secret does not end
    /// a session that is up). Returns the secrets disabled and the sessions ended; other PPP
    /// users are never touched.
    pub async fn refuse_fabric_ppp(&self) -> Result<(Vec<String>, Vec<String>), RestError> {
        let mut disabled = Vec::new();
        let mut users = std::collections::BTreeSet::new();
        for secret in self.list(Menu::PppSecret, &[]).await? {
            let owned = secret
                .get("comment")
                .is_some_and(|c| c.starts_with(FABRIC_COMMENT_PREFIX));
            let (Some(id), Some(name)) = (secret.get(".id"), secret.get("name")) else {
                continue;
            };
            if !owned {
                continue;
            }
            users.insert(name.clone());
            if secret.get("disabled").map_or("false", String::as_str) != "true" {
                let change = Record::from([("disabled".to_string(), "true".to_string())]);
                self.set(Menu::PppSecret, id, &change).await?;
                disabled.push(id.clone());
            }
        }
        let ended = self.end_sstp_sessions(&users).await?;
        Ok((disabled, ended))
    }

    /// Ends the SSTP sessions (`/ppp/active`) of `users`; returns their `.id`s. A session
    /// that ended meanwhile is skipped.
    pub async fn end_sstp_sessions(
        &self,
        users: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, RestError> {
        let mut ended = Vec::new();
        for session in self.list(Menu::PppActive, &[]).await? {
            let ours = session.get("name").is_some_and(|n| users.contains(n))
                && session.get("service").is_none_or(|s| s == "sstp");
            if let (true, Some(id)) = (ours, session.get(".id")) {
                match self.remove(Menu::PppActive, id).await {
                    Ok(()) => ended.push(id.clone()),
                    // Ended meanwhile (the client dropped it, or the hub did).
                    Err(RestError::Api { status: 404, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(ended)
    }

    async fn set_fabric_peers(&self, disabled: bool) -> Result<Vec<String>, RestError> {
        let want = disabled.to_string();
        let mut done = Vec::new();
        for peer in self.list(Menu::WireguardPeers, &[]).await? {
            let owned = peer
                .get("comment")
                .is_some_and(|c| c.starts_with(FABRIC_COMMENT_PREFIX));
            let current = peer.get("disabled").map_or("false", String::as_str);
            let Some(id) = peer.get(".id") else { continue };
            if owned && current != want {
                let change = Record::from([("disabled".to_string(), want.clone())]);
                self.set(Menu::WireguardPeers, id, &change).await?;
                done.push(id.clone());
            }
        }
        Ok(done)
    }
}

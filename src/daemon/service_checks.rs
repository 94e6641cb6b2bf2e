//! The real service [`Check`]s on the watched hub, wrapped by
//! [`ServiceProbe`](super::service_probe::ServiceProbe):
//! * [`TlsCheck`]: a TLS handshake on `<endpoint>:<sstp.port>` verifying that the certificate
//!   chains to the fabric CA and names `sstp.hostname` (the SSTP server's TLS, nothing SSTP
//!   beyond it). The rustls configuration is built once per target set.
//! * [`RestCheck`]: `GET /rest/system/resource` with the pinned certificate and the fencer's
//!   credentials; a 200 whose body has an `uptime` is up. The reqwest client (and its
//!   connection pool) lives as long as the target set.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::service_probe::{Check, Outcome};
use crate::routeros_rest::client::{RestClient, RestError};

pub struct TlsCheck {
    pub addr: SocketAddr,
    pub hostname: ServerName<'static>,
    pub connector: tokio_rustls::TlsConnector,
}

impl TlsCheck {
    /// `ca_pem`: the fabric CA certificate (the only trust anchor).
    pub fn new(addr: SocketAddr, hostname: &str, ca_pem: &[u8]) -> anyhow::Result<TlsCheck> {
        let config = crate::tls::pinned_client_config(ca_pem)?;
        Ok(TlsCheck {
            addr,
            hostname: ServerName::try_from(hostname.to_string())?,
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

#[async_trait::async_trait]
impl Check for TlsCheck {
    async fn check(&self) -> Outcome {
        let tcp = match TcpStream::connect(self.addr).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Outcome::Refused(format!("{}: connection refused", self.addr));
            }
            Err(e) => return Outcome::Silent(format!("{}: {e}", self.addr)),
        };
        let _ = tcp.set_nodelay(true);
        match self.connector.connect(self.hostname.clone(), tcp).await {
            Ok(mut tls) => {
                let _ = tls.shutdown().await; // close_notify; the outcome is already known
                Outcome::Up
            }
            Err(e) => tls_error(&e),
        }
    }
}

/// A failed handshake. A configuration problem (never Bad): a certificate the fabric CA did
/// not sign (or expired, or for another name), or a TLS stack that is alive but will not talk
/// to rustls (an alert such as `handshake_failure`, no common version or cipher suite) — a
/// real RouterOS offering only what rustls refuses must not fail over again and again.
/// Refused: the connection reset or closed mid-handshake, or garbage instead of TLS.
pub fn tls_error(e: &std::io::Error) -> Outcome {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            Outcome::Misconfigured(format!("server certificate: {c}"))
        }
        Some(rustls::Error::AlertReceived(a)) => {
            Outcome::Misconfigured(format!("the server's TLS refused us with alert {a:?}"))
        }
        Some(rustls::Error::PeerIncompatible(p)) => {
            Outcome::Misconfigured(format!("TLS incompatible with rustls: {p:?}"))
        }
        Some(other) => Outcome::Refused(format!("TLS: {other}")),
        None => Outcome::Refused(format!("TLS handshake: {e}")),
    }
}

pub struct RestCheck {
    pub client: RestClient,
}

#[async_trait::async_trait]
impl Check for RestCheck {
    async fn check(&self) -> Outcome {
        rest_outcome(self.client.system_resource().await)
    }
}

/// The outcome of a `/rest/system/resource` answer.
pub fn rest_outcome(r: Result<crate::routeros_rest::Record, RestError>) -> Outcome {
    match r {
        Ok(rec) if rec.contains_key("uptime") => Outcome::Up,
        Ok(_) => Outcome::Refused("system/resource answer without uptime".into()),
        Err(RestError::Api { status, .. }) if status == 401 || status == 403 => {
            Outcome::Misconfigured(format!(
                "REST login refused ({status}): check <node>.password"
            ))
        }
        Err(e @ (RestError::Api { .. } | RestError::Decode(_))) => Outcome::Refused(e.to_string()),
        Err(RestError::Transport(t)) => {
            let l = t.to_ascii_lowercase();
            if l.contains("certificate") || l.contains("unknownissuer") {
                Outcome::Misconfigured(format!("REST TLS: {t}"))
            } else if l.contains("refused") {
                Outcome::Refused(t)
            } else {
                Outcome::Silent(t)
            }
        }
    }
}

#[cfg(test)]
#[path = "service_checks_tests.rs"]
mod tests;

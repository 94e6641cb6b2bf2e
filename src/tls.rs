//! TLS helpers shared by the agent channel and the RouterOS REST client/stand-in: rustls with
//! the `ring` provider (no process-wide default provider is installed or needed), a
//! self-signed certificate generator (rcgen) and a client configuration whose **only** trust
//! anchors are the pinned certificates given to it (no platform or built-in roots).

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::model::Secret;

/// The crypto provider used everywhere in fabric (ring).
///
/// rustls 0.23.48 deprecates ring's provider because it has no post-quantum key exchange.
/// fabric keeps it for now: its TLS peers are its own agents and RouterOS's REST service, both
/// reached through pinned certificates, and aws-lc-rs (the provider with post-quantum groups)
/// would compile the AWS-LC C library on every install; moving is a change to this function.
/// The `allow` keeps a `cargo update` from failing `clippy -D warnings`.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM text.
pub fn certs_from_pem(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .context("parsing PEM certificates")?;
    if certs.is_empty() {
        bail!("no certificate in the PEM text");
    }
    Ok(certs)
}

/// A TLS server configuration from a PEM certificate chain and a PEM private key.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &Secret,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = certs_from_pem(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes())
        .map_err(|_| anyhow::anyhow!("the private key is not a PEM private key"))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not form a usable TLS identity")?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts exactly the certificates in `pinned_pem` (a
/// self-signed server certificate or a private CA) and nothing else.
pub fn pinned_client_config(pinned_pem: &[u8]) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs_from_pem(pinned_pem)? {
        roots
            .add(cert)
            .context("the pinned certificate is not usable as a trust anchor")?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A reqwest client that trusts only `pinned_pem`, with short timeouts. TCP keepalive
/// (idle 5 s, then 3 probes 2 s apart) notices a silently dead path during a long-poll in
/// about 11 s instead of waiting for the request deadline.
pub fn pinned_http_client(
    pinned_pem: &[u8],
    connect_timeout: std::time::Duration,
    timeout: std::time::Duration,
) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(pinned_client_config(pinned_pem)?)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .tcp_keepalive(std::time::Duration::from_secs(5))
        .tcp_keepalive_interval(std::time::Duration::from_secs(2))
        .tcp_keepalive_retries(3)
        .no_proxy()
        .build()
        .context("building the HTTPS client")
}

/// A freshly generated self-signed certificate and its key (PEM).
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: Secret,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &self.key_pem)
            .finish()
    }
}

/// A self-signed certificate (ECDSA P-256) whose subject alternative names are `names`
/// (DNS names) and `ips`; the common name is the first name.
pub fn self_signed(names: &[String], ips: &[IpAddr]) -> anyhow::Result<SelfSigned> {
    let mut sans: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    sans.extend(names.iter().cloned());
    let mut params = rcgen::CertificateParams::new(sans).context("certificate names")?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "fabric".into()),
    );
    params.distinguished_name = dn;
    // rcgen's default validity (1975 to 4096): rotation is a deliberate act (delete the
    // files and run `fabric keys`), never an expiry surprise in the middle of a failover.
    let key = rcgen::KeyPair::generate().context("generating a key pair")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
    })
}

/// A private certificate authority made with rcgen: the lab's stand-in for the fabric CA
/// (`routeros/fabric-ca-v7.rsc` makes the real one on CHR01) and the tests' CAs.
pub struct LocalCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// The CA certificate (PEM): what clients trust.
    pub cert_pem: String,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// A new CA (ECDSA P-256) with common name `name`.
    pub fn new(name: &str) -> anyhow::Result<LocalCa> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().context("generating the CA key")?;
        let cert = params.self_signed(&key).context("signing the CA")?;
        Ok(LocalCa {
            cert_pem: cert.pem(),
            params,
            key,
        })
    }

    /// A server certificate for the DNS name `name`, signed by this CA (validity: rcgen's
    /// default unless `not_after` is given, e.g. in the past for an expired one).
    pub fn issue(
        &self,
        name: &str,
        not_after: Option<(i32, u8, u8)>,
    ) -> anyhow::Result<SelfSigned> {
        let mut params =
            rcgen::CertificateParams::new(vec![name.to_string()]).context("certificate name")?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, name);
        params.distinguished_name = dn;
        if let Some((y, m, d)) = not_after {
            params.not_before = rcgen::date_time_ymd(y - 1, m, d);
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let key = rcgen::KeyPair::generate().context("generating a key pair")?;
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing the certificate")?;
        Ok(SelfSigned {
            cert_pem: cert.pem(),
            key_pem: Secret::new(key.serialize_pem()),
        })
    }
}

//! The TLS check against a local TLS server on 127.0.0.1 (fabric CA, another CA, an expired
//! certificate, another name, nothing listening), the REST check against the REST stand-in
//! in process, and the mapping of REST answers to outcomes.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{RestCheck, TlsCheck, rest_outcome, tls_error};
use crate::daemon::service_probe::{Check, Outcome};
use crate::routeros_rest::client::RestError;
use crate::tls::{LocalCa, SelfSigned};

const HOST: &str = "chr01.lab.example.com";

/// Completes TLS handshakes with `cert` on 127.0.0.1 until `stop`.
async fn tls_server(cert: &SelfSigned, stop: CancellationToken) -> SocketAddr {
    let config = crate::tls::server_config(cert.cert_pem.as_bytes(), &cert.key_pem).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = stop.cancelled() => return,
                r = listener.accept() => r.unwrap(),
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    addr
}

async fn check(addr: SocketAddr, host: &str, ca: &LocalCa) -> Outcome {
    TlsCheck::new(addr, host, ca.cert_pem.as_bytes())
        .unwrap()
        .check()
        .await
}

#[tokio::test]
async fn tls_check_up_only_with_a_certificate_from_the_fabric_ca_for_the_hostname() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let fabric_ca = LocalCa::new("fabric-ca").unwrap();
    let impostor = LocalCa::new("fabric-ca").unwrap(); // same name, another key
    let other_ca = LocalCa::new("other-ca").unwrap();
    let good = tls_server(&fabric_ca.issue(HOST, None).unwrap(), stop.clone()).await;
    assert_eq!(check(good, HOST, &fabric_ca).await, Outcome::Up);

    let o = check(good, HOST, &other_ca).await;
    assert!(
        matches!(&o, Outcome::Misconfigured(w) if w.contains("UnknownIssuer")),
        "{o:?}"
    );
    let o = check(good, HOST, &impostor).await;
    assert!(
        matches!(&o, Outcome::Misconfigured(w) if w.contains("BadSignature")),
        "{o:?}"
    );
    let o = check(good, "chr02.lab.example.com", &fabric_ca).await;
    assert!(
        matches!(&o, Outcome::Misconfigured(w) if w.contains("not valid for name")),
        "{o:?}"
    );
    let expired = fabric_ca.issue(HOST, Some((2001, 1, 1))).unwrap();
    let old = tls_server(&expired, stop.clone()).await;
    let o = check(old, HOST, &fabric_ca).await;
    assert!(
        matches!(&o, Outcome::Misconfigured(w) if w.contains("expired")),
        "{o:?}"
    );
}

#[tokio::test]
async fn tls_check_refused_when_nothing_listens_or_the_peer_is_not_tls() {
    let ca = LocalCa::new("fabric-ca").unwrap();
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: nothing listens there now
    let o = check(free, HOST, &ca).await;
    assert!(
        matches!(&o, Outcome::Refused(w) if w.contains("refused")),
        "{o:?}"
    );
    // A listener that closes every connection at once: the handshake cannot complete.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for _ in 0..1 {
            let (s, _) = l.accept().await.unwrap();
            drop(s);
        }
    });
    let o = check(addr, HOST, &ca).await;
    assert!(matches!(&o, Outcome::Refused(_)), "{o:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn rest_check_up_against_the_stand_in_and_misconfigured_with_a_wrong_password() {
    use crate::routeros_rest::standin::{self, Credentials, RecordingSink, Store};
    let cert = crate::tls::self_signed(
        &["chr01-rest-standin".into()],
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap();
    let tls = crate::tls::server_config(cert.cert_pem.as_bytes(), &cert.key_pem).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let creds = Credentials {
        user: "fabric".into(),
        password: crate::model::Secret::new("s3cret"),
    };
    tokio::spawn(standin::serve(
        listener,
        tls,
        creds,
        Store::default(),
        Arc::new(RecordingSink::default()),
        "chr01".into(),
        Arc::new(|| Ok(Vec::new())),
        stop.clone(),
    ));
    let client = |pw: &str| {
        let client = crate::routeros_rest::client::RestClient::with_timeouts(
            &base,
            "fabric",
            crate::model::Secret::new(pw),
            cert.cert_pem.as_bytes(),
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        RestCheck { client }
    };
    assert_eq!(client("s3cret").check().await, Outcome::Up);
    let o = client("wrong").check().await;
    assert!(
        matches!(&o, Outcome::Misconfigured(w) if w.contains("401")),
        "{o:?}"
    );
}

#[test]
fn rest_answers_map_to_outcomes() {
    let rec = |k: &str| crate::routeros_rest::Record::from([(k.to_string(), "1".to_string())]);
    let api = |status| RestError::Api {
        status,
        message: "x".into(),
        detail: None,
    };
    let t = |s: &str| RestError::Transport(s.into());
    assert_eq!(rest_outcome(Ok(rec("uptime"))), Outcome::Up);
    assert!(matches!(rest_outcome(Ok(rec("x"))), Outcome::Refused(_)));
    assert!(matches!(
        rest_outcome(Err(api(401))),
        Outcome::Misconfigured(_)
    ));
    assert!(matches!(
        rest_outcome(Err(api(403))),
        Outcome::Misconfigured(_)
    ));
    assert!(matches!(rest_outcome(Err(api(500))), Outcome::Refused(_)));
    assert!(matches!(
        rest_outcome(Err(RestError::Decode("bad json".into()))),
        Outcome::Refused(_)
    ));
    assert!(matches!(
        rest_outcome(Err(t(
            "error sending request: invalid peer certificate: UnknownIssuer"
        ))),
        Outcome::Misconfigured(_)
    ));
    assert!(matches!(
        rest_outcome(Err(t(
            "error sending request: Connection refused (os error 111)"
        ))),
        Outcome::Refused(_)
    ));
    assert!(matches!(
        rest_outcome(Err(t("error sending request: operation timed out"))),
        Outcome::Silent(_)
    ));
}

#[test]
fn tls_errors_map_to_outcomes() {
    use std::io::{Error, ErrorKind};
    let wrap = |e: rustls::Error| Error::new(ErrorKind::InvalidData, e);
    let alert = wrap(rustls::Error::AlertReceived(
        rustls::AlertDescription::HandshakeFailure,
    ));
    assert!(
        matches!(tls_error(&alert), Outcome::Misconfigured(w) if w.contains("HandshakeFailure"))
    );
    let incompatible = wrap(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::NoCipherSuitesInCommon,
    ));
    assert!(matches!(
        tls_error(&incompatible),
        Outcome::Misconfigured(_)
    ));
    let garbage = wrap(rustls::Error::InvalidMessage(
        rustls::InvalidMessage::InvalidContentType,
    ));
    assert!(matches!(tls_error(&garbage), Outcome::Refused(_)));
    let reset = Error::new(ErrorKind::ConnectionReset, "reset by peer");
    assert!(matches!(tls_error(&reset), Outcome::Refused(_)));
    let eof = Error::new(ErrorKind::UnexpectedEof, "tls handshake eof");
    assert!(matches!(tls_error(&eof), Outcome::Refused(_)));
}

//! The RouterOS REST stand-in in process on 127.0.0.1 (**not RouterOS**): a self-signed
//! certificate for 127.0.0.1, user `fabric` with [`PASSWORD`], WireGuard effects recorded
//! instead of run. Stops when dropped.

use std::sync::Arc;

use fabric::model::Secret;
use fabric::routeros_rest::RestClient;
use fabric::routeros_rest::standin::{self, Credentials, Effect, PppSource, RecordingSink, Store};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

pub const PASSWORD: &str = "s3cret";

pub struct LoopbackStandin {
    pub base: String,
    /// The certificate to pin (PEM).
    pub cert: String,
    pub sink: Arc<RecordingSink>,
    _stop: DropGuard,
}

impl LoopbackStandin {
    /// Serves `store` as router `identity`; `/ppp/active` answers from `ppp`.
    pub async fn start(identity: &str, store: Store, ppp: PppSource) -> LoopbackStandin {
        let cert = fabric::tls::self_signed(
            &[format!("{identity}-rest-standin")],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
        let tls = fabric::tls::server_config(cert.cert_pem.as_bytes(), &cert.key_pem).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let sink = Arc::new(RecordingSink::default());
        let stop = CancellationToken::new();
        let creds = Credentials {
            user: "fabric".into(),
            password: Secret::new(PASSWORD),
        };
        tokio::spawn(standin::serve(
            listener,
            tls,
            creds,
            store,
            sink.clone(),
            identity.into(),
            ppp,
            stop.clone(),
        ));
        LoopbackStandin {
            base,
            cert: cert.cert_pem,
            sink,
            _stop: stop.drop_guard(),
        }
    }

    /// A client pinned to the stand-in's certificate, logging in with `password`.
    pub fn client(&self, password: &str) -> RestClient {
        RestClient::new(
            &self.base,
            "fabric",
            Secret::new(password),
            self.cert.as_bytes(),
        )
        .unwrap()
    }

    /// The WireGuard effects recorded since the last call.
    pub fn effects(&self) -> Vec<Effect> {
        std::mem::take(&mut *self.sink.effects.lock().unwrap())
    }

    /// The writes carried out since the last call, as `METHOD /path`, in order.
    pub fn writes(&self) -> Vec<String> {
        std::mem::take(&mut *self.sink.writes.lock().unwrap())
    }
}

/// A `/ppp/active` source with no sessions.
pub fn no_sessions() -> PppSource {
    Arc::new(|| Ok(Vec::new()))
}

/// A `/ppp/active` source answering these SSTP sessions: (`.id`, user, address).
pub fn sstp_sessions(list: &[(&str, &str, &str)]) -> PppSource {
    let records: Vec<fabric::routeros_rest::Record> = list
        .iter()
        .map(|(id, name, address)| {
            [
                (".id", *id),
                ("name", *name),
                ("service", "sstp"),
                ("address", *address),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        })
        .collect();
    Arc::new(move || Ok(records.clone()))
}

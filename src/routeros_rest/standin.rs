//! **A stand-in for a CHR's REST service, for the lab — not RouterOS.** RouterOS cannot run
//! on this project's machines, so the lab's CHR namespaces run this instead: the v7 REST
//! subset fabric uses ([`super::Menu`]), following MikroTik's documentation (Basic auth over
//! TLS with a self-signed certificate; `.id` like `*1`; every value a JSON string; `PUT` adds
//! and answers the record, `PATCH` sets and answers the record, `DELETE` removes; errors as
//! status + `{"error","message","detail"}`, 401 with `WWW-Authenticate: Basic`).
//!
//! WireGuard peer changes (add, remove, disable, enable, set) are carried out on the stand-in
//! hub's wireguard-go interface with `wg set` ([`WgTool`]); `disabled` on an interface sets
//! its link down/up; `/ip/address`, `/ip/route`, `/ppp/profile` and `/ppp/secret` live in the
//! tables only (no SSTP server uses the secrets; a password is stored but never answered).
//! The tables start from the live interfaces ([`import_live`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use super::store::{ApiError, Effect, Store};
use super::{Menu, Record, record_from_json};
use crate::apply::WgBackend;
use crate::control::http_util::{self as http, Body};
use crate::model::{Ifname, NodeName, PublicKey, Secret};

/// Carries [`Effect`]s out on the live interface.
pub trait WgSink: Send + Sync + 'static {
    fn apply(&self, effect: &Effect) -> anyhow::Result<()>;

    /// Notes a write the stand-in carried out (`DELETE /ppp/active/*1`, `PUT /ip/address/*3`),
    /// in the order they happened. Nothing by default.
    fn wrote(&self, _request: &str) {}
}

/// The real sink: `wg set` and `ip link` (run inside the hub's namespace, with its
/// wireguard-go run directory).
#[derive(Debug, Default)]
pub struct WgTool;

fn run(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl WgSink for WgTool {
    fn apply(&self, effect: &Effect) -> anyhow::Result<()> {
        match effect {
            Effect::PeerRemove {
                interface,
                public_key,
            } => run("wg", &["set", interface, "peer", public_key, "remove"]),
            Effect::PeerSet { interface, record } => {
                let key = record.get("public-key").map_or("", String::as_str);
                let mut args = vec![
                    "set".to_string(),
                    interface.clone(),
                    "peer".into(),
                    key.into(),
                ];
                args.push("allowed-ips".into());
                args.push(record.get("allowed-address").cloned().unwrap_or_default());
                if let (Some(a), Some(p)) =
                    (record.get("endpoint-address"), record.get("endpoint-port"))
                    && !a.is_empty()
                {
                    args.push("endpoint".into());
                    args.push(format!("{a}:{p}"));
                }
                let keepalive: String = record
                    .get("persistent-keepalive")
                    .map(|k| k.chars().take_while(char::is_ascii_digit).collect())
                    .unwrap_or_default();
                args.push("persistent-keepalive".into());
                args.push(if keepalive.is_empty() {
                    "0".into()
                } else {
                    keepalive
                });
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                run("wg", &argv)
            }
            Effect::Link { interface, up } => run(
                "ip",
                &["link", "set", interface, if *up { "up" } else { "down" }],
            ),
            Effect::SessionDrop { interface, address } => {
                let out = std::process::Command::new("wg")
                    .args(["show", interface, "allowed-ips"])
                    .output()
                    .context("running wg show")?;
                let text = String::from_utf8_lossy(&out.stdout);
                let host = format!("{address}/32");
                match text
                    .lines()
                    .find(|l| l.split_whitespace().skip(1).any(|a| a == host))
                    .and_then(|l| l.split_whitespace().next())
                {
                    Some(key) => run("wg", &["set", interface, "peer", key, "remove"]),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A sink that records effects and writes (tests, and `--dry` stand-ins).
#[derive(Debug, Default)]
pub struct RecordingSink {
    pub effects: Mutex<Vec<Effect>>,
    /// Every write carried out, as `METHOD path`, in order.
    pub writes: Mutex<Vec<String>>,
}

impl WgSink for RecordingSink {
    fn apply(&self, effect: &Effect) -> anyhow::Result<()> {
        self.effects
            .lock()
            .expect("not poisoned")
            .push(effect.clone());
        Ok(())
    }

    fn wrote(&self, request: &str) {
        let mut writes = self.writes.lock().expect("not poisoned");
        writes.push(request.to_string());
    }
}

/// Basic-auth credentials the stand-in accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// Where the stand-in's read-only `/ppp/active` comes from (computed per request).
pub type PppSource = Arc<dyn Fn() -> anyhow::Result<Vec<Record>> + Send + Sync>;

struct State {
    ppp: PppSource,
    creds: Credentials,
    store: Mutex<Store>,
    sink: Arc<dyn WgSink>,
    identity: String,
    started: Instant,
}

/// The tables of a stand-in hub from its live WireGuard interfaces (read through
/// wireguard-go's UAPI). Peers are named from `names` and tagged `fabric:standin:<if>:…`
/// (fabric-owned, as the rendered `.rsc` tags them).
pub fn import_live(
    backend: &dyn WgBackend,
    interfaces: &[Ifname],
    names: &BTreeMap<PublicKey, NodeName>,
) -> anyhow::Result<Store> {
    let mut store = Store::default();
    for ifname in interfaces {
        let o = backend
            .read(ifname)
            .with_context(|| format!("reading {ifname}"))?;
        if !o.exists {
            anyhow::bail!("interface {ifname} does not exist");
        }
        let mut w = Record::new();
        w.insert("name".into(), ifname.to_string());
        w.insert("listen-port".into(), o.listen_port.unwrap_or(0).to_string());
        w.insert("mtu".into(), o.mtu.unwrap_or(1420).to_string());
        w.insert(
            "public-key".into(),
            o.public_key.map(|k| k.to_base64()).unwrap_or_default(),
        );
        w.insert("running".into(), o.up.to_string());
        w.insert("disabled".into(), (!o.up).to_string());
        w.insert("comment".into(), format!("fabric:standin:{ifname}"));
        store.insert(Menu::Wireguard, w);
        for p in &o.peers {
            let mut r = Record::new();
            let name = names.get(&p.public_key).map(ToString::to_string);
            r.insert("interface".into(), ifname.to_string());
            r.insert("public-key".into(), p.public_key.to_base64());
            r.insert(
                "allowed-address".into(),
                p.allowed_ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            if let Some(ep) = p.endpoint {
                r.insert("endpoint-address".into(), ep.ip().to_string());
                r.insert("endpoint-port".into(), ep.port().to_string());
            }
            r.insert(
                "persistent-keepalive".into(),
                format!("{}s", p.keepalive.unwrap_or(0)),
            );
            r.insert(
                "comment".into(),
                format!(
                    "fabric:standin:{ifname}:peer={}",
                    name.clone().unwrap_or_default()
                ),
            );
            if let Some(n) = name {
                r.insert("name".into(), n);
            }
            store.insert(Menu::WireguardPeers, r);
        }
        for a in &o.addresses {
            let mut r = Record::new();
            r.insert("address".into(), a.to_string());
            r.insert("network".into(), a.network().to_string());
            r.insert("interface".into(), ifname.to_string());
            r.insert("comment".into(), format!("fabric:standin:{ifname}"));
            store.insert(Menu::IpAddress, r);
        }
    }
    Ok(store)
}

/// The client-site forward rule as a hub that imported its `.rsc` lists it (seeded into a
/// stand-in of an SSTP hub; the push only checks that it is there).
pub fn client_site_forward_rule() -> Record {
    let mut r: Record = crate::render::routeros::FORWARD_DROP
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    r.insert("comment".into(), "fabric:standin:fwd:client-sites".into());
    r
}

/// Serves the stand-in until `shutdown`. `identity` names it in `/system/resource`;
/// `/ppp/active` is answered from `ppp`.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    creds: Credentials,
    store: Store,
    sink: Arc<dyn WgSink>,
    identity: String,
    ppp: PppSource,
    shutdown: CancellationToken,
) {
    let state = Arc::new(State {
        ppp,
        creds,
        store: Mutex::new(store),
        sink,
        identity,
        started: Instant::now(),
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "RouterOS REST stand-in listening (not RouterOS)");
    }
    http::serve_tls(listener, tls, shutdown, move |req| {
        let state = state.clone();
        async move { handle(state, req).await }
    })
    .await
}

fn error(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = json!({"error": e.status, "message": status.canonical_reason().unwrap_or("")});
    if let Some(d) = &e.detail {
        body["detail"] = json!(d);
    }
    let mut r = http::json(status, &body);
    if e.status == 401 {
        r.headers_mut().insert(
            "www-authenticate",
            hyper::header::HeaderValue::from_static("Basic realm=\"REST API\""),
        );
    }
    r
}

fn authorized(creds: &Credentials, req: &Request<Incoming>) -> bool {
    let Some(encoded) = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", creds.user, creds.password.expose());
    decoded.ct_eq(expected.as_bytes()).into()
}

/// (menu, optional .id) of a `/rest/…` path.
fn route(path: &str) -> Option<(Menu, Option<String>)> {
    let rest = path.strip_prefix("/rest/")?.trim_end_matches('/');
    if let Some(m) = Menu::from_path(rest) {
        return Some((m, None));
    }
    let (menu, id) = rest.rsplit_once('/')?;
    let id = percent_decode(id);
    id.starts_with('*').then_some(())?;
    Some((Menu::from_path(menu)?, Some(id)))
}

/// `%XX` sequences decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(req: &Request<Incoming>) -> (Vec<(String, String)>, Option<Vec<String>>) {
    let mut filter = Vec::new();
    let mut proplist = None;
    for pair in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            percent_decode(&k.replace('+', " ")),
            percent_decode(&v.replace('+', " ")),
        );
        if k == ".proplist" {
            proplist = Some(v.split(',').map(str::to_string).collect());
        } else {
            filter.push((k, v));
        }
    }
    (filter, proplist)
}

fn project(r: Record, proplist: &Option<Vec<String>>) -> serde_json::Value {
    match proplist {
        Some(keep) => json!(
            r.into_iter()
                .filter(|(k, _)| keep.contains(k))
                .collect::<Record>()
        ),
        None => json!(r),
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    if !authorized(&state.creds, &req) {
        return error(&ApiError {
            status: 401,
            detail: None,
        });
    }
    let Some((menu, id)) = route(req.uri().path()) else {
        return error(&ApiError::not_found());
    };
    let method = req.method().clone();
    let (filter, proplist) = query(&req);
    if method == Method::GET {
        if menu == Menu::SystemResource {
            return http::json(StatusCode::OK, &resource(&state));
        }
        if menu == Menu::PppActive && id.is_none() {
            let source = state.ppp.clone();
            return match tokio::task::spawn_blocking(move || source()).await {
                Ok(Ok(records)) => {
                    let all: Vec<_> = records
                        .into_iter()
                        .filter(|r| filter.iter().all(|(k, v)| r.get(k) == Some(v)))
                        .map(|r| project(r, &proplist))
                        .collect();
                    http::json(StatusCode::OK, &json!(all))
                }
                Ok(Err(e)) => error(&ApiError {
                    status: 500,
                    detail: Some(format!("{e:#}")),
                }),
                Err(_) => error(&ApiError {
                    status: 500,
                    detail: Some("stand-in task failed".into()),
                }),
            };
        }
        let store = state.store.lock().expect("not poisoned");
        return match id {
            Some(id) => match store.get(menu, &id) {
                Ok(r) => http::json(StatusCode::OK, &project(store.visible(r), &proplist)),
                Err(e) => error(&e),
            },
            None => {
                let all: Vec<_> = store
                    .list(menu, &filter)
                    .into_iter()
                    .map(|r| project(store.visible(r), &proplist))
                    .collect();
                http::json(StatusCode::OK, &json!(all))
            }
        };
    }
    if menu == Menu::PppActive {
        return match (method, id) {
            (Method::DELETE, Some(id)) => drop_session(state, id).await,
            _ => error(&ApiError::bad_request("sessions can only be removed")),
        };
    }
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(&ApiError::bad_request(
                "request body too large or unreadable",
            ));
        }
    };
    let record = if body.is_empty() {
        Record::new()
    } else {
        match serde_json::from_slice(&body)
            .map_err(|e| e.to_string())
            .and_then(|v| record_from_json(&v))
        {
            Ok(r) => r,
            Err(e) => return error(&ApiError::bad_request(format!("JSON: {e}"))),
        }
    };
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || write(&st, method, menu, id, record)).await;
    match result {
        Ok(Ok(Some(r))) => http::json(StatusCode::OK, &json!(r)),
        Ok(Ok(None)) => http::empty(StatusCode::NO_CONTENT),
        Ok(Err(e)) => error(&e),
        Err(_) => error(&ApiError {
            status: 500,
            detail: Some("stand-in task failed".into()),
        }),
    }
}

/// `DELETE /ppp/active/<id>`: ends that session (RouterOS' `/ppp active remove`).
async fn drop_session(state: Arc<State>, id: String) -> Response<Body> {
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let sessions = (st.ppp)().map_err(|e| ApiError {
            status: 500,
            detail: Some(format!("{e:#}")),
        })?;
        let session = sessions
            .iter()
            .find(|r| r.get(".id") == Some(&id))
            .ok_or_else(ApiError::not_found)?;
        let effect = Effect::SessionDrop {
            interface: "sstp".into(),
            address: session.get("address").cloned().unwrap_or_default(),
        };
        st.sink.apply(&effect).map_err(|e| ApiError {
            status: 500,
            detail: Some(format!("{e:#}")),
        })?;
        tracing::info!(effect = ?effect, "stand-in applied");
        st.sink
            .wrote(&format!("DELETE /{}/{id}", Menu::PppActive.path()));
        Ok(())
    })
    .await;
    match result {
        Ok(Ok(())) => http::empty(StatusCode::NO_CONTENT),
        Ok(Err(e)) => error(&e),
        Err(_) => error(&ApiError {
            status: 500,
            detail: Some("stand-in task failed".into()),
        }),
    }
}

/// PUT / PATCH / DELETE: changes a copy of the tables, carries the effects out, then keeps
/// the copy (a failed `wg set` leaves the tables as they were).
fn write(
    state: &State,
    method: Method,
    menu: Menu,
    id: Option<String>,
    body: Record,
) -> Result<Option<Record>, ApiError> {
    let mut store = state.store.lock().expect("not poisoned");
    let mut next = store.clone();
    let id_for_journal = id.clone();
    let (answer, effects) = match (&method, id) {
        (&Method::PUT, None) => next.add(menu, &body).map(|(r, fx)| (Some(r), fx))?,
        (&Method::PATCH, Some(id)) => next.set(menu, &id, &body).map(|(r, fx)| (Some(r), fx))?,
        (&Method::DELETE, Some(id)) => (None, next.remove(menu, &id)?),
        _ => return Err(ApiError::bad_request(format!("no such command ({method})"))),
    };
    for fx in &effects {
        if let Err(e) = state.sink.apply(fx) {
            tracing::error!(effect = ?fx, cause = %format!("{e:#}"), "stand-in could not apply a change");
            return Err(ApiError {
                status: 500,
                detail: Some(format!("{e:#}")),
            });
        }
        tracing::info!(effect = ?fx, "stand-in applied");
    }
    let answer = answer.map(|r| next.visible(r));
    *store = next;
    // The object written: the one named, or the one just added.
    let written = id_for_journal.or_else(|| answer.as_ref()?.get(".id").cloned());
    let id = written.unwrap_or_default();
    state.sink.wrote(&format!("{method} /{}/{id}", menu.path()));
    Ok(answer)
}

fn resource(state: &State) -> serde_json::Value {
    let up = state.started.elapsed().as_secs();
    json!({
        "uptime": format!("{}h{}m{}s", up / 3600, up / 60 % 60, up % 60),
        "version": "7.99 (fabric stand-in)",
        "build-time": "2026-01-01 00:00:00",
        "cpu-load": "0",
        "cpu-count": "1",
        "free-memory": "100000000",
        "total-memory": "268435456",
        "architecture-name": "x86_64",
        "board-name": format!("fabric REST stand-in for {}", state.identity),
        "platform": "fabric stand-in (not RouterOS)",
    })
}

//! `fabric serve --metrics ADDR`: the controller in the Prometheus text format (0.0.4) on plain
//! HTTP, `GET /metrics` — epoch, layout, failover phase, health rounds and signals, decisions,
//! hub pushes, and which hub each SSTP client router uses. Read-only and free of secrets (bind
//! it to localhost or the infrastructure plane). A scrape is answered by the decider loop
//! through the same channel as the control socket, so it never races a decision.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::control::{Call, Request};
use super::decider::Decider;
use super::hub_sync::PushOutcome;
use super::sstp_sessions::Seen;
use crate::failover::{Phase, Signal};
use crate::model::Topology;
use crate::routeros_rest::sstp_usage::{HubSessions, Using, usage};

/// Upper bound for the decider's answer to a scrape.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Prometheus exposition text, one metric family at a time.
#[derive(Default)]
pub struct Exposition(String);

impl Exposition {
    /// Starts a family: its HELP and TYPE lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.0.push_str(name);
        if !labels.is_empty() {
            let body: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", body.join(","));
        }
        let _ = writeln!(self.0, " {value}");
        self
    }

    pub fn text(self) -> String {
        self.0
    }
}

/// Label values: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Good 1, Unknown 0, Bad -1.
fn signal_value(s: Signal) -> f64 {
    match s {
        Signal::Good => 1.0,
        Signal::Unknown => 0.0,
        Signal::Bad => -1.0,
    }
}

/// The decider's families: epoch, layout, phase, rounds, signals, decisions, applies.
pub fn decider_metrics(d: &Decider, now: Instant, out: &mut Exposition) {
    out.single(
        "fabric_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        secs(now.saturating_duration_since(d.started)),
    );
    out.single(
        "fabric_epoch",
        "gauge",
        "Layout epoch; every layout decision adds one.",
        d.state.epoch as f64,
    );
    out.family(
        "fabric_layout",
        "gauge",
        "1 for the layout the controller is on, 0 for the other layouts of the topology.",
    );
    for name in d.loaded.topology.layouts.keys() {
        let on = name.as_str() == d.state.layout;
        out.sample("fabric_layout", &[("layout", name.as_str())], f64::from(on));
    }
    let phase = match d.state.phase {
        Phase::Healthy => "healthy",
        Phase::Suspect { .. } => "suspect",
        Phase::FailedOver { .. } => "failed_over",
        Phase::Manual { .. } => "manual",
    };
    out.family(
        "fabric_phase",
        "gauge",
        "1 for the failover phase the controller is in.",
    );
    for p in ["healthy", "suspect", "failed_over", "manual"] {
        out.sample("fabric_phase", &[("phase", p)], f64::from(p == phase));
    }
    let c = &d.counters;
    out.single(
        "fabric_health_rounds_total",
        "counter",
        "Health-check rounds of the watched hub since the daemon started.",
        c.rounds as f64,
    );
    out.single(
        "fabric_health_bad_rounds_total",
        "counter",
        "Rounds that counted as a miss under the failover policy.",
        c.bad_rounds as f64,
    );
    out.family(
        "fabric_signal_bad_total",
        "counter",
        "Bad results per health signal since the daemon started.",
    );
    for (name, n) in &c.bad_signals {
        out.sample("fabric_signal_bad_total", &[("signal", name)], *n as f64);
    }
    out.family(
        "fabric_signal",
        "gauge",
        "The last round's verdict per signal: 1 good, 0 unknown, -1 bad.",
    );
    if let Some((_, obs)) = &d.last_round {
        for (name, s) in &obs.signals {
            out.sample("fabric_signal", &[("signal", name)], signal_value(*s));
        }
    }
    if let Some((at, _)) = &d.last_round {
        out.single(
        "fabric_health_last_round_age_seconds",
        "gauge",
        "Seconds since the last health round ended (alert when it grows: the monitor is stuck).",
        secs(now.saturating_duration_since(*at)),
    );
    }
    out.single(
        "fabric_applies_total",
        "counter",
        "Applies of a layout to the controller's own interfaces since the daemon started.",
        c.applies as f64,
    );
    out.single(
        "fabric_apply_failures_total",
        "counter",
        "Applies that failed (the periodic reconcile retries them).",
        c.apply_failures as f64,
    );
    if let Some(ok) = c.last_apply_ok {
        out.single(
            "fabric_last_apply_success",
            "gauge",
            "1 when the last apply to the controller's own interfaces succeeded, else 0.",
            f64::from(ok),
        );
    }
    out.single(
        "fabric_apply_changes_total",
        "counter",
        "Interface changes (peers, addresses, routes, ...) made by applies since the daemon started.",
        c.apply_changes as f64,
    );
    out.single(
        "fabric_drift_repaired_total",
        "counter",
        "Changes the periodic reconcile had to make: drift made outside fabric (or an earlier failed apply), repaired.",
        c.drift_repaired as f64,
    );
    out.single(
        "fabric_fence_failures_total",
        "counter",
        "Fencing actions (disabling the old hub) that failed.",
        c.fence_failures as f64,
    );
    out.single(
        "fabric_reload_failures_total",
        "counter",
        "SIGHUP reloads refused or failed; the old topology kept running.",
        c.reload_failures as f64,
    );
    out.family(
        "fabric_probe_rtt_seconds",
        "gauge",
        "Round-trip time of the last round's answered ICMP probes, per signal (tunnel, underlay).",
    );
    if let Some((_, obs)) = &d.last_round {
        for (name, rtt) in &obs.rtts {
            out.sample(
                "fabric_probe_rtt_seconds",
                &[("signal", name)],
                rtt.as_secs_f64(),
            );
        }
    }
    out.single(
        "fabric_decisions_total",
        "counter",
        "Layout decisions (automatic and by the operator) since the daemon started.",
        d.decisions.len() as f64,
    );
}

/// Per RouterOS hub, the last push or verification: in step (1) or not (0), and its age.
pub fn hub_push_metrics(
    outcomes: &BTreeMap<String, PushOutcome>,
    now: Instant,
    out: &mut Exposition,
) {
    out.family(
        "fabric_hub_push_ok",
        "gauge",
        "1 when the hub's last push or verification left it in step with the layout (no conflict, no warning), else 0.",
    );
    for (hub, o) in outcomes {
        out.sample("fabric_hub_push_ok", &[("hub", hub)], f64::from(o.ok));
    }
    out.family(
        "fabric_hub_push_age_seconds",
        "gauge",
        "Seconds since the hub's last push or verification.",
    );
    for (hub, o) in outcomes {
        let age = secs(now.saturating_duration_since(o.at));
        out.sample("fabric_hub_push_age_seconds", &[("hub", hub)], age);
    }
}

/// SSTP: per hub whether its session list could be read and how many sessions it has; per
/// client router the hubs it has a session on (0 hubs = the client site is cut off).
pub fn sstp_metrics(t: &Topology, seen: &Seen, out: &mut Exposition) {
    let Some(sstp) = &t.sstp else {
        return;
    };
    let seen: BTreeMap<String, HubSessions> = seen
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|(hub, (_, s))| (hub.clone(), s.clone()))
        .collect();
    out.family(
        "fabric_sstp_hub_reachable",
        "gauge",
        "1 when the hub's /ppp/active could be read at the last poll, else 0.",
    );
    for hub in &sstp.hubs {
        let ok = matches!(seen.get(hub.as_str()), Some(HubSessions::Seen(_)));
        out.sample(
            "fabric_sstp_hub_reachable",
            &[("hub", hub.as_str())],
            f64::from(ok),
        );
    }
    out.family(
        "fabric_sstp_hub_sessions",
        "gauge",
        "SSTP sessions of the topology's client routers on the hub (absent when unreadable).",
    );
    for hub in &sstp.hubs {
        if let Some(HubSessions::Seen(users)) = seen.get(hub.as_str()) {
            let n = sstp
                .clients
                .iter()
                .filter(|c| users.contains(&c.user))
                .count();
            out.sample(
                "fabric_sstp_hub_sessions",
                &[("hub", hub.as_str())],
                n as f64,
            );
        }
    }
    out.family(
        "fabric_sstp_client_hubs",
        "gauge",
        "Hubs the client router has an SSTP session on (absent when a hub is unreadable and it is on none of the others).",
    );
    for c in usage(sstp, &seen) {
        if c.connected.is_empty() && matches!(c.using, Using::Unknown { .. }) {
            continue;
        }
        let n = c.connected.len() as f64;
        out.sample("fabric_sstp_client_hubs", &[("client", &c.client)], n);
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e3).round() / 1e3
}

/// Serves `GET /metrics` until `shutdown`; every scrape is a [`Request::Metrics`] call.
pub async fn serve(listener: TcpListener, calls: mpsc::Sender<Call>, shutdown: CancellationToken) {
    crate::control::http_util::serve_plain(listener, shutdown, move |req| {
        answer(
            req.method().clone(),
            req.uri().path().to_string(),
            calls.clone(),
        )
    })
    .await
}

async fn answer(method: Method, path: String, calls: mpsc::Sender<Call>) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, body: String| {
        Response::builder()
            .status(code)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .expect("static response")
    };
    if path != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "only /metrics here\n".into());
    }
    if method != Method::GET && method != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
    }
    let (tx, rx) = oneshot::channel();
    let started = Instant::now();
    if calls.send((Request::Metrics, tx)).await.is_err() {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into());
    }
    match tokio::time::timeout(TIMEOUT, rx).await {
        Ok(Ok(r)) => {
            tracing::trace!(ms = started.elapsed().as_secs_f64() * 1e3, "scraped");
            reply(StatusCode::OK, r.text)
        }
        _ => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller did not answer in time\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_and_labels_are_escaped() {
        let mut e = Exposition::default();
        e.family("fabric_x", "gauge", "An example.")
            .sample("fabric_x", &[], 3.0)
            .sample(
                "fabric_x",
                &[("name", "a\"b\\c\nd"), ("hub", "chr01")],
                -1.0,
            );
        assert_eq!(
            e.text(),
            "# HELP fabric_x An example.\n# TYPE fabric_x gauge\nfabric_x 3\n\
             fabric_x{name=\"a\\\"b\\\\c\\nd\",hub=\"chr01\"} -1\n"
        );
    }

    #[test]
    fn unreachable_hubs_and_failed_pushes_read_as_zero_not_as_absent_data() {
        let t = crate::validate::load(include_str!("../../topology.yaml")).unwrap();
        let sstp = t.sstp.as_ref().unwrap();
        let now = Instant::now();
        let first_user = sstp.clients[0].user.clone();
        let seen: Seen = Default::default();
        seen.lock().unwrap().insert(
            "chr01".into(),
            (now, HubSessions::Unknown("connection refused".into())),
        );
        seen.lock().unwrap().insert(
            "chr02".into(),
            (now, HubSessions::Seen([first_user].into())),
        );
        let mut e = Exposition::default();
        sstp_metrics(&t, &seen, &mut e);
        let outcomes = BTreeMap::from([(
            "chr01".to_string(),
            PushOutcome {
                at: now,
                ok: false,
                text: "push failed".into(),
            },
        )]);
        hub_push_metrics(&outcomes, now + Duration::from_secs(2), &mut e);
        let text = e.text();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let first = &sstp.clients[0].name;
        for want in [
            "fabric_sstp_hub_reachable{hub=\"chr01\"} 0".to_string(),
            "fabric_sstp_hub_reachable{hub=\"chr02\"} 1".to_string(),
            "fabric_sstp_hub_sessions{hub=\"chr02\"} 1".to_string(),
            format!("fabric_sstp_client_hubs{{client=\"{first}\"}} 1"),
            "fabric_hub_push_ok{hub=\"chr01\"} 0".to_string(),
            "fabric_hub_push_age_seconds{hub=\"chr01\"} 2".to_string(),
        ] {
            assert!(lines.contains(&want.as_str()), "{want} not in\n{text}");
        }
        // chr01 is unreadable: no session count for it, and a client seen nowhere else is
        // unknown (absent), not "connected to 0 hubs".
        assert!(
            !text.contains("fabric_sstp_hub_sessions{hub=\"chr01\"}"),
            "{text}"
        );
        let second = &sstp.clients[1].name;
        assert!(!text.contains(&format!("client=\"{second}\"")), "{text}");
    }
}

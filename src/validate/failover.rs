//! `failover:` → [`FailoverPolicy`]: defaults, ranges and references (controller, watched hub
//! and target layout must exist and make sense together).
//!
//! ## Why the defaults
//! A round runs every `interval_ms` = 100 ms. Each ICMP signal (through the tunnel to the
//! hub's tunnel address, and over the underlay to its endpoint) sends `probes` = 6 echo
//! requests and is bad only when **all** 6 go unanswered within `probe_timeout_ms` = 100 ms.
//! With `signals_needed` = 1 a round is bad when at least one signal is bad; the hub is
//! declared down after `misses` = 5 consecutive bad rounds.
//!
//! The two service signals (`tls`: a TLS handshake on the hub's SSTP port checked against
//! the fabric CA; `rest`: RouterOS `/rest/system/resource`) are not probed every round: a
//! check starts in the background at most once a second (500 ms deadline) and every round
//! reports the last verdict (`daemon::service_probe`). They are Bad only after two checks in a
//! row were *refused* (connection refused or reset, HTTP error) — an answer that packet loss
//! cannot forge. A check that gets no answer is Unknown (reachability is the ICMP signals'
//! job), and a certificate, TLS-compatibility or login problem is Unknown and logged as a
//! configuration error.
//!
//! * Dead hub: every round after the death is bad. The first fully-bad round starts at most
//!   one interval after the death, the fifth one ends 4 × 100 + 100 ms later: detection
//!   ≤ 100 + 500 = **0.6 s**. The service signals go silent (Unknown) and change nothing.
//! * 30 % random loss on the hub's underlay (each direction, as nftables drops on a link):
//!   an echo round trip is lost with q = 1 − 0.7² = 0.51; a signal is bad with
//!   q⁶ = 0.0176; a round (two ICMP signals, either bad) with p ≈ 2 × 0.0176 = 0.035;
//!   five in a row with p⁵ ≈ 5.3 × 10⁻⁸. Two minutes hold 1,200 rounds, so the chance of a
//!   false failover in them is ≤ 1,200 × 5.3 × 10⁻⁸ ≈ **6 × 10⁻⁵** (about one false
//!   failover per 23 days of *continuous* 30 % loss). The handshake-age signal is bad only
//!   after 180 s without a handshake, so it cannot fire within those 2 minutes. The service
//!   signals add nothing to p: a TCP + TLS exchange needs ~6 packets to all arrive
//!   (0.7⁶ ≈ 12 %), so most checks time out under this loss — which is Unknown, never Bad.
//!   Had a timeout counted as Bad, one lost check would hold the signal bad for the 10
//!   rounds until the next check, and 30 % loss would fail over within seconds.
//! * Hub up but its SSTP or REST service refusing: bad from the second refused check
//!   (1–2 s), failover 5 rounds later: **≈ 1.5–2.5 s**.
//! * `signals_needed` counts bad signals among the [`SIGNALS`] = 5; it is limited to
//!   [`DEAD_HUB_SIGNALS`] = 3, the signals a dead hub turns bad (tunnel, underlay, and the
//!   handshake after 180 s): with 4 or 5, a dead hub would never fail over, since the service
//!   signals of a silent hub are Unknown. 2 fails over on a dead hub as fast as 1 but ignores
//!   a single refusing service; 3 waits for the 180 s handshake age.
//! * `hold_down_s` = 60: at most one automatic layout change a minute, whatever flaps.
//! * `failback` = manual: the controller never returns to primary by itself (Headscale's
//!   "no reclaim", keepalived's `nopreempt`); `auto` waits `stable_s` = 300 s of good rounds.

use std::time::Duration;

use crate::diag::Findings;
use crate::model::{Failback, FailoverPolicy, Layout, LayoutName, Node, NodeName, Platform};
use crate::raw::{RawFailover, RawTopology};

use super::fields;

pub const DEFAULT_CONTROLLER: &str = "vps01";
pub const DEFAULT_WATCH: &str = "chr01";
pub const DEFAULT_INTERVAL_MS: i64 = 100;
pub const DEFAULT_PROBE_TIMEOUT_MS: i64 = 100;
pub const DEFAULT_PROBES: i64 = 6;
pub const DEFAULT_MISSES: i64 = 5;
pub const DEFAULT_SIGNALS_NEEDED: i64 = 1;
pub const DEFAULT_HOLD_DOWN_S: i64 = 60;
pub const DEFAULT_STABLE_S: i64 = 300;
/// Signals the monitor produces per round (tunnel ICMP, underlay ICMP, handshake age, tls,
/// rest).
pub const SIGNALS: i64 = 5;
/// The signals a dead (silent) hub turns bad: tunnel, underlay, handshake age (the service
/// signals of a silent hub are Unknown), hence the most `signals_needed` can ask for.
pub const DEAD_HUB_SIGNALS: i64 = 3;

/// Builds the policy. `nodes` and `layouts` are the already-validated sections.
pub fn policy(
    f: &mut Findings,
    r: &RawFailover,
    raw: &RawTopology,
    nodes: &std::collections::BTreeMap<NodeName, Node>,
    layouts: &std::collections::BTreeMap<LayoutName, Layout>,
) -> Option<FailoverPolicy> {
    let node = |f: &mut Findings, value: Option<&String>, default: &str, key: &str| {
        let path = format!("failover.{key}");
        let text = value.map_or(default, String::as_str);
        let name = fields::parse::<NodeName>(f, text, &path)?;
        match nodes.get(&name) {
            Some(n) => Some(n.clone()),
            // Defined but with findings of its own: those explain it.
            None if raw.nodes.contains_key(name.as_str()) => None,
            None if value.is_none() => {
                f.at(
                    "failover",
                    format!("{key} defaults to \"{default}\", which is not a node here"),
                    format!("set failover.{key} to one of the nodes"),
                );
                None
            }
            None => {
                f.at(
                    &path,
                    format!("node \"{name}\" is not defined"),
                    "name a node from the nodes section",
                );
                None
            }
        }
    };
    let controller = node(f, r.controller.as_ref(), DEFAULT_CONTROLLER, "controller");
    if let Some(c) = &controller
        && c.platform != Platform::Linux
    {
        f.at(
            "failover.controller",
            format!("\"{}\" is not a linux node", c.name),
            "the controller runs `fabric serve`, which needs Linux",
        );
    }
    let watch = node(f, r.watch.as_ref(), DEFAULT_WATCH, "watch");
    let primary = layouts.keys().find(|l| l.as_str() == "primary").cloned();
    if let (Some(w), Some(p)) = (&watch, &primary)
        && !layouts[p].plane_hubs.values().any(|h| *h == w.name)
    {
        f.at(
            "failover.watch",
            format!("\"{}\" is not a plane hub in layout primary", w.name),
            "watch the hub that failover moves traffic away from",
        );
    }
    let target = match r.target.as_ref() {
        None => {
            f.at(
                "failover.target",
                "is required",
                "the layout to switch to when the watched hub is down, e.g. chr02 or split-role",
            );
            None
        }
        Some(t) => match layouts.keys().find(|l| l.as_str() == t) {
            None => {
                f.at(
                    "failover.target",
                    format!("layout \"{t}\" is not defined"),
                    "name a layout from the layouts section",
                );
                None
            }
            Some(l) if l.as_str() == "primary" => {
                f.at(
                    "failover.target",
                    "the target cannot be primary",
                    "name the layout to use while the watched hub is down",
                );
                None
            }
            Some(l) => {
                if let Some(w) = &watch
                    && let Some((plane, _)) =
                        layouts[l].plane_hubs.iter().find(|(_, h)| **h == w.name)
                {
                    f.at(
                        "failover.target",
                        format!("layout \"{l}\" still makes {} the hub of {plane}", w.name),
                        "the target must move every plane hub role away from the watched node",
                    );
                }
                Some(l.clone())
            }
        },
    };
    let int = |f: &mut Findings, v: Option<i64>, default: i64, key: &str, lo: i64, hi: i64| {
        fields::ranged(
            f,
            v.unwrap_or(default),
            lo,
            hi,
            format_args!("failover.{key}"),
            key,
        )
    };
    let interval = int(
        f,
        r.interval_ms,
        DEFAULT_INTERVAL_MS,
        "interval_ms",
        10,
        60_000,
    );
    let timeout = int(
        f,
        r.probe_timeout_ms,
        DEFAULT_PROBE_TIMEOUT_MS,
        "probe_timeout_ms",
        1,
        60_000,
    );
    if let (Some(i), Some(t)) = (interval, timeout)
        && t > i
    {
        f.at(
            "failover.probe_timeout_ms",
            format!("probe_timeout_ms {t} is longer than interval_ms {i}"),
            "a round must end before the next one starts; raise interval_ms or lower the timeout",
        );
    }
    let probes = int(f, r.probes, DEFAULT_PROBES, "probes", 1, 32);
    let misses = int(f, r.misses, DEFAULT_MISSES, "misses", 1, 1000);
    let needed = match r.signals_needed.unwrap_or(DEFAULT_SIGNALS_NEEDED) {
        n @ 1..=DEAD_HUB_SIGNALS => Some(n),
        n @ 4..=SIGNALS => {
            f.at(
                "failover.signals_needed",
                format!("signals_needed {n} would never fail over on a dead hub"),
                format!(
                    "use 1-{DEAD_HUB_SIGNALS}: of the {SIGNALS} signals, a silent hub makes only \
                     tunnel, underlay and handshake bad (tls and rest are unknown without an answer)"
                ),
            );
            None
        }
        n => int(f, Some(n), n, "signals_needed", 1, DEAD_HUB_SIGNALS),
    };
    let hold_down = int(
        f,
        r.hold_down_s,
        DEFAULT_HOLD_DOWN_S,
        "hold_down_s",
        0,
        86_400,
    );
    let stable = int(f, r.stable_s, DEFAULT_STABLE_S, "stable_s", 1, 86_400);
    let failback = match r.failback.as_deref() {
        None | Some("manual") => Some(Failback::Manual),
        Some("auto") => Some(Failback::Auto),
        Some(other) => {
            f.at(
                "failover.failback",
                format!("\"{other}\" is not a failback mode"),
                "use manual (only `fabric failback` returns) or auto",
            );
            None
        }
    };
    Some(FailoverPolicy {
        controller: controller?.name,
        watch: watch?.name,
        target: target?,
        primary: primary?,
        interval: Duration::from_millis(interval? as u64),
        probe_timeout: Duration::from_millis(timeout? as u64),
        probes: probes? as u8,
        misses: misses? as u32,
        signals_needed: needed? as u32,
        hold_down: Duration::from_secs(hold_down? as u64),
        failback: failback?,
        stable: Duration::from_secs(stable? as u64),
    })
}

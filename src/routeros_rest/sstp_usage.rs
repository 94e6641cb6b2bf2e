//! Which hub each RouterOS v6 client router uses (pure). Clients dial every SSTP hub at once
//! and route with distances in the order of `sstp.hubs` (1 = most preferred), so a client
//! uses the most preferred hub it is connected to. The hubs report sessions in `/ppp/active`
//! (`name` = the PPP user, `service` = `sstp`). A more preferred hub whose sessions are
//! unknown makes the answer unknown: the client may be using it.
//!
//! Also the lab stand-in's `/ppp/active` ([`standin_sessions`]): **a stand-in, not
//! RouterOS** — the lab's SSTP tunnels are WireGuard links, so a session is a peer of the
//! hub's `sstp` interface with a handshake in the last 180 s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use super::Record;
use crate::model::Sstp;

/// What the daemon knows about one hub's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubSessions {
    /// The PPP users with an active SSTP session.
    Seen(BTreeSet<String>),
    /// Not known (REST unreachable, no credentials, not polled yet): why.
    Unknown(String),
}

impl HubSessions {
    /// From `GET /rest/ppp/active`: users of the `sstp` sessions.
    pub fn from_records(records: &[Record]) -> HubSessions {
        HubSessions::Seen(
            records
                .iter()
                .filter(|r| r.get("service").is_none_or(|s| s == "sstp"))
                .filter_map(|r| r.get("name").cloned())
                .collect(),
        )
    }
}

/// One client router's tunnels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUsage {
    pub client: String,
    /// Hubs it has a session with (in preference order).
    pub connected: Vec<String>,
    pub using: Using,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Using {
    Hub(String),
    /// A more preferred hub's sessions are unknown (hub, reason).
    Unknown {
        hub: String,
        why: String,
    },
    /// No hub reports a session.
    None,
}

impl fmt::Display for ClientUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let using = match &self.using {
            Using::Hub(h) => format!("using {h}"),
            Using::Unknown { hub, why } => format!("unknown ({hub} unreachable: {why})"),
            Using::None => "not connected".into(),
        };
        let connected = if self.connected.is_empty() {
            "-".to_string()
        } else {
            self.connected.join(",")
        };
        write!(
            f,
            "client {}: {using}; connected to {connected}",
            self.client
        )
    }
}

/// Per client of `sstp`, from what each hub reports (a hub missing from `hubs` is unknown).
pub fn usage(sstp: &Sstp, hubs: &BTreeMap<String, HubSessions>) -> Vec<ClientUsage> {
    let not_polled = HubSessions::Unknown("not polled yet".into());
    sstp.clients
        .iter()
        .map(|c| {
            let mut connected = Vec::new();
            let mut using = None;
            for hub in &sstp.hubs {
                let hub = hub.to_string();
                match hubs.get(&hub).unwrap_or(&not_polled) {
                    HubSessions::Seen(users) if users.contains(&c.user) => {
                        connected.push(hub.clone());
                        using.get_or_insert(Using::Hub(hub));
                    }
                    HubSessions::Seen(_) => {}
                    HubSessions::Unknown(why) => {
                        using.get_or_insert(Using::Unknown {
                            hub,
                            why: why.clone(),
                        });
                    }
                }
            }
            ClientUsage {
                client: c.name.to_string(),
                connected,
                using: using.unwrap_or(Using::None),
            }
        })
        .collect()
}

/// How long after its last handshake a stand-in tunnel still counts as a session
/// (WireGuard's reject-after time).
pub const STANDIN_SESSION_S: u64 = 180;

/// The stand-in's `/ppp/active` from `wg show sstp dump` output: one record per client whose
/// tunnel address is among a peer's allowed-ips and whose handshake is recent (its `uptime`
/// is the time since that handshake, not the session's age).
pub fn standin_sessions(dump: &str, sstp: &Sstp, now_unix: u64) -> Vec<Record> {
    let mut out = Vec::new();
    // The first line describes the interface; peers: key psk endpoint allowed-ips handshake …
    for line in dump.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(endpoint), Some(allowed), Some(hs)) = (f.get(2), f.get(3), f.get(4)) else {
            continue;
        };
        let Ok(hs) = hs.parse::<u64>() else { continue };
        if hs == 0 || now_unix.saturating_sub(hs) > STANDIN_SESSION_S {
            continue;
        }
        let addrs: BTreeSet<Ipv4Addr> = allowed
            .split(',')
            .filter_map(|a| a.strip_suffix("/32")?.parse().ok())
            .collect();
        // `.id`s stay with the client (RouterOS' stay with the session), so ending one
        // session does not renumber the others.
        for (i, c) in sstp
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| addrs.contains(&c.address))
        {
            let caller = endpoint.rsplit_once(':').map_or("", |(ip, _)| ip);
            let up = now_unix.saturating_sub(hs);
            out.push(Record::from([
                (".id".into(), format!("*{:X}", i + 1)),
                ("name".into(), c.user.clone()),
                ("service".into(), "sstp".into()),
                ("caller-id".into(), caller.to_string()),
                ("address".into(), c.address.to_string()),
                ("encoding".into(), "stand-in (WireGuard)".into()),
                ("uptime".into(), format!("{up}s")),
                ("radius".into(), "false".into()),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPOLOGY: &str = include_str!("../../topology.yaml");

    fn sstp() -> Sstp {
        crate::validate::load(TOPOLOGY).unwrap().sstp.unwrap()
    }

    fn seen(users: &[&str]) -> HubSessions {
        HubSessions::Seen(users.iter().map(|u| u.to_string()).collect())
    }

    #[test]
    fn which_hub_each_client_uses() {
        let s = sstp();
        let down = || HubSessions::Unknown("connect timeout".into());
        type Hubs = Vec<(&'static str, HubSessions)>;
        let cases: Vec<(&str, Hubs, [&str; 3])> = vec![
            (
                "both hubs see everyone: the preferred one",
                vec![
                    ("chr01", seen(&["client-a-hq", "client-a-shop", "client-b"])),
                    ("chr02", seen(&["client-a-hq", "client-a-shop", "client-b"])),
                ],
                [
                    "client client-a-hq: using chr01; connected to chr01,chr02",
                    "client client-a-shop: using chr01; connected to chr01,chr02",
                    "client client-b: using chr01; connected to chr01,chr02",
                ],
            ),
            (
                "a client only on the standby uses the standby",
                vec![
                    ("chr01", seen(&["client-a-hq", "client-b"])),
                    ("chr02", seen(&["client-a-shop", "client-b"])),
                ],
                [
                    "client client-a-hq: using chr01; connected to chr01",
                    "client client-a-shop: using chr02; connected to chr02",
                    "client client-b: using chr01; connected to chr01,chr02",
                ],
            ),
            (
                "preferred hub unreachable: unknown, even if seen on the standby",
                vec![("chr01", down()), ("chr02", seen(&["client-a-hq"]))],
                [
                    "client client-a-hq: unknown (chr01 unreachable: connect timeout); connected to chr02",
                    "client client-a-shop: unknown (chr01 unreachable: connect timeout); connected to -",
                    "client client-b: unknown (chr01 unreachable: connect timeout); connected to -",
                ],
            ),
            (
                "standby unreachable does not matter for a client on the preferred hub",
                vec![
                    ("chr01", seen(&["client-b", "other-router"])),
                    ("chr02", down()),
                ],
                [
                    "client client-a-hq: unknown (chr02 unreachable: connect timeout); connected to -",
                    "client client-a-shop: unknown (chr02 unreachable: connect timeout); connected to -",
                    "client client-b: using chr01; connected to chr01",
                ],
            ),
            (
                "nobody connected",
                vec![("chr01", seen(&[])), ("chr02", seen(&[]))],
                [
                    "client client-a-hq: not connected; connected to -",
                    "client client-a-shop: not connected; connected to -",
                    "client client-b: not connected; connected to -",
                ],
            ),
        ];
        for (name, hubs, want) in cases {
            let hubs = hubs.into_iter().map(|(h, s)| (h.to_string(), s)).collect();
            let got: Vec<String> = usage(&s, &hubs).iter().map(ToString::to_string).collect();
            assert_eq!(got, want, "case: {name}");
        }
        let got = usage(&s, &BTreeMap::new());
        assert!(matches!(&got[0].using, Using::Unknown { hub, .. } if hub == "chr01"));
    }

    #[test]
    fn ppp_active_records_count_only_sstp_sessions() {
        let recs = vec![
            Record::from([
                ("name".into(), "client-b".into()),
                ("service".into(), "sstp".into()),
            ]),
            Record::from([
                ("name".into(), "dialin".into()),
                ("service".into(), "pppoe".into()),
            ]),
        ];
        assert_eq!(HubSessions::from_records(&recs), seen(&["client-b"]));
    }

    #[test]
    fn standin_sessions_from_wg_dump() {
        let s = sstp();
        let dump = "PRIV\tPUB\t4443\toff\n\
            K1\t(none)\t192.0.2.100:40000\t10.0.13.11/32,192.168.50.0/24\t1000\t1\t2\toff\n\
            K2\t(none)\t192.0.2.101:40001\t10.0.13.12/32,192.168.51.0/24\t700\t1\t2\toff\n\
            K3\t(none)\t(none)\t10.0.13.13/32,192.168.60.0/24\t0\t0\t0\toff\n";
        let got = standin_sessions(dump, &s, 1010);
        assert_eq!(
            got.len(),
            1,
            "stale (310 s) and never-handshaken peers are no sessions"
        );
        assert_eq!(got[0]["name"], "client-a-hq");
        assert_eq!(got[0]["service"], "sstp");
        assert_eq!(got[0]["caller-id"], "192.0.2.100");
        assert_eq!(got[0]["address"], "10.0.13.11");
        assert_eq!(got[0]["uptime"], "10s");
    }
}

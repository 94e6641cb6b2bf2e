//! The log filter: `RUST_LOG` as given, with the WireGuard and netlink libraries capped so
//! that no level can make them print key material.

use tracing_subscriber::EnvFilter;

const DEFAULT: &str = "info,hickory_server=warn,hickory_proto=warn";

/// Libraries whose most verbose levels print raw WireGuard messages: defguard_wireguard_rs
/// traces every netlink response with `{:?}`, and netlink-packet-wireguard's derived `Debug`
/// shows the interface's private key bytes.
const CAPPED: &[&str] = &[
    "defguard_wireguard_rs=debug",
    "netlink_packet_wireguard=info",
    "netlink_packet_core=info",
    "netlink_packet_generic=info",
    "netlink_proto=info",
    "netlink_sys=info",
];

/// `spec` is `RUST_LOG` (None or invalid: the default). The caps come last, so they win over
/// a directive for the same target in `spec`.
pub fn log_filter(spec: Option<&str>) -> EnvFilter {
    let mut filter = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT));
    for cap in CAPPED {
        filter = filter.add_directive(cap.parse().expect("static directive"));
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::prelude::*;

    fn enabled(spec: Option<&str>, f: impl FnOnce() -> bool) -> bool {
        let subscriber = tracing_subscriber::registry().with(log_filter(spec));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn no_rust_log_can_make_the_wireguard_libraries_trace() {
        for spec in [
            Some("trace"),
            Some("defguard_wireguard_rs=trace"),
            Some("trace,defguard_wireguard_rs=trace,netlink_packet_wireguard=trace"),
        ] {
            assert!(
                !enabled(spec, || tracing::enabled!(
                    target: "defguard_wireguard_rs::netlink",
                    Level::TRACE
                )),
                "{spec:?}"
            );
            assert!(
                !enabled(spec, || tracing::enabled!(
                    target: "netlink_packet_wireguard",
                    Level::DEBUG
                )),
                "{spec:?}"
            );
            // Everything else keeps the level asked for.
            assert!(
                enabled(
                    spec,
                    || tracing::enabled!(target: "fabric::apply", Level::TRACE)
                ) == spec.is_some_and(|s| s.starts_with("trace")),
                "{spec:?}"
            );
            assert!(enabled(spec, || tracing::enabled!(
                target: "defguard_wireguard_rs::wgapi_linux",
                Level::DEBUG
            )));
        }
        assert!(enabled(None, || tracing::enabled!(
            target: "fabric::apply",
            Level::INFO
        )));
        assert!(!enabled(None, || tracing::enabled!(
            target: "hickory_server",
            Level::INFO
        )));
    }
}

//! The log filter: `RUST_LOG` as given, with the WireGuard and netlink libraries capped so
//! that no level can make them print key material.

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

const DEFAULT: &str = "info,hickory_server=warn,hickory_proto=warn";

/// Libraries whose most verbose levels print raw WireGuard messages: defguard_wireguard_rs
/// traces every netlink response with `{:?}`, and netlink-packet-wireguard's derived `Debug`
/// shows the interface's private key bytes. Each is capped at the level given, with every
/// module under it.
const CAPPED: &[(&str, LevelFilter)] = &[
    ("defguard_wireguard_rs", LevelFilter::DEBUG),
    ("netlink_packet_wireguard", LevelFilter::INFO),
    ("netlink_packet_core", LevelFilter::INFO),
    ("netlink_packet_generic", LevelFilter::INFO),
    ("netlink_proto", LevelFilter::INFO),
    ("netlink_sys", LevelFilter::INFO),
];

/// `spec` is `RUST_LOG` (None or invalid: the default). The caps are a second filter that
/// every event must also pass, so no directive in `spec` — a more specific target
/// (`defguard_wireguard_rs::netlink=trace`) or a span filter (`[apply]=trace`) — lifts them.
pub fn log_filter<S>(spec: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let asked = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT));
    let caps = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPPED.iter().copied());
    asked.and(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;
    use tracing_subscriber::prelude::*;

    fn enabled(spec: Option<&str>, f: impl FnOnce() -> bool) -> bool {
        let layer = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(log_filter(spec)));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn no_rust_log_can_make_the_wireguard_libraries_trace() {
        // (RUST_LOG, whether fabric's own trace level is on, where that is simple to say)
        for (spec, fabric_trace) in [
            (Some("trace"), Some(true)),
            (Some("defguard_wireguard_rs=trace"), Some(false)),
            (
                Some("trace,defguard_wireguard_rs=trace,netlink_packet_wireguard=trace"),
                Some(true),
            ),
            // More specific than the caps' targets.
            (
                Some("defguard_wireguard_rs::netlink=trace,netlink_packet_wireguard::nlas=trace"),
                Some(false),
            ),
            // A span filter matches events of every target inside the span.
            (Some("[apply]=trace,info"), None),
        ] {
            let raw_netlink =
                || tracing::enabled!(target: "defguard_wireguard_rs::netlink", Level::TRACE);
            assert!(!enabled(spec, raw_netlink), "{spec:?}");
            assert!(
                !enabled(spec, || {
                    let _apply = tracing::info_span!(target: "fabric::apply", "apply").entered();
                    raw_netlink()
                }),
                "{spec:?} inside a span"
            );
            assert!(
                !enabled(spec, || tracing::enabled!(
                    target: "netlink_packet_wireguard::nlas",
                    Level::DEBUG
                )),
                "{spec:?}"
            );
            // Everything else keeps the level asked for.
            if let Some(on) = fabric_trace {
                let fabric = || tracing::enabled!(target: "fabric::apply", Level::TRACE);
                assert_eq!(enabled(spec, fabric), on, "{spec:?}");
            }
        }
        for spec in [Some("trace"), Some("defguard_wireguard_rs=debug")] {
            assert!(enabled(spec, || tracing::enabled!(
                target: "defguard_wireguard_rs::wgapi_linux",
                Level::DEBUG
            )));
        }
        // The span filter itself still works for fabric's events.
        assert!(enabled(Some("[apply]=trace,info"), || {
            let _apply = tracing::info_span!(target: "fabric::apply", "apply").entered();
            tracing::enabled!(target: "fabric::apply::diff", Level::TRACE)
        }));
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

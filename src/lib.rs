//! fabric: a network fabric controller for a WireGuard + SSTP hub-and-spoke network.

pub mod dns;

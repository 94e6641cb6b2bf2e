//! fabric: a network fabric controller for a WireGuard + SSTP hub-and-spoke network.
//!
//! Data flows one way: topology.yaml → [`yaml`] → [`raw`] → [`validate`] → [`model::Topology`]
//! → [`plan`] → [`render`] (files) / apply / [`dns`]. Everything up to the renderers is pure.

pub mod agent;
pub mod apply;
pub mod control;
pub mod daemon;
pub mod diag;
pub mod dns;
pub mod failover;
pub mod lab;
pub mod logging;
pub mod model;
pub mod plan;
pub mod raw;
pub mod render;
pub mod routeros_rest;
pub mod shell;
pub mod small_map;
pub mod tls;
pub mod validate;
pub mod yaml;

//! Shared support for fabric's integration tests. Each `tests/*.rs` crate that needs it says
//! `mod support;`.
//!
//! - [`netns`]: network namespaces, veth pairs and wireguard-go interfaces as RAII guards
//!   that clean up after themselves (also when a test panics); bounded polling.
//! - [`fabric`]: running the `fabric` binary and reading the render manifest contract.
//! - [`serve_lab`]: a netns lab with `fabric serve` running in vps01 (failover tests);
//!   [`underlay_loss`]: random loss on its underlay; [`lab_agents`]: `fabric agent` on spokes.
//! - [`rest_standin`]: the RouterOS REST stand-in in process on 127.0.0.1.
//! - [`lab`]: the shipped topology end to end in `fabric lab`.
//! - [`kernel_vm`]: a QEMU guest with kernel WireGuard, for the kernel backend's tests.
//!
//! Not every test crate uses every helper.
#![allow(dead_code)]

pub mod fabric;
pub mod kernel_vm;
pub mod lab;
pub mod lab_agents;
pub mod netns;
pub mod rest_standin;
pub mod serve_lab;
pub mod underlay_loss;

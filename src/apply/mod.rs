//! Live apply: the desired [`InterfacePlan`](crate::plan::InterfacePlan) of a node versus what
//! its WireGuard interfaces report.
//!
//! - [`model`]: `*Observed` (read from the system) and [`WgChange`] (one diff step, one line).
//! - [`diff`]: pure `diff(desired, observed) -> Vec<WgChange>`.
//! - [`backend`]: the [`WgBackend`] trait (read / apply) and an in-memory [`FakeBackend`].
//! - [`userspace`]: the real backend for wireguard-go interfaces: [`uapi`] (defguard_wireguard_rs
//!   over the UAPI socket) for WireGuard state, [`ip`] for addresses, MTU, link and routes.
//! - [`kernel`]: the real backend for kernel WireGuard (netlink), and [`kernel::AutoBackend`],
//!   which drives each interface with the implementation that holds it.
//! - [`node`]: `fabric plan` / `fabric apply` for every interface of one node.

pub mod backend;
pub mod diff;
pub mod ip;
pub mod kernel;
pub mod model;
pub mod node;
pub mod rtnl;
pub mod uapi;
pub mod userspace;

pub use backend::{FakeBackend, WgBackend};
pub use diff::diff;
pub use model::{InterfaceObserved, PeerField, PeerObserved, WgChange};

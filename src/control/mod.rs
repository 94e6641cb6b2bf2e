//! The controller's public endpoints.
//!
//! - [`agent_api`]: the HTTPS long-poll route Linux spokes' `fabric agent` use to learn the
//!   current layout and its epoch.

pub mod agent_api;
pub mod http_util;

pub use agent_api::{Published, serve, serve_with};

//! The controller's public endpoints.
//!
//! - [`agent_api`]: the HTTPS long-poll route Linux spokes' `fabric agent` use to learn the
//!   current layout and its epoch.

pub mod agent_api;
mod http;

pub use agent_api::{Published, serve, serve_with};

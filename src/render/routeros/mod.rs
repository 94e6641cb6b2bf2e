//! RouterOS scripts: a v7 hub script per CHR, a v6 SSTP client script per client router.
//!
//! Shape (routeros.md §3.3): the whole file is one `{ … }` block; objects are found by a
//! stable identity and then added or set (no flap on re-import); every fabric-owned object
//! carries a comment `fabric:g<GEN>:…`, where GEN is a hash of the desired state, and a final
//! sweep removes fabric-owned objects of an older generation. Re-importing the same script
//! changes nothing; importing a new one converges without duplicates.

mod client;
mod hub;
mod isolation;
mod script;

pub use client::render as render_client;
pub use hub::{PROFILE as SSTP_PROFILE, render as render_hub, secret_label, secret_routes};
pub use isolation::{CLIENT_SITES, FABRIC_WG, FORWARD_DROP, client_sites, forward_drop_args};

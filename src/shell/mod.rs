//! The effectful shell: files (topology, secrets, rendered output). Everything here is thin;
//! decisions live in the pure core.

pub mod dns_service;
pub mod hub_marks;
pub mod output;
pub mod rotate;
pub mod secrets;
pub mod topology;

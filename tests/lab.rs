//! End to end in the netns lab (root), on this machine's WireGuard: the checks are in
//! [`support::lab::shipped_topology_end_to_end`] (also run on kernel WireGuard by
//! `tests/apply_kernel.rs`).

mod support;

#[test]
fn shipped_topology_boots_in_namespaces_and_tears_down_clean() {
    support::lab::shipped_topology_end_to_end();
}

//! `fabric plan` / `fabric apply` for one node: every interface of the node's plan is read
//! through a [`WgBackend`], diffed, and (for apply) changed in place.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};

use super::backend::WgBackend;
use super::diff::diff;
use super::model::WgChange;
use super::userspace::UserspaceBackend;
use crate::model::{Ifname, NodeName, Platform, PublicKey};
use crate::plan::{KeyRing, NodePlan};
use crate::render::Secrets;

/// Which WireGuard implementation holds the node's interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Per interface: the implementation that holds it; new interfaces in the kernel when the
    /// `wireguard` module is available, with wireguard-go otherwise.
    Auto,
    Userspace,
    Kernel,
}

/// The backend for `kind`. `Auto` drives each existing interface with the implementation
/// that holds it and creates missing ones in the kernel when the module is there, with
/// wireguard-go otherwise; `Kernel` refuses at once on a machine without the module.
pub fn backend(kind: BackendKind) -> anyhow::Result<Box<dyn WgBackend + Send>> {
    use super::kernel::{AutoBackend, KernelBackend, kernel_available};
    match kind {
        BackendKind::Userspace => Ok(Box::new(UserspaceBackend::default())),
        BackendKind::Auto => Ok(Box::new(AutoBackend::new(kernel_available()))),
        BackendKind::Kernel if kernel_available() => Ok(Box::new(KernelBackend)),
        BackendKind::Kernel => bail!(
            "--backend kernel: this machine has no WireGuard kernel module (/sys/module/wireguard \
             is missing and none is installed for the running kernel); use --backend userspace \
             (wireguard-go) or --backend auto"
        ),
    }
}

/// Every public key of the topology with its node, to name the peers a diff removes.
pub type PeerNames = BTreeMap<PublicKey, NodeName>;

/// The names of every key in `keys` (each node's key on each of its planes).
pub fn peer_names(keys: &KeyRing) -> PeerNames {
    keys.0
        .iter()
        .map(|(id, key)| (*key, id.node.clone()))
        .collect()
}

/// The changes one interface needs (or, after apply, needed).
#[derive(Debug)]
pub struct InterfaceReport {
    pub ifname: Ifname,
    pub changes: Vec<WgChange>,
}

/// A note for nodes that are not Linux: this machine is configured as their stand-in (the
/// netns lab runs RouterOS hubs and macOS/iOS spokes as Linux namespaces from the same plan).
pub fn stand_in_note(node: &NodePlan) -> Option<String> {
    let what = match node.platform {
        Platform::Linux => return None,
        Platform::RouterosV7 => "a RouterOS node (configure the real one with its rendered .rsc)",
        Platform::Macos => "a macOS node",
        Platform::Ios => "an iOS node",
    };
    Some(format!(
        "note: {} is {what}; configuring this Linux machine as its stand-in",
        node.name
    ))
}

/// What each interface of `node` needs to match the plan. Changes nothing.
pub fn plan(
    backend: &dyn WgBackend,
    node: &NodePlan,
    secrets: &Secrets,
    names: &PeerNames,
) -> anyhow::Result<Vec<InterfaceReport>> {
    let mut out = Vec::new();
    for iface in &node.interfaces {
        let start = Instant::now();
        let observed = backend
            .read(&iface.plane)
            .with_context(|| format!("reading {}", iface.plane))?;
        let read_ms = start.elapsed().as_secs_f64() * 1e3;
        let key = secrets.private_keys.get(&iface.key);
        let mut changes = diff(iface, key, &observed);
        for c in &mut changes {
            if let WgChange::RemovePeer { public_key, node } = c {
                *node = names.get(public_key).cloned();
            }
        }
        tracing::debug!(
            ifname = %iface.plane,
            read_ms,
            diff_ms = start.elapsed().as_secs_f64() * 1e3 - read_ms,
            changes = changes.len(),
            "read and diffed"
        );
        out.push(InterfaceReport {
            ifname: iface.plane.clone(),
            changes,
        });
    }
    Ok(out)
}

/// Makes every interface of `node` match the plan. Returns what was changed, plus changes
/// fabric cannot make (see [`WgChange::is_applicable`]). No read-back: the backend reports
/// refusals (wireguard-go's errno, `ip` failures) and `fabric plan` is the check; a
/// read-back costs a second full read (~8 ms for 1,000 peers) on every apply.
pub fn apply(
    backend: &mut dyn WgBackend,
    node: &NodePlan,
    secrets: &Secrets,
    names: &PeerNames,
) -> anyhow::Result<Vec<InterfaceReport>> {
    let reports = plan(backend, node, secrets, names)?;
    let mut done: Vec<String> = Vec::new();
    for r in &reports {
        // Usually every change is applicable: no copy of a 1,000-peer change list then.
        let todo: std::borrow::Cow<[WgChange]> = if r.changes.iter().all(|c| c.is_applicable()) {
            std::borrow::Cow::Borrowed(&r.changes)
        } else {
            let some = r.changes.iter().filter(|c| c.is_applicable());
            std::borrow::Cow::Owned(some.cloned().collect())
        };
        if todo.is_empty() {
            continue;
        }
        let start = Instant::now();
        backend.apply(&r.ifname, &todo).with_context(|| {
            let before = if done.is_empty() {
                String::new()
            } else {
                format!(" (already applied: {})", done.join(", "))
            };
            format!("applying {} change(s) to {}{before}", todo.len(), r.ifname)
        })?;
        done.push(format!("{} change(s) to {}", todo.len(), r.ifname));
        tracing::debug!(
            ifname = %r.ifname,
            apply_ms = start.elapsed().as_secs_f64() * 1e3,
            "applied"
        );
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::FakeBackend;
    use crate::apply::diff::tests::{peer, plan as iface_plan};
    use crate::model::PrivateKey;

    fn node() -> (NodePlan, Secrets) {
        let key = PrivateKey::generate();
        let iface = iface_plan(
            &key,
            vec![peer("chr01", Some("203.0.113.10:51820"), &["10.0.12.0/24"])],
        );
        let mut secrets = Secrets::default();
        secrets.private_keys.insert(iface.key.clone(), key);
        let node = NodePlan {
            name: "z640".parse().unwrap(),
            platform: Platform::Linux,
            description: None,
            interfaces: vec![iface],
            sstp_server: None,
            rest: None,
        };
        (node, secrets)
    }

    #[test]
    fn apply_converges_and_second_apply_reports_no_change() {
        let (node, secrets) = node();
        let mut b = FakeBackend::default();
        assert!(
            plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
                .changes
                .len()
                > 1
        );
        let first = apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap();
        assert_eq!(first[0].changes[0], WgChange::CreateInterface);
        let second = apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap();
        assert!(second[0].changes.is_empty());
        assert!(
            plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
                .changes
                .is_empty()
        );
    }

    /// A fake that fails part-way through its first apply, like a daemon that dies mid-way.
    struct FailsOnce {
        inner: FakeBackend,
        failed: bool,
    }

    impl WgBackend for FailsOnce {
        fn read(&self, ifname: &Ifname) -> anyhow::Result<super::super::InterfaceObserved> {
            self.inner.read(ifname)
        }

        fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
            if self.failed {
                return self.inner.apply(ifname, changes);
            }
            self.failed = true;
            self.inner.apply(ifname, &changes[..changes.len() / 2])?;
            bail!("wireguard-go refused the change (errno 22)")
        }
    }

    #[test]
    fn failure_half_way_is_reported_and_next_apply_converges() {
        let (node, secrets) = node();
        let mut b = FailsOnce {
            inner: FakeBackend::default(),
            failed: false,
        };
        let e = format!(
            "{:#}",
            apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap_err()
        );
        assert!(e.contains("applying") && e.contains("errno 22"), "{e}");
        let left = plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
            .changes
            .len();
        assert!(left > 0, "half of it is still to do");
        let second = apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap();
        assert_eq!(second[0].changes.len(), left);
        assert!(
            plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
                .changes
                .is_empty()
        );
    }

    /// Fails every apply to one interface.
    struct FailsOn(FakeBackend, &'static str);

    impl WgBackend for FailsOn {
        fn read(&self, ifname: &Ifname) -> anyhow::Result<super::super::InterfaceObserved> {
            self.0.read(ifname)
        }

        fn apply(&mut self, ifname: &Ifname, changes: &[WgChange]) -> anyhow::Result<()> {
            if ifname.as_str() == self.1 {
                bail!("wireguard-go refused the change (errno 22)");
            }
            self.0.apply(ifname, changes)
        }
    }

    #[test]
    fn a_failed_interface_says_what_the_interfaces_before_it_already_changed() {
        let (mut node, mut secrets) = node();
        let key = PrivateKey::generate();
        let mut wg1 = iface_plan(&key, vec![peer("vps01", None, &["10.33.33.0/24"])]);
        wg1.plane = "wg1".parse().unwrap();
        wg1.key.plane = wg1.plane.clone();
        wg1.address = "10.33.33.30/24".parse().unwrap();
        secrets.private_keys.insert(wg1.key.clone(), key);
        node.interfaces.push(wg1);
        let mut b = FailsOn(FakeBackend::default(), "wg1");
        let wg0_changes = plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
            .changes
            .len();
        let e = format!(
            "{:#}",
            apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap_err()
        );
        assert!(
            e.contains(&format!(
                "(already applied: {wg0_changes} change(s) to wg0)"
            )),
            "{e}"
        );
        assert!(e.contains("to wg1") && e.contains("errno 22"), "{e}");
        let after = plan(&b, &node, &secrets, &PeerNames::new()).unwrap();
        assert!(after[0].changes.is_empty(), "wg0 was applied");
        // The first interface failing has nothing before it to name.
        let mut b = FailsOn(FakeBackend::default(), "wg0");
        let e = format!(
            "{:#}",
            apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap_err()
        );
        assert!(!e.contains("already applied"), "{e}");
    }

    #[test]
    fn removed_peers_are_named_when_the_plan_knows_their_key() {
        let (node, secrets) = node();
        let mut b = FakeBackend::default();
        apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap();
        let old_hub = PrivateKey::generate().public_key();
        b.interfaces
            .get_mut(&node.interfaces[0].plane)
            .unwrap()
            .peers
            .push(crate::apply::backend::observed_peer(&peer(
                "chr02",
                None,
                &[],
            )));
        let key = b.interfaces[&node.interfaces[0].plane].peers[1].public_key;
        let names = PeerNames::from([
            (key, "chr02".parse().unwrap()),
            (old_hub, "x".parse().unwrap()),
        ]);
        let r = plan(&b, &node, &secrets, &names).unwrap();
        assert_eq!(r[0].changes[0].to_string(), format!("- peer chr02 ({key})"));
    }

    #[test]
    fn non_linux_nodes_are_configured_as_stand_ins_with_a_note() {
        let (mut node, secrets) = node();
        assert_eq!(stand_in_note(&node), None);
        node.platform = Platform::RouterosV7;
        let note = stand_in_note(&node).unwrap();
        assert!(note.contains("z640 is a RouterOS node"), "{note}");
        let mut b = FakeBackend::default();
        apply(&mut b, &node, &secrets, &PeerNames::new()).unwrap();
        assert!(
            plan(&b, &node, &secrets, &PeerNames::new()).unwrap()[0]
                .changes
                .is_empty()
        );
    }
}

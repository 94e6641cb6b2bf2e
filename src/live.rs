//! `fabric plan` and `fabric apply`: load the node's plan and secrets, pick the WireGuard
//! backend, print one line per change. Exit 1 for drift (`plan`) or changes fabric cannot
//! make (`apply`: a node-held private key).

use fabric::shell::{self, secrets::SecretsDir};

use crate::Findings;
use crate::cli::{BackendArg, LiveArgs};

/// What `plan` and `apply` work on: the node's plan, the secrets, the backend to reach it.
struct Live {
    node: fabric::plan::NodePlan,
    names: fabric::apply::node::PeerNames,
    secrets: fabric::render::Secrets,
    backend: Box<dyn fabric::apply::WgBackend>,
    /// `apply` holds the node's apply lock from before its first read to the end.
    _lock: Option<std::fs::File>,
}

/// Topology, secrets and plan of the node named in `live`, and the backend to reach it.
fn live_setup(live: &LiveArgs, lock: bool) -> anyhow::Result<Result<Live, Findings>> {
    let start = std::time::Instant::now();
    let kind = match live.backend {
        BackendArg::Auto => fabric::apply::node::BackendKind::Auto,
        BackendArg::Userspace => fabric::apply::node::BackendKind::Userspace,
        BackendArg::Kernel => fabric::apply::node::BackendKind::Kernel,
    };
    let backend = fabric::apply::node::backend(kind)?;
    // Userspace is the only backend, so its run directory holds the lock.
    let lock = if lock {
        Some(fabric::apply::userspace::lock(
            fabric::apply::userspace::LOCK_TIMEOUT,
        )?)
    } else {
        None
    };
    backend.prefetch();
    let t = match shell::topology::read(&live.topology.topology)? {
        Ok(t) => t,
        Err(invalid) => return Ok(Err(Findings(invalid.to_string()))),
    };
    let dir = live
        .secrets
        .secrets
        .clone()
        .unwrap_or_else(|| shell::topology::default_secrets_dir(&live.topology.topology));
    let (keys, secret_values) = SecretsDir::new(&dir).load(&t)?;
    let mut plan = fabric::plan::plan(&t, &keys, &live.layout)?;
    let names = fabric::apply::node::peer_names(&plan);
    let Some(node) = plan.nodes.remove(&live.node) else {
        anyhow::bail!("node {} is not in the topology", live.node);
    };
    tracing::debug!(
        load_ms = start.elapsed().as_secs_f64() * 1e3,
        "topology, secrets and plan loaded"
    );
    if let Some(note) = fabric::apply::node::stand_in_note(&node) {
        eprintln!("{note}");
    }
    Ok(Ok(Live {
        node,
        names,
        secrets: secret_values,
        backend,
        _lock: lock,
    }))
}

pub fn plan(live: LiveArgs) -> anyhow::Result<Result<(), Findings>> {
    let Live {
        node,
        names,
        secrets,
        backend,
        ..
    } = match live_setup(&live, false)? {
        Ok(s) => s,
        Err(f) => return Ok(Err(f)),
    };
    let reports = fabric::apply::node::plan(backend.as_ref(), &node, &secrets, &names)?;
    let mut drift = 0;
    for r in &reports {
        if r.changes.is_empty() {
            println!("{} {}: no change", node.name, r.ifname);
        } else {
            println!("{} {}: {} change(s)", node.name, r.ifname, r.changes.len());
        }
        for c in &r.changes {
            println!("  {c}");
        }
        drift += r.changes.len();
    }
    if drift > 0 {
        return Ok(Err(Findings(format!(
            "{}: {drift} difference(s) from layout {} (run `fabric apply`)",
            node.name, live.layout
        ))));
    }
    Ok(Ok(()))
}

pub fn apply(live: LiveArgs) -> anyhow::Result<Result<(), Findings>> {
    let Live {
        node,
        names,
        secrets,
        mut backend,
        _lock,
    } = match live_setup(&live, true)? {
        Ok(s) => s,
        Err(f) => return Ok(Err(f)),
    };
    let reports = fabric::apply::node::apply(backend.as_mut(), &node, &secrets, &names)?;
    let mut refused = Vec::new();
    for r in &reports {
        let (done, left): (Vec<_>, Vec<_>) = r.changes.iter().partition(|c| c.is_applicable());
        if done.is_empty() {
            println!("{} {}: no change", node.name, r.ifname);
        } else {
            println!(
                "{} {}: applied {} change(s)",
                node.name,
                r.ifname,
                done.len()
            );
        }
        for c in done {
            println!("  {c}");
        }
        refused.extend(
            left.into_iter()
                .map(|c| format!("{} {}: {c}", node.name, r.ifname)),
        );
    }
    if !refused.is_empty() {
        return Ok(Err(Findings(refused.join("\n"))));
    }
    Ok(Ok(()))
}

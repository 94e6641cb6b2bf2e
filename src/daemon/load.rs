//! What the daemon works from: the validated topology, its failover policy, the public keys
//! and the secrets. Loaded at start and again on SIGHUP (a bad topology keeps the old one).

use std::path::Path;

use anyhow::Context;

use crate::model::{FailoverPolicy, Layout, Topology};
use crate::plan::{KeyRing, NodePlan, Plan};
use crate::render::Secrets;
use crate::shell::secrets::SecretsDir;

#[derive(Debug, Clone)]
pub struct Loaded {
    pub topology: Topology,
    pub policy: FailoverPolicy,
    pub keys: KeyRing,
    pub secrets: Secrets,
}

pub fn load(topology: &Path, secrets: &Path) -> anyhow::Result<Loaded> {
    let t = crate::shell::topology::read(topology)?.map_err(anyhow::Error::new)?;
    let policy = t.failover.clone().with_context(|| {
        format!(
            "{} has no failover section (fabric serve needs its policy; see docs/topology.md)",
            topology.display()
        )
    })?;
    let (keys, secrets) = SecretsDir::new(secrets).load_for_node(&t, &policy.controller)?;
    Ok(Loaded {
        topology: t,
        policy,
        keys,
        secrets,
    })
}

impl Loaded {
    /// The shipped topology with its policy and no keys or secrets (unit tests).
    #[cfg(test)]
    pub fn shipped() -> Loaded {
        let t = crate::validate::load(include_str!("../../topology.yaml")).unwrap();
        Loaded {
            policy: t.failover.clone().unwrap(),
            topology: t,
            keys: Default::default(),
            secrets: Default::default(),
        }
    }

    pub fn layout(&self, name: &str) -> anyhow::Result<&Layout> {
        self.topology
            .layouts
            .values()
            .find(|l| l.name.as_str() == name)
            .with_context(|| format!("layout \"{name}\" is not defined in the topology"))
    }

    pub fn plan(&self, layout: &str) -> anyhow::Result<Plan> {
        Ok(crate::plan::plan(&self.topology, &self.keys, layout)?)
    }

    /// The controller's own node plan in `layout` (without planning the other nodes).
    pub fn own_plan(&self, layout: &str) -> anyhow::Result<NodePlan> {
        crate::plan::node_plan(&self.topology, &self.keys, layout, &self.policy.controller)?
            .with_context(|| format!("controller {} is not in the plan", self.policy.controller))
    }
}

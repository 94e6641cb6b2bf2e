//! `fabric agent` processes on the serve lab's spokes (they long-poll the daemon's agent API
//! on VPS01): start, read the applied `(epoch, layout)` and the epochs the log says were
//! applied. Killed by PID on drop (also when a test panics).

use std::path::PathBuf;
use std::process::{Child, Stdio};

use super::serve_lab::Lab;

const FABRIC: &str = env!("CARGO_BIN_EXE_fabric");

pub struct Agent {
    pub node: String,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    child: Child,
}

impl Agent {
    /// Starts `fabric agent --node NODE` in the node's namespace against the daemon in vps01.
    pub fn start(lab: &Lab, node: &str) -> Agent {
        let state_dir = lab.dir.path().join(format!("agent-{node}"));
        let log = lab.dir.path().join(format!("agent-{node}.log"));
        let secrets = fabric::lab::root(&lab.prefix).join("secrets");
        let child = lab
            .node_ns(node)
            .command(&[
                FABRIC,
                "agent",
                "--node",
                node,
                "--controller",
                "https://198.51.100.20:8444",
                "-t",
                lab.topology.to_str().unwrap(),
                "--secrets",
                secrets.to_str().unwrap(),
                "--state-dir",
                state_dir.to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Agent {
            node: node.to_string(),
            state_dir,
            log,
            child,
        }
    }

    /// The agent's persisted last applied `(epoch, layout)`.
    pub fn applied(&self) -> Option<(u64, String)> {
        let p = fabric::agent::state::read(&self.state_dir).ok().flatten()?;
        Some((p.epoch, p.layout))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every epoch the log reports as applied (`applied epoch=N …`), in order.
    pub fn applied_epochs(&self) -> Vec<u64> {
        self.log_text()
            .lines()
            .filter_map(|l| l.split(" applied epoch=").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

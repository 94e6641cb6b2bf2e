//! Command-line interface (clap derive). Exit codes: 0 ok, 1 findings, 2 operational failure.
//!
//! Subcommands are deferred (`#[command(defer = true)]`): only the invoked one's arguments
//! are built, ≈ 0.3 ms less for every run (`fabric --version` 2.50 → 2.17 ms, 300 runs
//! interleaved). Structs that are flattened into a subcommand carry plain comments, not doc
//! comments: deferred, a flattened struct's doc comment would replace the subcommand's help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use fabric::model::NodeName;

#[derive(Debug, Parser)]
#[command(
    name = "fabric",
    version,
    about = "Network fabric controller for a WireGuard + SSTP hub-and-spoke network",
    after_help = "Exit codes: 0 success, 1 findings (invalid topology; `plan`: drift), 2 operational failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct TopologyArg {
    /// The topology file.
    #[arg(short = 't', long = "topology", default_value = "topology.yaml")]
    pub topology: PathBuf,
}

#[derive(Debug, Args)]
pub struct SecretsArg {
    /// The secrets directory [default: secrets/ beside the topology file].
    #[arg(long = "secrets")]
    pub secrets: Option<PathBuf>,
}

impl TopologyArg {
    /// Reads and validates the topology; its findings come back as the inner error (exit 1).
    pub fn read(&self) -> anyhow::Result<Result<fabric::model::Topology, crate::Findings>> {
        Ok(fabric::shell::topology::read(&self.topology)?
            .map_err(|invalid| crate::Findings(invalid.to_string())))
    }
}

impl SecretsArg {
    /// The secrets directory: `--secrets`, else `secrets/` beside the topology file.
    pub fn dir_for(&self, topology: &TopologyArg) -> PathBuf {
        self.secrets
            .clone()
            .unwrap_or_else(|| fabric::shell::topology::default_secrets_dir(&topology.topology))
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Validate the topology and report every finding as FILE:LINE:COL: path: message (hint).
    Check {
        #[command(flatten)]
        topology: TopologyArg,
    },
    /// Create the missing WireGuard private keys and SSTP passwords (files 0600); --rotate
    /// replaces existing ones.
    Keys {
        #[command(flatten)]
        topology: TopologyArg,
        #[command(flatten)]
        secrets: SecretsArg,
        /// Make a new WireGuard private key for a node (NODE: every plane; NODE.PLANE: one),
        /// or a new password for an SSTP client router (CLIENT). The previous value stays in
        /// `<file>.old`. Repeatable.
        #[arg(long, value_name = "NAME")]
        rotate: Vec<String>,
    },
    /// Render wg-quick configs, RouterOS scripts and manifest.json for one layout.
    Render {
        #[command(flatten)]
        topology: TopologyArg,
        #[command(flatten)]
        secrets: SecretsArg,
        /// The layout to render (see `layouts` in the topology).
        #[arg(long, default_value = "primary")]
        layout: String,
        /// Render every layout of the topology, each into OUT/<layout>/.
        #[arg(long, conflicts_with = "layout")]
        all_layouts: bool,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve split DNS for the topology's domain (UDP and TCP) on the access plane.
    Dns {
        #[command(flatten)]
        topology: TopologyArg,
        /// The layout whose access-plane hub serves DNS.
        #[arg(long, default_value = "primary")]
        layout: String,
        /// Listen address (repeatable); default: the access-plane hub's addresses, port 53.
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// UDP sockets per address (SO_REUSEPORT).
        #[arg(long, default_value_t = 2)]
        udp_sockets: usize,
    },
    /// The network-namespace lab: boot the topology on this machine (root), tear it down,
    /// show it, or run a command in a node.
    Lab {
        #[command(subcommand)]
        action: LabAction,
        /// Name prefix of the lab's namespaces (several labs can coexist).
        #[arg(long, default_value = "fl", global = true)]
        prefix: String,
    },
    /// Show how the live WireGuard interfaces of a node differ from the plan (changes
    /// nothing). Exit 1 when there is drift, 0 when there is none.
    Plan {
        #[command(flatten)]
        live: LiveArgs,
    },
    /// Make the live WireGuard interfaces of a node match the plan, in place, and print what
    /// changed ("no change" when nothing did).
    Apply {
        #[command(flatten)]
        live: LiveArgs,
    },
    /// Run on a Linux spoke: long-poll the controller for the current layout (HTTPS, pinned
    /// certificate, per-node token), apply every newer one and force a fresh handshake with
    /// the new hub. Keeps the last good configuration while the controller is unreachable.
    Agent(AgentArgs),
    /// The controller daemon: health checks on the watched hub, failover decisions (epoch
    /// persisted in --state-dir), apply to this node's interfaces, DNS, control socket.
    /// Policy: the topology's `failover` section. SIGHUP reloads.
    Serve {
        #[command(flatten)]
        topology: TopologyArg,
        #[command(flatten)]
        secrets: SecretsArg,
        /// Where state.json (epoch, layout) is kept.
        #[arg(long, default_value = "/var/lib/fabric")]
        state_dir: PathBuf,
        #[command(flatten)]
        control: ControlArg,
        /// DNS listen address (repeatable); default: the access-plane hub's addresses, port 53.
        #[arg(long)]
        dns_listen: Vec<SocketAddr>,
        /// Do not serve DNS.
        #[arg(long)]
        no_dns: bool,
        /// UDP sockets per DNS address (SO_REUSEPORT).
        #[arg(long, default_value_t = 2)]
        udp_sockets: usize,
        /// Where agents long-poll for the layout (HTTPS) [default: the controller's endpoint,
        /// port 8444]. Needs SECRETS/controller/tls.{crt,key} and SECRETS/agents/*.token
        /// (`fabric keys`).
        #[arg(long)]
        agent_api: Option<SocketAddr>,
        /// Do not serve the agent API.
        #[arg(long)]
        no_agent_api: bool,
        /// RouterOS REST credentials for fencing and the `rest` signal: <node>.crt (pinned) and <node>.password
        /// (user `fabric`) [default: SECRETS/routeros].
        #[arg(long)]
        routeros_credentials: Option<PathBuf>,
        /// The fabric CA certificate (PEM) the `tls` signal checks the watched hub's SSTP
        /// certificate against [default: SECRETS/ca/fabric-ca.crt].
        #[arg(long)]
        fabric_ca: Option<PathBuf>,
        /// Serve Prometheus metrics (plain HTTP, `GET /metrics`) on this address, e.g.
        /// 127.0.0.1:9586 or VPS01's wg0 address. No secrets in it; off by default.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
    },
    /// RouterOS hubs over REST (`push`).
    Hub {
        #[command(subcommand)]
        action: HubAction,
    },
    /// Ask the running daemon to switch to a layout now (automatic decisions pause until
    /// `fabric failback`). --dry-run prints the actions and interface changes only.
    Failover {
        /// The layout to switch to.
        #[arg(long)]
        to: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Ask the running daemon to return to the primary layout.
    Failback {
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Show the running daemon's epoch, layout, phase and last health round.
    Status {
        #[command(flatten)]
        control: ControlArg,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum HubAction {
    /// Bring a RouterOS hub's fabric-owned WireGuard interfaces, addresses, peers and routes, PPP
    /// profile and secrets, client-site address list and `fabric-wg` interface list (comment
    /// `fabric:…`) in line with the plan over its REST API; prints every operation (keys and
    /// passwords as `***`) and warnings (a missing client-site forward rule). Objects fabric
    /// does not own are never changed. Exit 0 done, 1 conflicts, 2 error.
    Push(HubPushArgs),
}

#[derive(Debug, Args)]
pub struct HubPushArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
    #[command(flatten)]
    pub secrets: SecretsArg,
    /// The hub (a RouterOS node with a `rest:` section).
    #[arg(long)]
    pub node: NodeName,
    /// The layout whose configuration to push.
    #[arg(long, default_value = "primary")]
    pub layout: String,
    /// Print the operations only.
    #[arg(long)]
    pub dry_run: bool,
    /// <node>.crt (pinned) and <node>.password (user `fabric`) [default: SECRETS/routeros].
    #[arg(long)]
    pub routeros_credentials: Option<PathBuf>,
    /// The hub's REST URL [default: https://<endpoint>:<rest.port> from the topology].
    #[arg(long)]
    pub url: Option<String>,
    /// Remember (in DIR/hub-push/, as `fabric serve --state-dir`) which SSTP passwords the hub
    /// was given, so a later push resends only changed ones; without it every held password
    /// of an existing secret is sent again (RouterOS does not show passwords to the push).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
    #[command(flatten)]
    pub secrets: SecretsArg,
    /// This node.
    #[arg(long)]
    pub node: NodeName,
    /// The controller's agent API, e.g. https://198.51.100.20:8444
    #[arg(long)]
    pub controller: String,
    /// The controller certificate to pin [default: SECRETS/controller/tls.crt].
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The node's bearer token [default: SECRETS/agents/NODE.token].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Where the last applied epoch is kept.
    #[arg(long, default_value = "/var/lib/fabric-agent")]
    pub state_dir: PathBuf,
    /// WireGuard implementation (as for `fabric apply`).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
}

// Where the daemon's control socket is (a plain comment: with deferred subcommands a
// flattened struct's doc comment would replace the command's own help text).
#[derive(Debug, Args)]
pub struct ControlArg {
    /// The control socket of `fabric serve`.
    #[arg(long, default_value = "/run/fabric/control.sock")]
    pub control: PathBuf,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum LabAction {
    /// Create the namespaces and configure every node with `fabric apply`.
    Up {
        #[command(flatten)]
        topology: TopologyArg,
        #[arg(long, default_value = "primary")]
        layout: String,
        /// Also start the RouterOS REST stand-in (not RouterOS) in every RouterOS hub with a
        /// `rest:` section, on its endpoint and REST port; credentials and certificates go to
        /// /run/fabric-lab/PREFIX/rest/. Also a TLS listener (not SSTP) on every hub's SSTP
        /// port, with a certificate from a lab fabric CA (PREFIX/secrets/ca/fabric-ca.crt).
        #[arg(long)]
        rest_standins: bool,
    },
    /// Stop every process in the lab's namespaces and delete them.
    Down,
    /// Show the lab's namespaces and their WireGuard state.
    Status,
    /// A stand-in for a CHR's RouterOS REST service (not RouterOS): serves the REST subset
    /// fabric uses over TLS and applies WireGuard peer changes to this namespace's interfaces.
    /// Run it inside the hub's namespace: `fabric lab exec chr01 -- fabric lab rest-standin …`.
    #[command(hide = true)]
    RestStandin(RestStandinArgs),
    /// A stand-in for a CHR's SSTP server TLS (TLS only, not SSTP): completes TLS handshakes
    /// with the given certificate, then closes.
    #[command(hide = true)]
    SstpTlsStandin {
        /// Address to listen on, e.g. 203.0.113.10:443.
        #[arg(long)]
        listen: SocketAddr,
        /// Certificate (PEM, the chain to present) and its key.
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Run a command inside a node's namespace, e.g. `fabric lab exec z640 -- ping 10.0.12.20`.
    Exec {
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

// Arguments shared by `plan` and `apply` (live state of one node); a plain comment, as on
// `ControlArg`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
    #[command(flatten)]
    pub secrets: SecretsArg,
    /// The node whose interfaces to read (this machine).
    #[arg(long)]
    pub node: NodeName,
    /// The layout to apply (see `layouts` in the topology).
    #[arg(long, default_value = "primary")]
    pub layout: String,
    /// WireGuard implementation: auto = each existing interface with the implementation that
    /// holds it, new ones in the kernel when the wireguard module is available, else
    /// wireguard-go (userspace)
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Auto,
    Userspace,
    Kernel,
}

#[derive(Debug, Args)]
pub struct RestStandinArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
    #[command(flatten)]
    pub secrets: SecretsArg,
    /// The hub this stands in for (its interfaces are imported; its peers are named).
    #[arg(long)]
    pub node: NodeName,
    #[arg(long, default_value = "primary")]
    pub layout: String,
    /// Address to serve HTTPS on, e.g. 203.0.113.10:8443.
    #[arg(long)]
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM); created self-signed for the listen address if missing.
    #[arg(long)]
    pub cert: PathBuf,
    #[arg(long)]
    pub key: PathBuf,
    /// Basic-auth user.
    #[arg(long, default_value = "fabric")]
    pub user: String,
    /// File holding the Basic-auth password (0600).
    #[arg(long)]
    pub password_file: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's help text is its own: a flattened struct's doc comment leaking in
    /// through a deferred subcommand shows up as the same text under several commands.
    #[test]
    fn sibling_subcommands_have_their_own_help_texts() {
        fn check(cmd: &mut clap::Command, path: &str) {
            cmd.build();
            let mut seen = std::collections::BTreeMap::new();
            for sub in cmd.get_subcommands_mut() {
                let name = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                assert!(!about.is_empty(), "{name}: no help text");
                if let Some(other) = seen.insert(about.clone(), name.clone()) {
                    panic!("{name} and {other} share the help text {about:?}");
                }
                check(sub, &name);
            }
        }
        check(&mut super::Cli::command(), "fabric");
    }
}

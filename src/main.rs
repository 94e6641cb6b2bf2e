//! `fabric` binary: parses the command line, runs the command, owns printing and exit codes.

mod cli;
mod early_memory;
mod hub_cmd;

/// mimalloc: topology loading is allocation-bound (many small strings); measured below.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod live;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, LabAction};
use fabric::shell::{self, secrets::SecretsDir};

/// A failure that is a finding about the input (exit 1), not an operational error (exit 2).
pub struct Findings(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    {
        use tracing_subscriber::prelude::*;
        let log = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        let filter = fabric::logging::log_filter(std::env::var("RUST_LOG").ok().as_deref());
        tracing_subscriber::registry()
            .with(log.with_filter(filter))
            .init();
    }
    match run(cli) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Findings(text))) => {
            eprintln!("{text}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("fabric: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Result<(), Findings>> {
    match cli.command {
        Command::Check { topology } => {
            let t = match topology.read()? {
                Ok(t) => t,
                Err(findings) => return Ok(Err(findings)),
            };
            println!(
                "{}: valid ({} nodes, {} planes, {} client routers, {} layouts)",
                topology.topology.display(),
                t.nodes.len(),
                t.planes.len(),
                t.sstp.as_ref().map_or(0, |s| s.clients.len()),
                t.layouts.len()
            );
        }
        Command::Keys {
            topology,
            secrets,
            rotate,
        } => {
            let t = match topology.read()? {
                Ok(t) => t,
                Err(findings) => return Ok(Err(findings)),
            };
            let dir = secrets.dir_for(&topology);
            let secrets_dir = SecretsDir::new(&dir);
            let report = secrets_dir.generate_missing(&t)?;
            for path in &report.created {
                println!("created {path}");
            }
            println!(
                "{}: {} created, {} already present",
                dir.display(),
                report.created.len(),
                report.present
            );
            keys_rotate(&secrets_dir, &t, &rotate)?;
        }
        Command::Render {
            topology,
            secrets,
            layout,
            all_layouts,
            out,
        } => {
            let t = match topology.read()? {
                Ok(t) => t,
                Err(findings) => return Ok(Err(findings)),
            };
            let dir = secrets.dir_for(&topology);
            let (keys, secret_values) = SecretsDir::new(&dir).load(&t)?;
            let targets: Vec<(String, std::path::PathBuf)> = if all_layouts {
                t.layouts
                    .keys()
                    .map(|l| (l.to_string(), out.join(l.as_str())))
                    .collect()
            } else {
                vec![(layout, out)]
            };
            for (layout, out) in targets {
                if all_layouts {
                    println!("== layout {layout} -> {}", out.display());
                }
                let plan = fabric::plan::plan(&t, &keys, &layout)?;
                let artifacts = fabric::render::render(&plan, &secret_values);
                for line in shell::output::write_artifacts(&out, &artifacts)? {
                    println!("{line}");
                }
            }
        }
        Command::Dns {
            topology,
            layout,
            listen,
            udp_sockets,
        } => {
            if let Err(e) = shell::dns_service::build(&topology.topology, &layout)
                && let Some(invalid) = e.downcast_ref::<shell::topology::Invalid>()
            {
                return Ok(Err(Findings(invalid.to_string())));
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(shell::dns_service::run(
                topology.topology,
                layout,
                listen,
                udp_sockets,
            ))?;
        }
        Command::Lab { action, prefix } => match action {
            LabAction::Up {
                topology,
                layout,
                rest_standins,
            } => {
                let t = match topology.read()? {
                    Ok(t) => t,
                    Err(findings) => return Ok(Err(findings)),
                };
                let spec = fabric::lab::LabSpec {
                    prefix,
                    topology: std::fs::canonicalize(&topology.topology)?,
                    layout,
                    fabric: std::env::current_exe()?,
                    rest_standins,
                };
                for line in fabric::lab::up(&spec, &t)? {
                    println!("{line}");
                }
            }
            LabAction::Down => {
                for line in fabric::lab::down(&prefix)? {
                    println!("{line}");
                }
            }
            LabAction::Status => print!("{}", fabric::lab::status(&prefix)?),
            LabAction::RestStandin(args) => live::rest_standin(args)?,
            LabAction::SstpTlsStandin { listen, cert, key } => {
                live::sstp_tls_standin(listen, &cert, &key)?
            }
            LabAction::Exec { node, command } => {
                let status = fabric::lab::exec(&prefix, &node, &command)?;
                if !status.success() {
                    anyhow::bail!("command exited with {status}");
                }
            }
        },
        Command::Serve {
            topology,
            secrets,
            state_dir,
            control,
            dns_listen,
            no_dns,
            udp_sockets,
            agent_api,
            no_agent_api,
            routeros_credentials,
            fabric_ca,
            metrics,
        } => {
            if let Err(e) =
                fabric::daemon::load::load(&topology.topology, &secrets.dir_for(&topology))
                && let Some(invalid) = e.downcast_ref::<shell::topology::Invalid>()
            {
                return Ok(Err(Findings(invalid.to_string())));
            }
            let opts = fabric::daemon::ServeOptions {
                secrets: secrets.dir_for(&topology),
                topology: topology.topology,
                state_dir,
                control: control.control,
                dns_listen,
                dns: !no_dns,
                udp_sockets,
                reconcile_every: fabric::daemon::RECONCILE_EVERY,
            };
            let wiring = ServeWiring {
                agent_api: (!no_agent_api).then_some(agent_api),
                routeros_credentials: routeros_credentials
                    .unwrap_or_else(|| opts.secrets.join("routeros")),
                fabric_ca: fabric_ca.unwrap_or_else(|| opts.secrets.join("ca/fabric-ca.crt")),
                metrics,
            };
            serve(opts, wiring)?;
        }
        Command::Failover {
            to,
            dry_run,
            control,
        } => {
            return control_call(
                &control.control,
                &fabric::daemon::control::Request::Failover { to, dry_run },
            );
        }
        Command::Failback { dry_run, control } => {
            return control_call(
                &control.control,
                &fabric::daemon::control::Request::Failback { dry_run },
            );
        }
        Command::Status { control } => {
            return control_call(&control.control, &fabric::daemon::control::Request::Status);
        }
        Command::Hub {
            action: cli::HubAction::Push(args),
        } => return hub_cmd::push(args),
        Command::Plan { live } => return live::plan(live),
        Command::Apply { live } => return live::apply(live),
        Command::Agent(args) => live::agent(args)?,
    }
    Ok(Ok(()))
}

/// How `fabric serve` is plugged together beyond [`fabric::daemon::ServeOptions`].
/// `fabric keys --rotate`: every name is checked before anything changes, then rotated, then
/// the steps that carry the new values to where they are used are printed.
fn keys_rotate(
    secrets: &SecretsDir,
    t: &fabric::model::Topology,
    names: &[String],
) -> anyhow::Result<()> {
    use fabric::shell::rotate::Target;
    let mut targets = Vec::new();
    for name in names {
        for target in secrets.rotation_targets(t, name)? {
            if !targets.contains(&target) {
                targets.push(target); // `vps01` and `vps01.wg0` rotate wg0 once
            }
        }
    }
    for target in &targets {
        println!("{}", secrets.rotate(target)?);
    }
    let wireguard = targets.iter().any(|t| matches!(t, Target::WireGuard(_)));
    let sstp = targets.iter().any(|t| matches!(t, Target::SstpPassword(_)));
    if wireguard {
        println!(
            "next: `systemctl reload fabric` on VPS01 (applies its own interfaces, pushes the \
             RouterOS hubs); a rotated Linux node gets its new wg/NODE.PLANE.key, and every Linux \
             node that peers with it the new .pub, then `fabric apply --node NODE` there (or an \
             agent restart); macOS/iOS peers get a re-rendered wg-quick file"
        );
    }
    if sstp {
        println!(
            "next: `systemctl reload fabric` on VPS01 (or `fabric hub push`) sets the new \
             password on the hubs; `fabric render` and import the client's RouterOS v6 script"
        );
    }
    Ok(())
}

struct ServeWiring {
    /// `None`: no agent API; `Some(None)`: on the controller's endpoint, port 8444.
    agent_api: Option<Option<std::net::SocketAddr>>,
    routeros_credentials: std::path::PathBuf,
    fabric_ca: std::path::PathBuf,
    metrics: Option<std::net::SocketAddr>,
}

/// The port agents long-poll on by default.
const AGENT_API_PORT: u16 = 8444;

/// `fabric serve` with the real backend and probes, the REST fencer, and the agent API
/// reading the daemon's published decisions.
fn serve(opts: fabric::daemon::ServeOptions, wiring: ServeWiring) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let backend = fabric::apply::node::backend(fabric::apply::node::BackendKind::Auto)?;
    let (published, _keep) = tokio::sync::watch::channel(fabric::failover::Published {
        epoch: 0,
        layout: String::new(),
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    if let Some(listen) = wiring.agent_api {
        let loaded = fabric::daemon::load::load(&opts.topology, &opts.secrets)?;
        let secrets = SecretsDir::new(&opts.secrets);
        let listen = match listen {
            Some(addr) => addr,
            None => {
                let controller = &loaded.policy.controller;
                let ip = loaded
                    .topology
                    .nodes
                    .values()
                    .find(|n| n.name.as_str() == controller.as_str())
                    .and_then(|n| n.endpoint)
                    .ok_or_else(|| anyhow::anyhow!("controller {controller} has no endpoint for the agent API (set --agent-api or --no-agent-api)"))?;
                std::net::SocketAddr::new(ip, AGENT_API_PORT)
            }
        };
        let tls = secrets
            .controller_tls()
            .context("agent API certificate (run `fabric keys`)")?;
        let tokens = secrets.agent_tokens(&loaded.topology)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .with_context(|| format!("binding the agent API on {listen}"))?;
        tracing::info!(%listen, agents = tokens.len(), "agent API listening");
        runtime.spawn(fabric::control::agent_api::serve(
            listener,
            tls,
            tokens,
            published.subscribe(),
            shutdown.clone(),
        ));
    }
    let metrics = match wiring.metrics {
        Some(addr) => Some(
            runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .with_context(|| format!("binding the metrics listener on {addr}"))?,
        ),
        None => None,
    };
    let hub_locks = fabric::daemon::hub_locks::HubLocks::default();
    let plugins = fabric::daemon::Plugins {
        backend: std::sync::Arc::new(std::sync::Mutex::new(backend)),
        fencer: Box::new(fabric::daemon::rest_fencer::RestFencer::new(
            wiring.routeros_credentials.clone(),
            hub_locks.clone(),
        )),
        probes: fabric::daemon::monitor::RealProbes {
            fabric_ca: wiring.fabric_ca,
            credentials: wiring.routeros_credentials.clone(),
        }
        .factory(),
        published,
        apply_lock: true,
        routeros_rest: Some(wiring.routeros_credentials),
        metrics,
        hub_locks,
    };
    let result = runtime.block_on(fabric::daemon::run(opts, plugins, shutdown.clone()));
    shutdown.cancel();
    result
}

/// Sends one request to the daemon; prints its answer. A refused request exits 1.
fn control_call(
    path: &std::path::Path,
    req: &fabric::daemon::control::Request,
) -> anyhow::Result<Result<(), Findings>> {
    let answer = fabric::daemon::control::call(path, req, std::time::Duration::from_secs(60))?;
    if answer.ok {
        print!("{}", answer.text);
        Ok(Ok(()))
    } else {
        Ok(Err(Findings(answer.text)))
    }
}

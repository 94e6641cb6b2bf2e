//! `fabric plan` and `fabric apply`: load the node's plan and secrets, pick the WireGuard
//! backend, print one line per change. Exit 1 for drift (`plan`) or changes fabric cannot
//! make (`apply`: a node-held private key).

use std::io::Write;

use fabric::shell::{self, secrets::SecretsDir};

use crate::Findings;
use crate::cli::{AgentArgs, BackendArg, LiveArgs, RestStandinArgs};

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
    let backend = fabric::apply::node::backend(backend_kind(live.backend))?;
    // The lock lives in /var/run/wireguard for both backends (the netns lab makes it per node).
    let lock = if lock {
        Some(fabric::apply::userspace::lock(
            fabric::apply::userspace::LOCK_TIMEOUT,
        )?)
    } else {
        None
    };
    backend.prefetch();
    let t = match live.topology.read()? {
        Ok(t) => t,
        Err(findings) => return Ok(Err(findings)),
    };
    let dir = live.secrets.dir_for(&live.topology);
    let (keys, secret_values) = SecretsDir::new(&dir).load_for_node(&t, &live.node)?;
    let Some(node) = fabric::plan::node_plan(&t, &keys, &live.layout, &live.node)? else {
        anyhow::bail!("node {} is not in the topology", live.node);
    };
    let names = fabric::apply::node::peer_names(&keys);
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
    // One write for the whole report: a 1,000-peer change is 1,000 lines.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut drift = 0;
    for r in &reports {
        if r.changes.is_empty() {
            writeln!(out, "{} {}: no change", node.name, r.ifname)?;
        } else {
            writeln!(
                out,
                "{} {}: {} change(s)",
                node.name,
                r.ifname,
                r.changes.len()
            )?;
        }
        for c in &r.changes {
            writeln!(out, "  {c}")?;
        }
        drift += r.changes.len();
    }
    out.flush()?;
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
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut refused = Vec::new();
    for r in &reports {
        let (done, left): (Vec<_>, Vec<_>) = r.changes.iter().partition(|c| c.is_applicable());
        if done.is_empty() {
            writeln!(out, "{} {}: no change", node.name, r.ifname)?;
        } else {
            writeln!(
                out,
                "{} {}: applied {} change(s)",
                node.name,
                r.ifname,
                done.len()
            )?;
        }
        for c in done {
            writeln!(out, "  {c}")?;
        }
        refused.extend(
            left.into_iter()
                .map(|c| format!("{} {}: {c}", node.name, r.ifname)),
        );
    }
    out.flush()?;
    if !refused.is_empty() {
        return Ok(Err(Findings(refused.join("\n"))));
    }
    Ok(Ok(()))
}

fn backend_kind(b: BackendArg) -> fabric::apply::node::BackendKind {
    match b {
        BackendArg::Auto => fabric::apply::node::BackendKind::Auto,
        BackendArg::Userspace => fabric::apply::node::BackendKind::Userspace,
        BackendArg::Kernel => fabric::apply::node::BackendKind::Kernel,
    }
}

/// `fabric agent`: runs until SIGINT/SIGTERM.
pub fn agent(args: AgentArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let secrets = args.secrets.dir_for(&args.topology);
    let dir = SecretsDir::new(&secrets);
    let ca = args
        .ca
        .clone()
        .unwrap_or_else(|| dir.controller_cert_path());
    let token_file = args
        .token_file
        .clone()
        .unwrap_or_else(|| dir.agent_token_path(args.node.as_str()));
    let pinned = std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?;
    let token = shell::secrets::read_secret(&token_file)?
        .with_context(|| format!("{} is missing (run `fabric keys`)", token_file.display()))?;
    let client = fabric::agent::ControllerClient::new(
        &args.controller,
        &pinned,
        fabric::model::Secret::new(token),
    )?;
    let applier = fabric::agent::NodeApplier {
        node: args.node.clone(),
        topology: args.topology.topology.clone(),
        secrets,
        backend: backend_kind(args.backend),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = tokio_util::sync::CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        tracing::info!(node = %args.node, controller = %args.controller, "agent started");
        fabric::agent::AgentLoop {
            client,
            state_dir: args.state_dir.clone(),
            backoff: fabric::agent::Backoff::new(
                std::time::Duration::from_millis(250),
                std::time::Duration::from_secs(10),
            ),
        }
        .run(applier, shutdown)
        .await
    })
}

/// Cancels the token on SIGINT or SIGTERM.
fn cancel_on_signals(stop: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        stop.cancel();
    });
}

/// `fabric lab rest-standin`: the lab's stand-in for a CHR's REST service (not RouterOS).
/// The stand-in's `/ppp/active`: the lab's SSTP stand-in tunnels are peers of the hub's
/// `sstp` WireGuard interface (`wg show sstp dump`); no such interface = no sessions.
fn standin_ppp(
    sstp: Option<&fabric::model::Sstp>,
) -> anyhow::Result<Vec<fabric::routeros_rest::Record>> {
    let Some(sstp) = sstp else {
        return Ok(Vec::new());
    };
    let out = std::process::Command::new("wg")
        .args(["show", "sstp", "dump"])
        .output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such device") || err.contains("Unable to access interface") {
            return Ok(Vec::new());
        }
        anyhow::bail!("wg show sstp dump: {}", err.trim());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(fabric::routeros_rest::sstp_usage::standin_sessions(
        &String::from_utf8_lossy(&out.stdout),
        sstp,
        now,
    ))
}

pub fn rest_standin(args: RestStandinArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use fabric::routeros_rest::standin;
    let t = match shell::topology::read(&args.topology.topology)? {
        Ok(t) => t,
        Err(invalid) => anyhow::bail!("{invalid}"),
    };
    let secrets = args.secrets.dir_for(&args.topology);
    let (keys, _) = SecretsDir::new(&secrets).load(&t)?;
    let node = fabric::plan::node_plan(&t, &keys, &args.layout, &args.node)?
        .with_context(|| format!("node {} is not in the topology", args.node))?;
    let names = fabric::apply::node::peer_names(&keys);
    let ifnames: Vec<_> = node.interfaces.iter().map(|i| i.plane.clone()).collect();
    let mut store = standin::import_live(
        &fabric::apply::userspace::UserspaceBackend::default(),
        &ifnames,
        &names,
    )?;
    if node.sstp_server.is_some() {
        // As after an import of the hub's `.rsc`: the rule that keeps client sites apart.
        let rule = standin::client_site_forward_rule();
        store.insert(fabric::routeros_rest::Menu::FirewallFilter, rule);
    }
    if !args.cert.exists() || !args.key.exists() {
        let cert = fabric::tls::self_signed(
            &[format!("{}-rest-standin", args.node)],
            &[args.listen.ip()],
        )?;
        shell::output::write_atomic(&args.key, cert.key_pem.expose().as_bytes(), 0o600)?;
        shell::output::write_atomic(&args.cert, cert.cert_pem.as_bytes(), 0o644)?;
    }
    let cert =
        std::fs::read(&args.cert).with_context(|| format!("reading {}", args.cert.display()))?;
    let key = shell::secrets::read_secret(&args.key)?
        .with_context(|| format!("{} is missing", args.key.display()))?;
    let tls = fabric::tls::server_config(&cert, &fabric::model::Secret::new(key + "\n"))?;
    let password = shell::secrets::read_secret(&args.password_file)?
        .with_context(|| format!("{} is missing", args.password_file.display()))?;
    let creds = standin::Credentials {
        user: args.user.clone(),
        password: fabric::model::Secret::new(password),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        eprintln!(
            "fabric REST stand-in for {} on https://{} (a stand-in, not RouterOS)",
            args.node, args.listen
        );
        let sstp = t.sstp.clone();
        let ppp: standin::PppSource = std::sync::Arc::new(move || standin_ppp(sstp.as_ref()));
        standin::serve(
            listener,
            tls,
            creds,
            store,
            std::sync::Arc::new(standin::WgTool),
            args.node.to_string(),
            ppp,
            shutdown,
        )
        .await;
        Ok(())
    })
}

/// `fabric lab sstp-tls-standin`: the lab's stand-in for a CHR's SSTP server TLS (not SSTP).
pub fn sstp_tls_standin(
    listen: std::net::SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = shell::secrets::read_secret(key)?
        .with_context(|| format!("{} is missing", key.display()))?;
    let tls = fabric::tls::server_config(&cert_pem, &fabric::model::Secret::new(key_pem + "\n"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        eprintln!("fabric SSTP-TLS stand-in listening on {listen} (TLS only, not SSTP)");
        fabric::lab::sstp_tls::serve(listener, tls, shutdown).await;
        Ok(())
    })
}

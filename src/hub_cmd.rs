//! `fabric hub push`: one RouterOS hub brought in line with the plan over REST
//! (`fabric::routeros_rest::hub`), printing every operation (private keys and SSTP passwords
//! as `***`).

use anyhow::Context;

use std::collections::BTreeMap;

use crate::Findings;
use crate::cli::HubPushArgs;
use fabric::shell::hub_marks::HubMarks;
use fabric::shell::secrets::SecretsDir;

pub fn push(args: HubPushArgs) -> anyhow::Result<Result<(), Findings>> {
    let t = match args.topology.read()? {
        Ok(t) => t,
        Err(findings) => return Ok(Err(findings)),
    };
    let dir = args.secrets.dir_for(&args.topology);
    let secrets = SecretsDir::new(&dir);
    // The hub's own private key when this machine holds it (sent only if the hub's public
    // key is wrong); otherwise the public keys suffice.
    let (keys, mut values) = match secrets.load_for_node(&t, &args.node) {
        Ok(k) => k,
        Err(e) => {
            let controller = t.failover.as_ref().map(|f| f.controller.clone());
            let fallback = controller.map(|c| secrets.load_for_node(&t, &c));
            match fallback {
                Some(Ok(k)) => {
                    eprintln!("note: {e:#}; pushing without {}'s private key", args.node);
                    k
                }
                _ => return Err(e),
            }
        }
    };
    let plan = fabric::plan::plan(&t, &keys, &args.layout)?;
    let node = plan
        .nodes
        .get(&args.node)
        .with_context(|| format!("node {} is not in the topology", args.node))?;
    if node.platform != fabric::model::Platform::RouterosV7 || node.rest.is_none() {
        anyhow::bail!("{} is not a RouterOS hub with a rest: section", args.node);
    }
    // The hub's SSTP client passwords, read now (a missing one: that secret is not added).
    if let Some(sstp) = &node.sstp_server {
        let (found, problems) = secrets.sstp_passwords(sstp.secrets.iter().map(|c| &c.client));
        for p in problems {
            eprintln!("warning: {p}");
        }
        values.passwords = found;
    }
    let mut desired = fabric::routeros_rest::hub::desired(node, &values);
    let marks = args.state_dir.as_deref().map(HubMarks::new);
    let remembered = match &marks {
        Some(m) => {
            desired.mark_passwords(&m.key()?);
            m.load(args.node.as_str())?
        }
        None => BTreeMap::new(),
    };
    let creds = args
        .routeros_credentials
        .unwrap_or_else(|| dir.join("routeros"));
    let (client, url) = fabric::daemon::rest_clients::client_at(
        &t,
        args.node.as_str(),
        &creds,
        args.url.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime
        .block_on(fabric::routeros_rest::hub::push::push_remembering(
            &client,
            &desired,
            &remembered,
            args.dry_run,
        ))
        .with_context(|| format!("pushing to {} ({url})", args.node))?;
    if let Some(m) = &marks
        && !args.dry_run
        && outcome.diff.marks != remembered
    {
        m.save(args.node.as_str(), &outcome.diff.marks)?;
    }
    let d = &outcome.diff;
    println!("{} at {url} (layout {}):", args.node, args.layout);
    for op in &d.ops {
        println!("{op}");
    }
    for w in &d.warnings {
        println!("warning: {w}");
    }
    for c in &d.conflicts {
        println!("conflict: {c}");
    }
    if args.dry_run {
        println!(
            "dry run: {} operation(s) for {} (layout {}), nothing changed",
            d.ops.len(),
            args.node,
            args.layout
        );
    } else if d.ops.is_empty() {
        println!("no change");
    } else {
        println!("{}: {} operation(s) applied", args.node, outcome.done);
    }
    if d.conflicts.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(Findings(format!(
            "{} conflict(s) with objects fabric does not own",
            d.conflicts.len()
        ))))
    }
}

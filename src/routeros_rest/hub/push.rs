//! The shell of a hub push: `GET` the menus it manages (lists filtered to fabric's, filter
//! rules to those towards the client sites), [`diff`](super::diff), run the operations in
//! order with the [`RestClient`]. Stops at the first failed operation (the next push starts
//! again from what is live).

use std::collections::{BTreeMap, BTreeSet};

use super::{Desired, Diff, OpKind, diff_remembering};
use crate::render::routeros::{CLIENT_SITES, FABRIC_WG};
use crate::routeros_rest::{Menu, Record, RestClient, RestError};

/// What a push did (or, with `dry_run`, would do).
#[derive(Debug)]
pub struct Outcome {
    pub diff: Diff,
    /// How many operations ran (all of them unless one failed; 0 on a dry run).
    pub done: usize,
}

/// The records of the menus a push manages.
pub async fn read_live(client: &RestClient) -> Result<BTreeMap<Menu, Vec<Record>>, RestError> {
    let mut live = BTreeMap::new();
    for menu in [
        Menu::Wireguard,
        Menu::IpAddress,
        Menu::WireguardPeers,
        Menu::IpRoute,
        Menu::PppProfile,
        Menu::PppSecret,
    ] {
        live.insert(menu, client.list(menu, &[]).await?);
    }
    // Only fabric's list: a hub may hold large dynamic lists (blocklists, DNS-filled).
    let sites = client
        .list(Menu::AddressList, &[("list", CLIENT_SITES)])
        .await?;
    live.insert(Menu::AddressList, sites);
    let list = [("name", FABRIC_WG)];
    live.insert(
        Menu::InterfaceList,
        client.list(Menu::InterfaceList, &list).await?,
    );
    let members = [("list", FABRIC_WG)];
    let members = client.list(Menu::InterfaceListMember, &members).await?;
    live.insert(Menu::InterfaceListMember, members);
    // The rules towards the client sites (a hub may hold hundreds of others).
    let towards_sites = [("dst-address-list", CLIENT_SITES)];
    let rules = client.list(Menu::FirewallFilter, &towards_sites).await?;
    live.insert(Menu::FirewallFilter, rules);
    Ok(live)
}

/// A push that stopped: while reading (`op` None) or at operation `op` after `done` others.
#[derive(Debug, thiserror::Error)]
#[error("{}{error}", op.as_ref().map(|o| format!("{o} (after {done} operation(s)): ")).unwrap_or_else(|| "reading the hub: ".into()))]
pub struct PushError {
    pub op: Option<String>,
    pub done: usize,
    pub error: RestError,
}

/// Reads, diffs and (unless `dry_run`) applies, in order; stops at the first failure. No
/// password marks are remembered (see [`push_remembering`]).
pub async fn push(
    client: &RestClient,
    desired: &Desired,
    dry_run: bool,
) -> Result<Outcome, PushError> {
    push_remembering(client, desired, &BTreeMap::new(), dry_run).await
}

/// As [`push`]; `remembered` = PPP user → the password mark last pushed to this hub (the
/// outcome's `diff.marks` is what to remember after a complete push).
pub async fn push_remembering(
    client: &RestClient,
    desired: &Desired,
    remembered: &BTreeMap<String, String>,
    dry_run: bool,
) -> Result<Outcome, PushError> {
    let live = read_live(client).await.map_err(|error| PushError {
        op: None,
        done: 0,
        error,
    })?;
    let d = diff_remembering(desired, &live, remembered);
    if dry_run {
        return Ok(Outcome { diff: d, done: 0 });
    }
    // RouterOS keeps a session up when its secret is removed: the removed clients' sessions
    // end before their sites leave the client-site list (or after the last operation).
    let mut removed = removed_users(&d, &live);
    let mut done = 0;
    for op in &d.ops {
        if !removed.is_empty()
            && op.menu == Menu::AddressList
            && matches!(op.kind, OpKind::Remove { .. })
        {
            end_sessions(client, &std::mem::take(&mut removed), "removed", done).await?;
        }
        let r = match &op.kind {
            OpKind::Add => client.add(op.menu, &op.body).await.map(|_| ()),
            OpKind::Set { id } => client.set(op.menu, id, &op.body).await.map(|_| ()),
            OpKind::Remove { id } => client.remove(op.menu, id).await,
        };
        if let Err(error) = r {
            return Err(PushError {
                op: Some(op.to_string()),
                done,
                error,
            });
        }
        done += 1;
    }
    end_sessions(client, &removed, "removed", done).await?;
    // A disabled secret does not end a session that is up: a hub that must refuse its
    // client routers (one they prefer over the layout's SSTP hub) ends theirs.
    let refused: BTreeSet<String> = desired
        .objects
        .iter()
        .filter(|o| {
            o.menu == Menu::PppSecret && o.record.get("disabled").is_some_and(|v| v == "true")
        })
        .filter_map(|o| o.record.get("name").cloned())
        .collect();
    end_sessions(client, &refused, "refused", done).await?;
    Ok(Outcome { diff: d, done })
}

/// The PPP users whose secrets the diff removes.
fn removed_users(d: &Diff, live: &BTreeMap<Menu, Vec<Record>>) -> BTreeSet<String> {
    let secrets = live.get(&Menu::PppSecret).map_or(&[][..], Vec::as_slice);
    d.ops
        .iter()
        .filter(|op| op.menu == Menu::PppSecret)
        .filter_map(|op| match &op.kind {
            OpKind::Remove { id } => secrets
                .iter()
                .find(|r| r.get(".id") == Some(id))
                .and_then(|r| r.get("name").cloned()),
            _ => None,
        })
        .collect()
}

/// Ends the SSTP sessions of `users` (none: nothing to do).
async fn end_sessions(
    client: &RestClient,
    users: &BTreeSet<String>,
    which: &str,
    done: usize,
) -> Result<(), PushError> {
    if users.is_empty() {
        return Ok(());
    }
    client
        .end_sstp_sessions(users)
        .await
        .map(|_| ())
        .map_err(|error| PushError {
            op: Some(format!("end the {which} clients' SSTP sessions")),
            done,
            error,
        })
}

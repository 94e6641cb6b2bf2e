//! Link-level state of an interface: read over rtnetlink ([`super::rtnl`]), changed through
//! iproute2 (`ip link set`, `ip addr add/del`, `ip route replace/del`): IPv4 addresses, MTU, admin up,
//! and the routes fabric owns (tagged [`FABRIC_PROTO`]). Every command runs with a deadline.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ipnet::Ipv4Net;

/// Upper bound for one `ip` (or other helper) command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// The route protocol number fabric tags its routes with (`proto 102`, unassigned in
/// /etc/iproute2/rt_protos), so it removes only routes it added.
pub const FABRIC_PROTO: u8 = 102;

/// The link state of one interface; `None` when there is no such link.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkObserved {
    pub mtu: Option<u16>,
    pub up: bool,
    pub addresses: Vec<Ipv4Net>,
    /// Routes through the link tagged [`FABRIC_PROTO`].
    pub routes: Vec<Ipv4Net>,
}

/// Runs `program args…`, killing it after `timeout`. Returns stdout; an error with stderr
/// when it fails.
pub fn run(program: &str, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
    run_command(Command::new(program).args(args), timeout)
}

/// Runs `cmd` with stdin closed and its output captured, killing it after `timeout`. Output
/// held open by something it started (a daemon) does not block past the deadline.
pub fn run_command(cmd: &mut Command, timeout: Duration) -> anyhow::Result<String> {
    let what = format!("{cmd:?}");
    // Untranslated messages: a removal of what is already gone is recognised by its text.
    let mut child = cmd
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let (tx, rx) = mpsc::channel();
    for (i, pipe) in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut pipe = pipe;
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = tx.send((i, text));
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {timeout:?}; killed it");
        }
        thread::sleep(Duration::from_millis(1));
    };
    let mut streams = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(500))) {
            Ok((i, text)) => streams[i] = text,
            Err(_) => break, // a daemon it started holds the pipe: keep what we have
        }
    }
    let [stdout, stderr] = streams;
    if !status.success() {
        bail!("{what} failed ({status}): {}", stderr.trim());
    }
    Ok(stdout)
}

/// The link `ifname`, or `None` when it does not exist (read over rtnetlink, see
/// [`super::rtnl`]).
pub fn read(ifname: &str) -> anyhow::Result<Option<LinkObserved>> {
    super::rtnl::read(ifname, FABRIC_PROTO, CMD_TIMEOUT)
}

pub fn set_mtu(ifname: &str, mtu: u16) -> anyhow::Result<()> {
    run(
        "ip",
        &["link", "set", "dev", ifname, "mtu", &mtu.to_string()],
        CMD_TIMEOUT,
    )
    .map(drop)
}

pub fn set_up(ifname: &str) -> anyhow::Result<()> {
    run("ip", &["link", "set", "dev", ifname, "up"], CMD_TIMEOUT).map(drop)
}

pub fn add_address(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    run(
        "ip",
        &["addr", "add", &net.to_string(), "dev", ifname],
        CMD_TIMEOUT,
    )
    .map(drop)
}

/// Removes `net` from `ifname`; one already gone (removed by hand or by another tool since
/// the read) is what was wanted.
pub fn del_address(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    let result = run(
        "ip",
        &["addr", "del", &net.to_string(), "dev", ifname],
        CMD_TIMEOUT,
    );
    let gone = [
        "Error: ipv4: Address not found",
        "RTNETLINK answers: Cannot assign requested address",
    ];
    already_gone(result, &gone)
}

/// Adds (or takes over) the route `net` through `ifname`, tagged as fabric's.
pub fn replace_route(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    let (net, proto) = (net.to_string(), FABRIC_PROTO.to_string());
    let args = ["route", "replace", &net, "dev", ifname, "proto", &proto];
    run("ip", &args, CMD_TIMEOUT).map(drop)
}

/// Removes fabric's route `net` through `ifname`; one already gone is what was wanted.
pub fn del_route(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    let net = net.to_string();
    let proto = FABRIC_PROTO.to_string();
    let args = ["route", "del", &net, "dev", ifname, "proto", &proto];
    already_gone(
        run("ip", &args, CMD_TIMEOUT),
        &["RTNETLINK answers: No such process"],
    )
}

/// A removal that failed only because the object was not there (`ip`'s message for the
/// kernel's ESRCH, or its extended-ack text) succeeded.
fn already_gone(result: anyhow::Result<String>, gone: &[&str]) -> anyhow::Result<()> {
    match result {
        Err(e) if gone.iter().any(|g| format!("{e:#}").contains(g)) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_what_is_already_gone_succeeds_and_other_failures_stay_failures() {
        let failed = |stderr: &str| -> anyhow::Result<String> {
            Err(anyhow::anyhow!(
                "\"ip\" \"route\" \"del\" failed (exit status: 2): {stderr}"
            ))
        };
        let route = ["RTNETLINK answers: No such process"];
        assert!(already_gone(failed("RTNETLINK answers: No such process"), &route).is_ok());
        assert!(already_gone(Ok(String::new()), &route).is_ok());
        let other = already_gone(failed("RTNETLINK answers: Operation not permitted"), &route);
        assert!(format!("{:#}", other.unwrap_err()).contains("Operation not permitted"));
        assert!(already_gone(failed("Cannot find device \"wg0\""), &route).is_err());
    }
}

//! Link-level state of an interface through iproute2 (`ip -j addr`, `ip -j route`,
//! `ip link set`, `ip addr add/del`, `ip route replace/del`): IPv4 addresses, MTU, admin up,
//! and the routes fabric owns (tagged [`FABRIC_PROTO`]). Every command runs with a deadline.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ipnet::Ipv4Net;
use serde::Deserialize;

/// Upper bound for one `ip` (or other helper) command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// The route protocol number fabric tags its routes with (`proto 102`, unassigned in
/// /etc/iproute2/rt_protos), so it removes only routes it added.
pub const FABRIC_PROTO: &str = "102";

/// The link state of one interface; `None` when there is no such link.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkObserved {
    pub mtu: Option<u16>,
    pub up: bool,
    pub addresses: Vec<Ipv4Net>,
    /// Routes through the link tagged [`FABRIC_PROTO`].
    pub routes: Vec<Ipv4Net>,
}

#[derive(Deserialize)]
struct JsonRoute {
    dst: String,
}

#[derive(Deserialize)]
struct JsonLink {
    mtu: Option<u16>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<JsonAddr>,
}

#[derive(Deserialize)]
struct JsonAddr {
    family: String,
    local: String,
    prefixlen: u8,
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
    let mut child = cmd
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

/// The link `ifname`, or `None` when it does not exist.
pub fn read(ifname: &str) -> anyhow::Result<Option<LinkObserved>> {
    if !std::path::Path::new("/sys/class/net").join(ifname).exists() {
        return Ok(None);
    }
    let name = ifname.to_string();
    let routes = thread::spawn(move || {
        let args = [
            "-j",
            "-4",
            "route",
            "show",
            "dev",
            &name,
            "proto",
            FABRIC_PROTO,
        ];
        run("ip", &args, CMD_TIMEOUT)
    });
    let json = run("ip", &["-j", "addr", "show", "dev", ifname], CMD_TIMEOUT)?;
    let mut link =
        parse(&json).with_context(|| format!("reading `ip -j addr show dev {ifname}`"))?;
    let routes = routes
        .join()
        .map_err(|_| anyhow::anyhow!("reading routes of {ifname} panicked"))??;
    if let Some(l) = &mut link {
        l.routes = parse_routes(&routes)
            .with_context(|| format!("reading `ip -j route show dev {ifname}`"))?;
    }
    Ok(link)
}

fn parse_routes(json: &str) -> anyhow::Result<Vec<Ipv4Net>> {
    // `ip -j` prints nothing at all (not `[]`) for an empty table on some versions.
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let routes: Vec<JsonRoute> = serde_json::from_str(json)?;
    routes
        .iter()
        .map(|r| match r.dst.parse::<Ipv4Net>() {
            Ok(n) => Ok(n),
            // A host route prints without its /32.
            Err(_) => Ok(Ipv4Net::new(r.dst.parse()?, 32)?),
        })
        .collect()
}

fn parse(json: &str) -> anyhow::Result<Option<LinkObserved>> {
    let links: Vec<JsonLink> = serde_json::from_str(json)?;
    let Some(link) = links.into_iter().next() else {
        return Ok(None);
    };
    let mut addresses = Vec::new();
    for a in link.addr_info.iter().filter(|a| a.family == "inet") {
        let net = Ipv4Net::new(a.local.parse()?, a.prefixlen)?;
        addresses.push(net);
    }
    Ok(Some(LinkObserved {
        mtu: link.mtu,
        up: link.flags.iter().any(|f| f == "UP"),
        addresses,
        routes: Vec::new(),
    }))
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

pub fn del_address(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    run(
        "ip",
        &["addr", "del", &net.to_string(), "dev", ifname],
        CMD_TIMEOUT,
    )
    .map(drop)
}

/// Adds (or takes over) the route `net` through `ifname`, tagged as fabric's.
pub fn replace_route(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    let net = net.to_string();
    let args = [
        "route",
        "replace",
        &net,
        "dev",
        ifname,
        "proto",
        FABRIC_PROTO,
    ];
    run("ip", &args, CMD_TIMEOUT).map(drop)
}

pub fn del_route(ifname: &str, net: Ipv4Net) -> anyhow::Result<()> {
    let net = net.to_string();
    let args = ["route", "del", &net, "dev", ifname, "proto", FABRIC_PROTO];
    run("ip", &args, CMD_TIMEOUT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json_addresses_mtu_and_up() {
        let json = r#"[{"ifindex":3,"ifname":"wg0","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],
            "mtu":1420,"operstate":"UNKNOWN","addr_info":[
            {"family":"inet","local":"10.0.12.30","prefixlen":24,"scope":"global"},
            {"family":"inet6","local":"fe80::1","prefixlen":64}]}]"#;
        let l = parse(json).unwrap().unwrap();
        assert_eq!(l.mtu, Some(1420));
        assert!(l.up);
        assert_eq!(l.addresses, vec!["10.0.12.30/24".parse().unwrap()]);
        assert_eq!(parse("[]").unwrap(), None);
    }

    #[test]
    fn parses_routes_with_and_without_prefix_length() {
        let json = r#"[{"dst":"10.99.0.0/16","protocol":"102","scope":"link","flags":[]},
            {"dst":"10.0.13.5","protocol":"102","scope":"link","flags":[]}]"#;
        assert_eq!(
            parse_routes(json).unwrap(),
            vec![
                "10.99.0.0/16".parse::<Ipv4Net>().unwrap(),
                "10.0.13.5/32".parse().unwrap()
            ]
        );
        assert_eq!(parse_routes("").unwrap(), vec![]);
    }
}

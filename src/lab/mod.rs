//! The network-namespace lab (`fabric lab up|down|status|exec`): the topology booted on one
//! machine, for demos and end-to-end tests.
//!
//! * `<prefix>-inet` is the underlay "internet": every node has a veth to it, with its
//!   topology endpoint (hubs) or a 192.0.2.x address; only TEST-NET ranges are accepted.
//! * Each WireGuard node gets a namespace `<prefix>-<node>` with its own `/var/run/wireguard`
//!   (a bind mount per namespace) and is configured by `fabric apply --node <node>` run inside
//!   it. RouterOS cannot run here: the CHRs are Linux stand-ins configured from the same Plan
//!   data their `.rsc` is rendered from.
//! * Client routers (RouterOS v6, SSTP) are stand-ins too: a namespace per client joined to the
//!   layout's SSTP hub by a WireGuard point-to-point link (`sstp` on the hub, `sstp0` on the
//!   client) with the PPP addresses from the topology — SSTP itself has no Linux server here.
//!
//! * With `--rest-standins`, each RouterOS hub with a `rest:` section also runs the RouterOS
//!   REST stand-in ([`rest`]; not RouterOS) on its endpoint and REST port, and each hub with
//!   an `sstp:` side a TLS listener on its SSTP port ([`sstp_tls`]; TLS only, not SSTP) whose
//!   certificate a lab fabric CA signed (written to `secrets/ca/fabric-ca.crt`).
//!
//! State lives in `/run/fabric-lab/<prefix>/` (namespaces list, secrets, run dirs); `down`
//! kills every process in the lab's namespaces by PID and deletes them.

mod exec;
pub mod rest;
pub mod sstp_tls;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ipnet::Ipv4Net;

pub use exec::Ns;
use exec::host;

use crate::model::{PrivateKey, Topology};
use crate::shell::secrets::SecretsDir;

/// The underlay router's address on every link (a /32 on each veth in `<prefix>-inet`).
const INET_GW: &str = "192.0.2.254";
/// UDP port of the SSTP stand-in links on the hub.
const SSTP_STANDIN_PORT: u16 = 4443;
const TEST_NETS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];

#[derive(Debug, Clone)]
pub struct LabSpec {
    pub prefix: String,
    pub topology: PathBuf,
    pub layout: String,
    pub fabric: PathBuf,
    /// Start the RouterOS REST stand-in in every RouterOS hub with a `rest:` section, and the
    /// SSTP-TLS stand-in in every hub with an `sstp:` side.
    pub rest_standins: bool,
}

pub fn root(prefix: &str) -> PathBuf {
    PathBuf::from("/run/fabric-lab").join(prefix)
}

fn ns(prefix: &str, name: &str) -> Ns {
    Ns::new(format!("{prefix}-{name}"), &root(prefix))
}

fn is_test_net(ip: Ipv4Addr) -> bool {
    TEST_NETS
        .iter()
        .any(|n| n.parse::<Ipv4Net>().expect("constant").contains(&ip))
}

/// Boots the lab. On failure everything created so far is torn down again.
pub fn up(spec: &LabSpec, t: &Topology) -> anyhow::Result<Vec<String>> {
    let dir = root(&spec.prefix);
    if dir.join("namespaces").exists() {
        bail!(
            "lab \"{}\" is already up (fabric lab down --prefix {} first)",
            spec.prefix,
            spec.prefix
        );
    }
    if !t.layouts.keys().any(|l| l.as_str() == spec.layout) {
        bail!("layout \"{}\" is not defined", spec.layout);
    }
    fs::create_dir_all(dir.join("wg"))?;
    let result = boot(spec, t, &dir);
    if result.is_err() {
        let _ = down(&spec.prefix);
    }
    result
}

fn record(dir: &Path, ns: &Ns) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("namespaces"))?;
    writeln!(f, "{}", ns.name)?;
    Ok(())
}

fn add_ns(dir: &Path, ns: &Ns) -> anyhow::Result<()> {
    host(&["ip", "netns", "add", &ns.name])?;
    record(dir, ns)?;
    fs::create_dir_all(&ns.wg_dir)?;
    ns.ip(&["link", "set", "lo", "up"])?;
    ns.sysctl("net.ipv4.ip_forward", "1")?;
    // Unprivileged ICMP echo sockets for every group, as systemd's 50-default.conf sets on a
    // Debian host (a new namespace starts with "1 0", none): `fabric serve` probes with them.
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
}

/// Joins `node` to the underlay with address `addr`, through veth `l<index>` in the inet ns.
fn link_underlay(inet: &Ns, node: &Ns, index: usize, addr: Ipv4Addr) -> anyhow::Result<()> {
    if !is_test_net(addr) {
        bail!(
            "{}: underlay address {addr} is not in a TEST-NET range; the lab only uses 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24",
            node.name
        );
    }
    let l = format!("l{index}");
    inet.ip(&[
        "link", "add", &l, "type", "veth", "peer", "name", "eth0", "netns", &node.name,
    ])?;
    inet.ip(&["addr", "add", &format!("{INET_GW}/32"), "dev", &l])?;
    inet.ip(&["link", "set", &l, "up"])?;
    inet.ip(&["route", "add", &format!("{addr}/32"), "dev", &l])?;
    node.ip(&["addr", "add", &format!("{addr}/32"), "dev", "eth0"])?;
    node.ip(&["link", "set", "eth0", "up"])?;
    node.ip(&["route", "add", INET_GW, "dev", "eth0"])?;
    node.ip(&["route", "add", "default", "via", INET_GW, "dev", "eth0"])?;
    Ok(())
}

fn boot(spec: &LabSpec, t: &Topology, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    let secrets = dir.join("secrets");
    SecretsDir::new(&secrets).generate_missing(t)?;
    let inet = ns(&spec.prefix, "inet");
    add_ns(dir, &inet)?;
    let mut index = 0;
    for node in t.nodes.values() {
        index += 1;
        let n = ns(&spec.prefix, node.name.as_str());
        add_ns(dir, &n)?;
        let underlay = match node.endpoint {
            Some(IpAddr::V4(ip)) => ip,
            Some(IpAddr::V6(ip)) => bail!(
                "{}: IPv6 endpoint {ip} is not supported in the lab",
                node.name
            ),
            None => Ipv4Addr::new(192, 0, 2, 10 + index as u8),
        };
        link_underlay(&inet, &n, index, underlay)?;
        let fabric = spec.fabric.to_string_lossy();
        let topo = spec.topology.to_string_lossy();
        let sec = secrets.to_string_lossy();
        let out = n.run(&[
            &fabric,
            "apply",
            "--node",
            node.name.as_str(),
            "-t",
            &topo,
            "--layout",
            &spec.layout,
            "--secrets",
            &sec,
        ])?;
        report.push(format!("{} ({underlay}): {}", n.name, out.lines().count()));
    }
    clients(spec, t, dir, &inet, &mut index, &mut report)?;
    if spec.rest_standins {
        for node in t.nodes.values() {
            if let Some(line) = rest::start(spec, dir, &ns(&spec.prefix, node.name.as_str()), node)?
            {
                report.push(line);
            }
        }
        report.extend(sstp_tls::start_all(spec, t, dir)?);
    }
    Ok(report)
}

/// SSTP stand-ins: a WireGuard link per client router to the layout's SSTP hub.
fn clients(
    spec: &LabSpec,
    t: &Topology,
    dir: &Path,
    inet: &Ns,
    index: &mut usize,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let Some(sstp) = &t.sstp else { return Ok(()) };
    let layout = t
        .layouts
        .values()
        .find(|l| l.name.as_str() == spec.layout)
        .expect("checked");
    let Some(hub) = layout.sstp_hub.as_ref().and_then(|h| t.nodes.get(h)) else {
        return Ok(());
    };
    let (Some(IpAddr::V4(hub_ip)), Some(side)) = (hub.endpoint, &hub.sstp) else {
        return Ok(());
    };
    let hub_ns = ns(&spec.prefix, hub.name.as_str());
    let keys = dir.join("standin-keys");
    fs::create_dir_all(&keys)?;
    let hub_key = standin_key(&keys, "hub")?;
    start_wg(&hub_ns, "sstp")?;
    hub_ns.run(&[
        "wg",
        "set",
        "sstp",
        "listen-port",
        &SSTP_STANDIN_PORT.to_string(),
        "private-key",
        &hub_key.0,
    ])?;
    hub_ns.ip(&[
        "addr",
        "add",
        &format!("{}/{}", side.address, sstp.subnet.prefix_len()),
        "dev",
        "sstp",
    ])?;
    hub_ns.ip(&["link", "set", "sstp", "up"])?;
    let client_routes: Vec<String> = t.planes.values().map(|p| p.subnet.to_string()).collect();
    for (i, c) in sstp.clients.iter().enumerate() {
        *index += 1;
        let cn = ns(&spec.prefix, c.name.as_str());
        add_ns(dir, &cn)?;
        link_underlay(inet, &cn, *index, Ipv4Addr::new(192, 0, 2, 100 + i as u8))?;
        let key = standin_key(&keys, c.name.as_str())?;
        start_wg(&cn, "sstp0")?;
        let endpoint = format!("{hub_ip}:{SSTP_STANDIN_PORT}");
        let allowed = std::iter::once(sstp.subnet.to_string())
            .chain(client_routes.iter().cloned())
            .collect::<Vec<_>>()
            .join(",");
        cn.run(&[
            "wg",
            "set",
            "sstp0",
            "private-key",
            &key.0,
            "peer",
            &hub_key.1,
            "endpoint",
            &endpoint,
            "allowed-ips",
            &allowed,
            "persistent-keepalive",
            "5",
        ])?;
        cn.ip(&[
            "addr",
            "add",
            &format!("{}/{}", c.address, sstp.subnet.prefix_len()),
            "dev",
            "sstp0",
        ])?;
        cn.ip(&["link", "set", "sstp0", "up"])?;
        for r in &client_routes {
            cn.ip(&["route", "add", r, "dev", "sstp0"])?;
        }
        let mut hub_allowed = vec![format!("{}/32", c.address)];
        hub_allowed.extend(c.lans.iter().map(|l| l.to_string()));
        hub_ns.run(&[
            "wg",
            "set",
            "sstp",
            "peer",
            &key.1,
            "allowed-ips",
            &hub_allowed.join(","),
        ])?;
        for lan in &c.lans {
            hub_ns.ip(&["route", "add", &lan.to_string(), "dev", "sstp"])?;
        }
        report.push(format!(
            "{} (SSTP stand-in to {}): {}",
            cn.name, hub.name, c.address
        ));
    }
    Ok(())
}

/// Writes a fresh stand-in private key (0600) and returns (path, public key).
fn standin_key(dir: &Path, name: &str) -> anyhow::Result<(String, String)> {
    let key = PrivateKey::generate();
    let path = dir.join(format!("{name}.key"));
    crate::shell::output::write_atomic(
        &path,
        format!("{}\n", key.expose_base64()).as_bytes(),
        0o600,
    )?;
    Ok((
        path.to_string_lossy().into_owned(),
        key.public_key().to_base64(),
    ))
}

/// Starts wireguard-go for `ifname` in the namespace (it daemonizes) and waits for the link.
fn start_wg(n: &Ns, ifname: &str) -> anyhow::Result<()> {
    n.run(&["wireguard-go", ifname])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if n.ip(&["link", "show", ifname]).is_ok()
            && n.wg_dir.join(format!("{ifname}.sock")).exists()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "{}: wireguard-go {ifname} did not come up within 10 s",
        n.name
    )
}

/// Tears the lab down: every process in its namespaces (by PID), the namespaces, its state.
pub fn down(prefix: &str) -> anyhow::Result<Vec<String>> {
    let dir = root(prefix);
    let listed = fs::read_to_string(dir.join("namespaces")).unwrap_or_default();
    let mut names: Vec<String> = listed.lines().map(str::to_string).collect();
    let existing = host(&["ip", "netns", "list"]).unwrap_or_default();
    for line in existing.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if name.starts_with(&format!("{prefix}-")) && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let mut report = Vec::new();
    for name in &names {
        let pids = host(&["ip", "netns", "pids", name]).unwrap_or_default();
        let pids: Vec<&str> = pids.split_whitespace().collect();
        for pid in &pids {
            let _ = host(&["kill", "-TERM", pid]);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while pids
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in pids
            .iter()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            let _ = host(&["kill", "-KILL", pid]);
        }
        if host(&["ip", "netns", "del", name]).is_ok() {
            report.push(format!("deleted {name} ({} processes stopped)", pids.len()));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(report)
}

/// One line per namespace, and `wg show` for each WireGuard node.
pub fn status(prefix: &str) -> anyhow::Result<String> {
    let dir = root(prefix);
    let listed = fs::read_to_string(dir.join("namespaces"))
        .with_context(|| format!("lab \"{prefix}\" is not up"))?;
    let mut out = String::new();
    for name in listed.lines() {
        let n = Ns::new(name.to_string(), &dir);
        let pids = host(&["ip", "netns", "pids", name]).unwrap_or_default();
        out.push_str(&format!(
            "== {name} ({} processes)\n",
            pids.split_whitespace().count()
        ));
        if let Ok(wg) = n.run(&["wg", "show"]) {
            out.push_str(&wg);
        }
    }
    Ok(out)
}

/// Runs a command inside a node's namespace (with its WireGuard run dir); returns its status.
pub fn exec(prefix: &str, node: &str, args: &[String]) -> anyhow::Result<std::process::ExitStatus> {
    let n = ns(prefix, node);
    if !Path::new("/run/netns").join(&n.name).exists() {
        bail!("no lab namespace {} (is the lab up?)", n.name);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(n.command(&argv).status()?)
}

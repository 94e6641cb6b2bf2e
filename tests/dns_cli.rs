//! `fabric dns` on the shipped topology: every generated record over dig (UDP and TCP),
//! NXDOMAIN vs NODATA, reload on SIGHUP, and a bad reload that keeps the old zone.
//! Traffic goes to 127.0.0.1 only.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(topology: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fabric"))
            .args([
                "dns",
                "-t",
                topology.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Server { child, port, log }
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().contains(needle)
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn dig(&self, args: &[&str]) -> String {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &self.port.to_string(),
                "+time=2",
                "+tries=1",
            ])
            .args(args)
            .output()
            .expect("dig must be installed (bind9-dnsutils; scripts/install-deps.sh)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn short(&self, name: &str, kind: &str) -> Vec<String> {
        self.dig(&["+short", name, kind])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn poll(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    for _ in 0..200 {
        if f() {
            return true;
        }
        if Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn serves_every_record_of_the_shipped_topology() {
    let s = Server::start(&common::repo().join("topology.yaml"));
    let d = "lab.example.com";
    let cases: &[(&str, &str, &[&str])] = &[
        ("vps01", "A", &["10.33.33.1"]),
        ("vps01.wg0", "A", &["10.0.12.20"]),
        ("vps01.wg1", "A", &["10.33.33.1"]),
        ("z640", "A", &["10.0.12.30"]),
        ("z640.wg0", "A", &["10.0.12.30"]),
        ("nuc", "A", &["10.0.12.31"]),
        ("chr01", "A", &["10.0.12.1"]),
        ("chr02.wg0", "A", &["10.0.12.2"]),
        ("mac", "A", &["10.33.33.10"]),
        ("iphone.wg1", "A", &["10.33.33.11"]),
        ("client-a-hq", "A", &["10.0.13.11"]),
        ("client-b", "A", &["10.0.13.13"]),
        ("git", "A", &["10.33.33.1"]),
        ("monitoring", "A", &["10.33.33.1"]),
        ("alerts", "A", &["10.33.33.1"]),
        ("trillian", "A", &["10.42.60.12"]),
        ("ns", "A", &["10.33.33.1"]),
        (
            "anything.apps",
            "A",
            &["vps01.lab.example.com.", "10.33.33.1"],
        ),
        ("_forgejo._tcp", "SRV", &["10 10 443 git.lab.example.com."]),
        ("@", "TXT", &["\"fabric-managed zone\""]),
        ("@", "NS", &["ns.lab.example.com."]),
    ];
    for (name, kind, want) in cases {
        let fqdn = if *name == "@" {
            d.to_string()
        } else {
            format!("{name}.{d}")
        };
        assert_eq!(s.short(&fqdn, kind), *want, "{fqdn} {kind}");
        assert_eq!(
            s.dig(&["+tcp", "+short", &fqdn, kind])
                .lines()
                .collect::<Vec<_>>(),
            *want,
            "{fqdn} {kind} over TCP"
        );
    }
    let nx = s.dig(&["nope.lab.example.com", "A"]);
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("IN\tSOA"),
        "{nx}"
    );
    let nodata = s.dig(&["vps01.lab.example.com", "AAAA"]);
    assert!(
        nodata.contains("status: NOERROR")
            && nodata.contains("ANSWER: 0")
            && nodata.contains("IN\tSOA"),
        "{nodata}"
    );
    let out_of_zone = s.dig(&["example.org", "A"]);
    assert!(
        out_of_zone.contains("status: REFUSED"),
        "no upstreams configured: {out_of_zone}"
    );
}

#[test]
fn sighup_reloads_and_a_bad_topology_keeps_the_old_zone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topology.yaml");
    let shipped = std::fs::read_to_string(common::repo().join("topology.yaml")).unwrap();
    std::fs::write(&path, &shipped).unwrap();
    let s = Server::start(&path);
    assert!(s.short("newhost.lab.example.com", "A").is_empty());

    let added = shipped.replace(
        "  records:\n",
        "  records:\n    - { name: newhost, type: A, value: 10.42.60.13 }\n",
    );
    std::fs::write(&path, added).unwrap();
    s.signal("-HUP");
    assert!(
        poll(Duration::from_secs(5), || s
            .short("newhost.lab.example.com", "A")
            == ["10.42.60.13"]),
        "SIGHUP did not load the new record"
    );

    std::fs::write(
        &path,
        shipped.replace("subnet: 10.0.12.0/24", "subnet: bogus"),
    )
    .unwrap();
    s.signal("-HUP");
    assert!(
        poll(Duration::from_secs(5), || s
            .logged("reload failed; keeping the old zone")),
        "{}",
        s.log.lock().unwrap()
    );
    assert!(
        s.logged("planes.wg0.subnet"),
        "the findings are logged: {}",
        s.log.lock().unwrap()
    );
    assert_eq!(
        s.short("newhost.lab.example.com", "A"),
        ["10.42.60.13"],
        "a bad topology must not replace the zone"
    );
    assert_eq!(s.short("vps01.lab.example.com", "A"), ["10.33.33.1"]);

    s.signal("-TERM");
    let mut child = s;
    let exited = poll(Duration::from_secs(5), || {
        child.child.try_wait().unwrap().is_some()
    });
    assert!(exited, "fabric dns must stop promptly on SIGTERM");
}

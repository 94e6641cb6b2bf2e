//! Shared helpers for the DNS integration tests: the test zone, a server started on
//! 127.0.0.1 port 0, hickory-proto based UDP/TCP clients, a local upstream stub and `dig`.
//! All traffic goes to loopback addresses only; every wait has a deadline.

#![allow(dead_code)] // each test binary uses a different subset

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use fabric::dns::{self, DnsConfig, RecordData, RecordValue, SoaData, ZoneData, ZoneHandle};
use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{Name, RData, Record, RecordType, rdata::A},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, UdpSocket},
    task::JoinHandle,
    time::timeout,
};
use tokio_util::sync::CancellationToken;

pub const ORIGIN: &str = "lab.example.com.";
/// Deadline for any single network exchange in the tests.
pub const WAIT: Duration = Duration::from_secs(3);

pub fn rec(name: &str, ttl: u32, rdata: RecordValue) -> RecordData {
    let name = if name == "@" {
        ORIGIN.to_owned()
    } else {
        format!("{name}.{ORIGIN}")
    };
    RecordData { name, ttl, rdata }
}

/// The zone the integration tests serve; `serial` and the address of `www` vary for reloads.
pub fn zone(serial: u32) -> ZoneData {
    use RecordValue::*;
    let big = (0..60)
        .map(|i| format!("{i:02}-{}", "t".repeat(30)))
        .collect();
    ZoneData {
        origin: ORIGIN.into(),
        soa: SoaData {
            mname: format!("ns1.{ORIGIN}"),
            rname: format!("hostmaster.{ORIGIN}"),
            serial,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 120,
        },
        ns: vec![format!("ns1.{ORIGIN}")],
        records: vec![
            rec("ns1", 300, A("10.0.0.53".parse().unwrap())),
            rec(
                "www",
                300,
                A(format!("10.0.1.{}", serial % 250).parse().unwrap()),
            ),
            rec("www", 300, Aaaa("fd00::1".parse().unwrap())),
            rec("git", 300, Cname(format!("www.{ORIGIN}"))),
            rec("info", 300, Txt(vec!["fabric".into(), "lab".into()])),
            rec(
                "_git._tcp",
                300,
                Srv {
                    priority: 1,
                    weight: 2,
                    port: 22,
                    target: format!("www.{ORIGIN}"),
                },
            ),
            rec("*.apps", 300, A("10.0.2.1".parse().unwrap())),
            rec("a.b.deep", 300, A("10.0.3.1".parse().unwrap())),
            rec("big", 300, Txt(big)),
        ],
    }
}

pub fn config(allowed: &[&str], upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        allowed_sources: allowed.iter().map(|n| n.parse().unwrap()).collect(),
        upstreams,
        upstream_timeout: Duration::from_millis(500),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ZoneHandle,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Cancels and asserts that `serve` returns promptly and cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = timeout(Duration::from_secs(2), self.task).await;
        result
            .expect("serve did not stop within 2 s")
            .unwrap()
            .unwrap();
    }
}

pub async fn start(zone: ZoneData, cfg: DnsConfig) -> TestServer {
    let handle = ZoneHandle::new(zone).unwrap();
    let (udp, tcp) = dns::bind(&["127.0.0.1:0".parse().unwrap()], 2).unwrap();
    let addr = udp[0].local_addr().unwrap();
    assert_eq!(tcp[0].local_addr().unwrap(), addr);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(dns::serve(udp, tcp, handle.clone(), cfg, shutdown.clone()));
    TestServer {
        addr,
        handle,
        shutdown,
        task,
    }
}

pub fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg
}

/// Sends raw bytes from `from` and waits for one datagram back.
pub async fn udp_raw(server: SocketAddr, from: IpAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((from, 0)).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0; 65535];
    let (len, _) = timeout(WAIT, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(len);
    Some(buf)
}

pub async fn udp_ask_from(server: SocketAddr, from: IpAddr, msg: &Message) -> Message {
    let bytes = udp_raw(server, from, &msg.to_vec().unwrap())
        .await
        .expect("no UDP response");
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.metadata.id, msg.metadata.id);
    response
}

pub async fn udp_ask(server: SocketAddr, msg: &Message) -> Message {
    udp_ask_from(server, "127.0.0.1".parse().unwrap(), msg).await
}

pub async fn tcp_ask_from(server: SocketAddr, from: IpAddr, msg: &Message) -> Message {
    let socket = if from.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = timeout(WAIT, socket.connect(server))
        .await
        .unwrap()
        .unwrap();
    let bytes = msg.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf).unwrap()
}

pub async fn tcp_ask(server: SocketAddr, msg: &Message) -> Message {
    tcp_ask_from(server, "127.0.0.1".parse().unwrap(), msg).await
}

/// A tiny upstream resolver on 127.0.0.1: answers every A query with `answer` (TTL 60), or
/// stays silent when `answer` is `None`. Aborted when the returned handle is aborted.
pub async fn upstream_stub(answer: Option<std::net::Ipv4Addr>) -> (SocketAddr, JoinHandle<()>) {
    let (addr, task, _) = counting_upstream_stub(answer).await;
    (addr, task)
}

/// [`upstream_stub`] that also counts the queries it received.
pub async fn counting_upstream_stub(
    answer: Option<std::net::Ipv4Addr>,
) -> (SocketAddr, JoinHandle<()>, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        loop {
            let Ok((len, src)) = socket.recv_from(&mut buf).await else {
                return;
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let (Some(ip), Ok(request)) = (answer, Message::from_vec(&buf[..len])) else {
                continue;
            };
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            for q in &request.queries {
                response.add_query(q.clone());
                if q.query_type() == RecordType::A {
                    response.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(ip))));
                }
            }
            if let Some(edns) = &request.edns {
                response.set_edns(edns.clone());
            }
            let _ = socket.send_to(&response.to_vec().unwrap(), src).await;
        }
    });
    (addr, task, received)
}

/// Runs `dig` against the server; fails loudly if dig is not installed.
pub async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let port = server.port().to_string();
    let mut command = tokio::process::Command::new("dig");
    command
        .args([
            &format!("@{}", server.ip()),
            "-p",
            &port,
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .kill_on_drop(true);
    let output = match timeout(Duration::from_secs(10), command.output()).await {
        Err(_) => panic!("dig {args:?} did not finish within 10 s"),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`dig` is not installed: these tests need it (Debian: apt-get install bind9-dnsutils)"
        ),
        Ok(result) => result.expect("running dig"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "dig {args:?} failed: {stdout}");
    stdout
}

/// The records of a dig section (`+noall +answer` style output), without comments.
pub fn dig_records(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

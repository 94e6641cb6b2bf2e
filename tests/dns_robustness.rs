//! Robustness tests of the split-DNS server on 127.0.0.1: 10,000 malformed packets must not
//! break it, and 20,000 queries during 10 zone reloads must all succeed. Only loopback traffic;
//! every loop and wait is bounded.

mod dns_support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dns_support::*;
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::RecordType,
};
use tokio::net::UdpSocket;

fn answers(msg: &Message) -> Vec<String> {
    msg.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

/// 10,000 malformed packets over UDP (plus garbage over TCP), then normal queries still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_breaks_the_server() {
    let server = start(zone(1), config(&[], vec![])).await;
    let good = query(&format!("www.{ORIGIN}"), RecordType::A, Some(1232))
        .to_vec()
        .unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..10_000usize {
        let r = next();
        let packet: Vec<u8> = match i % 5 {
            0 => (0..(r % 600) as usize).map(|_| next() as u8).collect(), // random bytes
            1 => good[..(r as usize) % good.len()].to_vec(),              // truncated
            2 => {
                let mut p = good.clone(); // unknown opcode / QR / odd counts
                p[2] = (r >> 8) as u8;
                p[4 + (r as usize >> 16) % 8] = (r >> 24) as u8;
                p
            }
            3 => {
                let mut p = good.clone(); // bit flips anywhere
                for _ in 0..4 {
                    let at = (next() as usize) % p.len();
                    p[at] ^= next() as u8;
                }
                p
            }
            _ => {
                let mut p = good[..12].to_vec(); // compression loop in the question
                p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
                p
            }
        };
        let _ = socket.send_to(&packet, server.addr).await;
    }
    for frame in [
        &b"\x00\x05hello"[..],
        b"\xff\xff\x00",
        b"\x00\x00",
        &[0u8; 1],
    ] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, frame)
            .await
            .unwrap();
    }
    assert!(!server.task.is_finished());
    for _ in 0..20 {
        let msg = udp_ask(
            server.addr,
            &query(&format!("www.{ORIGIN}"), RecordType::A, None),
        )
        .await;
        assert_eq!(answers(&msg), [format!("www.{ORIGIN} A 10.0.1.1")]);
    }
    let msg = tcp_ask(
        server.addr,
        &query(&format!("info.{ORIGIN}"), RecordType::TXT, None),
    )
    .await;
    assert_eq!(msg.answers.len(), 1);
    server.stop().await;
}

/// 20,000 queries from 4 tasks while the zone is replaced 10 times: no query may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_query() {
    const TASKS: u64 = 4;
    const PER_TASK: u64 = 5_000;
    let server = start(zone(0), config(&[], vec![])).await;
    let done = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for t in 0..TASKS {
        let (addr, done) = (server.addr, done.clone());
        load.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(addr).await.unwrap();
            let mut failures = Vec::new();
            let mut buf = vec![0; 4096];
            for i in 0..PER_TASK {
                let (name, rcode) = match i % 3 {
                    0 => (format!("www.{ORIGIN}"), ResponseCode::NoError),
                    1 => (format!("nope{i}.{ORIGIN}"), ResponseCode::NXDomain),
                    _ => (format!("t{t}.apps.{ORIGIN}"), ResponseCode::NoError),
                };
                let mut q = query(&name, RecordType::A, None);
                q.metadata.id = i as u16;
                socket.send(&q.to_vec().unwrap()).await.unwrap();
                let reply = tokio::time::timeout(WAIT, socket.recv(&mut buf)).await;
                let Ok(Ok(len)) = reply else {
                    failures.push(format!("{name}: no answer"));
                    continue;
                };
                match Message::from_vec(&buf[..len]) {
                    Ok(m)
                        if m.metadata.id == q.metadata.id
                            && m.metadata.response_code == rcode
                            && m.answers.len() == usize::from(rcode == ResponseCode::NoError) => {}
                    other => failures.push(format!("{name}: {other:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }
    for serial in 1..=10u64 {
        // Spread the reloads over the run: wait (bounded) for the next slice of queries.
        let target = serial * TASKS * PER_TASK / 12;
        let deadline = Instant::now() + Duration::from_secs(60);
        while done.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "load stalled at {}",
                done.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.handle.replace(zone(serial as u32)).unwrap();
    }
    let mut failures = Vec::new();
    for task in load {
        failures.extend(task.await.unwrap());
    }
    assert_eq!(done.load(Ordering::Relaxed), TASKS * PER_TASK);
    assert!(
        failures.is_empty(),
        "{} failed queries, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(server.handle.serial(), 10);
    let msg = udp_ask(
        server.addr,
        &query(&format!("www.{ORIGIN}"), RecordType::A, None),
    )
    .await;
    assert_eq!(
        answers(&msg),
        [format!("www.{ORIGIN} A 10.0.1.10")],
        "new zone served"
    );
    let addr = server.addr;
    server.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

/// A burst of queries sent without waiting (answered in batches on Linux): every one gets its
/// own correct answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_queries_all_answered() {
    let server = start(zone(1), config(&[], vec![])).await;
    // A receive buffer large enough for every response (the default one overflows).
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    raw.set_recv_buffer_size(2 << 20).unwrap();
    raw.set_nonblocking(true).unwrap();
    raw.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let socket = UdpSocket::from_std(raw.into()).unwrap();
    const N: u16 = 500;
    for id in 0..N {
        let name = if id.is_multiple_of(2) {
            format!("www.{ORIGIN}")
        } else {
            format!("n{id}.{ORIGIN}")
        };
        let mut q = query(&name, RecordType::A, Some(1232));
        q.metadata.id = id;
        socket
            .send_to(&q.to_vec().unwrap(), server.addr)
            .await
            .unwrap();
    }
    let mut seen = vec![false; usize::from(N)];
    let mut buf = vec![0; 4096];
    for _ in 0..N {
        let (len, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .expect("a response is missing")
            .unwrap();
        let msg = Message::from_vec(&buf[..len]).unwrap();
        let id = msg.metadata.id;
        assert!(
            !std::mem::replace(&mut seen[usize::from(id)], true),
            "duplicate {id}"
        );
        let expected = if id.is_multiple_of(2) {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        assert_eq!(msg.metadata.response_code, expected, "{id}");
        let name = msg.queries[0].name().to_ascii();
        assert_eq!(
            name.starts_with("www."),
            id.is_multiple_of(2),
            "{id} answered for {name}"
        );
    }
    server.stop().await;
}

/// Shutdown does not wait for queries in flight: with forwarded queries stuck on a silent
/// upstream (30 s timeout) over UDP and TCP, `serve` still returns within 2 s (`stop`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_with_queries_in_flight() {
    let (silent, stub, received) = counting_upstream_stub(None).await;
    let mut cfg = config(&[], vec![silent]);
    cfg.upstream_timeout = Duration::from_secs(30);
    let server = start(zone(1), cfg).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let q = query("stuck.example.org.", RecordType::A, None)
        .to_vec()
        .unwrap();
    socket.send_to(&q, server.addr).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let t = query("stuck-tcp.example.org.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let mut framed = (t.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&t);
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &framed)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < 2 {
        assert!(
            Instant::now() < deadline,
            "the upstream never saw both queries"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    stub.abort();
}

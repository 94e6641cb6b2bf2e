//! Integration tests of the split-DNS server on 127.0.0.1 (port 0): hickory-proto clients over
//! UDP and TCP and `dig` (bind9-dnsutils; missing dig fails the tests). Covers every record
//! type, NXDOMAIN/NODATA, REFUSED for a disallowed source, forwarding to a local upstream stub,
//! REFUSED without upstream, SERVFAIL on upstream timeout, TC over UDP then the full answer over
//! TCP. `dns_robustness.rs` has garbage input and reload under load. Only loopback traffic;
//! every wait is bounded.

mod dns_support;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use dns_support::*;
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{RData, RecordType},
};

fn answers(msg: &Message) -> Vec<String> {
    msg.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

fn assert_soa_authority(msg: &Message) {
    assert!(msg.answers.is_empty());
    assert_eq!(msg.authorities.len(), 1);
    assert_eq!(msg.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(
        msg.authorities[0].ttl, 120,
        "negative TTL = SOA minimum (< SOA TTL)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_type_over_udp_and_tcp() {
    let server = start(zone(1), config(&[], vec![])).await;
    let www = format!("www.{ORIGIN}");
    let cases: Vec<(String, RecordType, Vec<String>)> = vec![
        (
            www.clone(),
            RecordType::A,
            vec![format!("{www} A 10.0.1.1")],
        ),
        (
            www.clone(),
            RecordType::AAAA,
            vec![format!("{www} AAAA fd00::1")],
        ),
        (
            format!("git.{ORIGIN}"),
            RecordType::A,
            vec![
                format!("git.{ORIGIN} CNAME {www}"),
                format!("{www} A 10.0.1.1"),
            ],
        ),
        (
            format!("git.{ORIGIN}"),
            RecordType::CNAME,
            vec![format!("git.{ORIGIN} CNAME {www}")],
        ),
        (
            format!("info.{ORIGIN}"),
            RecordType::TXT,
            vec![format!("info.{ORIGIN} TXT fabriclab")],
        ),
        (
            format!("_git._tcp.{ORIGIN}"),
            RecordType::SRV,
            vec![format!("_git._tcp.{ORIGIN} SRV 1 2 22 {www}")],
        ),
        (
            format!("x.y.apps.{ORIGIN}"),
            RecordType::A,
            vec![format!("x.y.apps.{ORIGIN} A 10.0.2.1")],
        ),
        (
            ORIGIN.into(),
            RecordType::NS,
            vec![format!("{ORIGIN} NS ns1.{ORIGIN}")],
        ),
        (
            ORIGIN.into(),
            RecordType::SOA,
            vec![format!(
                "{ORIGIN} SOA ns1.{ORIGIN} hostmaster.{ORIGIN} 1 3600 600 86400 120"
            )],
        ),
    ];
    for (name, qtype, expected) in cases {
        for tcp in [false, true] {
            let q = query(&name, qtype, None);
            let msg = if tcp {
                tcp_ask(server.addr, &q).await
            } else {
                udp_ask(server.addr, &q).await
            };
            assert_eq!(
                msg.metadata.response_code,
                ResponseCode::NoError,
                "{name} {qtype}"
            );
            assert!(msg.metadata.authoritative, "{name} {qtype} AA");
            assert_eq!(answers(&msg), expected, "{name} {qtype} tcp={tcp}");
        }
    }
    // The question is echoed with the client's case; lookups ignore case.
    let msg = udp_ask(
        server.addr,
        &query("WWW.Lab.Example.COM.", RecordType::A, Some(1232)),
    )
    .await;
    assert_eq!(msg.queries[0].name().to_ascii(), "WWW.Lab.Example.COM.");
    assert_eq!(msg.answers.len(), 1);
    assert!(msg.edns.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_and_nodata_carry_the_soa() {
    let server = start(zone(1), config(&[], vec![])).await;
    for (name, qtype, rcode) in [
        ("nope", RecordType::A, ResponseCode::NXDomain),
        ("x.www", RecordType::A, ResponseCode::NXDomain),
        ("www", RecordType::TXT, ResponseCode::NoError),
        ("deep", RecordType::A, ResponseCode::NoError), // empty non-terminal
        ("b.deep", RecordType::AAAA, ResponseCode::NoError),
        ("q.apps", RecordType::TXT, ResponseCode::NoError), // wildcard match, other type
    ] {
        let msg = udp_ask(
            server.addr,
            &query(&format!("{name}.{ORIGIN}"), qtype, None),
        )
        .await;
        assert_eq!(msg.metadata.response_code, rcode, "{name} {qtype}");
        assert!(msg.metadata.authoritative);
        assert_soa_authority(&msg);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_sees_every_record_type_and_negative_answers() {
    let server = start(zone(1), config(&[], vec![])).await;
    let s = server.addr;
    let www = format!("www.{ORIGIN}");
    for (name, qtype, expected) in [
        (www.clone(), "A", format!("{www} 300 IN A 10.0.1.1")),
        (www.clone(), "AAAA", format!("{www} 300 IN AAAA fd00::1")),
        (
            format!("git.{ORIGIN}"),
            "CNAME",
            format!("git.{ORIGIN} 300 IN CNAME {www}"),
        ),
        (
            format!("info.{ORIGIN}"),
            "TXT",
            format!("info.{ORIGIN} 300 IN TXT \"fabric\" \"lab\""),
        ),
        (
            format!("_git._tcp.{ORIGIN}"),
            "SRV",
            format!("_git._tcp.{ORIGIN} 300 IN SRV 1 2 22 {www}"),
        ),
        (
            format!("foo.apps.{ORIGIN}"),
            "A",
            format!("foo.apps.{ORIGIN} 300 IN A 10.0.2.1"),
        ),
        (
            ORIGIN.into(),
            "NS",
            format!("{ORIGIN} 3600 IN NS ns1.{ORIGIN}"),
        ),
        (
            ORIGIN.into(),
            "SOA",
            format!("{ORIGIN} 3600 IN SOA ns1.{ORIGIN} hostmaster.{ORIGIN} 1 3600 600 86400 120"),
        ),
    ] {
        for transport in ["+notcp", "+tcp"] {
            let out = dig(s, &[transport, "+noall", "+answer", &name, qtype]).await;
            assert_eq!(
                dig_records(&out),
                std::slice::from_ref(&expected),
                "dig {transport} {name} {qtype}"
            );
        }
    }
    let out = dig(
        s,
        &[
            "+noall",
            "+comments",
            "+authority",
            &format!("nope.{ORIGIN}"),
            "A",
        ],
    )
    .await;
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("flags: qr aa rd"),
        "{out}"
    );
    assert!(
        dig_records(&out)[0].starts_with(&format!("{ORIGIN} 120 IN SOA ")),
        "{out}"
    );
    let out = dig(
        s,
        &[
            "+noall",
            "+comments",
            "+authority",
            &format!("deep.{ORIGIN}"),
            "A",
        ],
    )
    .await;
    assert!(
        out.contains("status: NOERROR") && out.contains("ANSWER: 0,"),
        "{out}"
    );
    assert!(
        dig_records(&out)[0].starts_with(&format!("{ORIGIN} 120 IN SOA ")),
        "{out}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_for_a_disallowed_source() {
    let lo2: IpAddr = "127.0.0.2".parse().unwrap();
    let server = start(zone(1), config(&["198.51.100.0/24"], vec![])).await;
    let q = query(&format!("www.{ORIGIN}"), RecordType::A, None);
    let msg = udp_ask_from(server.addr, lo2, &q).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    assert!(msg.answers.is_empty());
    let msg = tcp_ask_from(server.addr, lo2, &q).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    let out = dig(
        server.addr,
        &[
            "-b",
            "127.0.0.2",
            "+noall",
            "+comments",
            &format!("www.{ORIGIN}"),
        ],
    )
    .await;
    assert!(out.contains("status: REFUSED"), "{out}");
    // Loopback rule: 127.0.0.1 may query a socket bound to 127.0.0.1.
    let msg = udp_ask(server.addr, &q).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    server.stop().await;
    // Listed explicitly, 127.0.0.2 is served.
    let server = start(zone(1), config(&["127.0.0.2/32"], vec![])).await;
    let msg = udp_ask_from(server.addr, lo2, &q).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(msg.answers.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_refusal_and_upstream_timeout() {
    let (upstream, stub) = upstream_stub(Some(Ipv4Addr::new(192, 0, 2, 99))).await;
    let server = start(zone(1), config(&[], vec![upstream])).await;
    let msg = udp_ask(server.addr, &query("www.example.org.", RecordType::A, None)).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(!msg.metadata.authoritative);
    assert_eq!(answers(&msg), ["www.example.org. A 192.0.2.99"]);
    let msg = tcp_ask(
        server.addr,
        &query("host.example.net.", RecordType::A, None),
    )
    .await;
    assert_eq!(answers(&msg), ["host.example.net. A 192.0.2.99"]);
    let out = dig(
        server.addr,
        &["+noall", "+answer", "other.example.org", "A"],
    )
    .await;
    let records = dig_records(&out);
    assert_eq!(records.len(), 1, "{out}");
    assert!(
        records[0].starts_with("other.example.org. ") && records[0].ends_with(" IN A 192.0.2.99"),
        "{out}"
    );
    // Without RD nothing is forwarded.
    let mut norec = query("www.example.org.", RecordType::A, None);
    norec.metadata.recursion_desired = false;
    let msg = udp_ask(server.addr, &norec).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    // In-zone names are still answered by the server itself.
    let msg = udp_ask(
        server.addr,
        &query(&format!("www.{ORIGIN}"), RecordType::A, None),
    )
    .await;
    assert!(msg.metadata.authoritative);
    server.stop().await;
    stub.abort();

    let server = start(zone(1), config(&[], vec![])).await;
    let msg = udp_ask(server.addr, &query("www.example.org.", RecordType::A, None)).await;
    assert_eq!(
        msg.metadata.response_code,
        ResponseCode::Refused,
        "no upstream → REFUSED"
    );
    let out = dig(server.addr, &["+noall", "+comments", "www.example.org"]).await;
    assert!(out.contains("status: REFUSED"), "{out}");
    server.stop().await;

    let (silent, stub) = upstream_stub(None).await;
    let server = start(zone(1), config(&[], vec![silent])).await;
    let started = Instant::now();
    let msg = udp_ask(
        server.addr,
        &query("slow.example.org.", RecordType::A, None),
    )
    .await;
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
    stub.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_over_udp_then_whole_over_tcp() {
    let server = start(zone(1), config(&[], vec![])).await;
    let name = format!("big.{ORIGIN}");
    for edns in [None, Some(1232)] {
        let msg = udp_ask(server.addr, &query(&name, RecordType::TXT, edns)).await;
        assert!(
            msg.metadata.truncation,
            "answer of ~2.2 KB must not fit {edns:?}"
        );
        assert!(msg.answers.is_empty());
    }
    let msg = tcp_ask(server.addr, &query(&name, RecordType::TXT, None)).await;
    assert!(!msg.metadata.truncation);
    let RData::TXT(txt) = &msg.answers[0].data else {
        panic!("{msg:?}")
    };
    assert_eq!(txt.txt_data.len(), 60);
    let out = dig(
        server.addr,
        &["+ignore", "+noedns", "+noall", "+comments", &name, "TXT"],
    )
    .await;
    assert!(out.contains("flags: qr aa tc rd"), "{out}");
    // dig retries over TCP by itself after TC.
    let out = dig(server.addr, &["+noall", "+answer", &name, "TXT"]).await;
    let records = dig_records(&out);
    assert_eq!(records.len(), 1, "{out}");
    assert!(
        records[0].contains("\"59-tttttttttttttttttttttttttttttt\""),
        "{out}"
    );
    server.stop().await;
}

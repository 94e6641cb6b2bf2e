//! Unit tests of the answer logic through the fast path (parse → lookup → assemble), decoded
//! with hickory-proto: every record type, NXDOMAIN vs NODATA, wildcards, CNAME chains, empty
//! non-terminals, case. Also the shared test zone and helpers (`tests_edge` has the rest).

use std::{net::SocketAddr, time::Duration};

use hickory_proto::{
    op::{Edns, Message, Query, ResponseCode},
    rr::{Name, RData, RecordType},
};

use super::{
    server::{Shared, Step},
    *,
};

pub(super) const ORIGIN: &str = "lab.example.com.";

pub(super) fn rec(name: &str, ttl: u32, rdata: RecordValue) -> RecordData {
    let name = if name == "@" {
        ORIGIN.to_owned()
    } else {
        format!("{name}.{ORIGIN}")
    };
    RecordData { name, ttl, rdata }
}

pub(super) fn test_zone() -> ZoneData {
    use RecordValue::*;
    let big: Vec<String> = (0..40)
        .map(|i| format!("{i:02}-{}", "x".repeat(20)))
        .collect();
    ZoneData {
        origin: ORIGIN.into(),
        soa: SoaData {
            mname: format!("ns1.{ORIGIN}"),
            rname: format!("hostmaster.{ORIGIN}"),
            serial: 7,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 300,
        },
        ns: vec![format!("ns1.{ORIGIN}")],
        records: vec![
            rec("ns1", 60, A("10.0.0.53".parse().unwrap())),
            rec("www", 60, A("10.0.0.1".parse().unwrap())),
            rec("www", 90, A("10.0.0.2".parse().unwrap())),
            rec("www", 60, Aaaa("fd00::1".parse().unwrap())),
            rec("alias", 60, Cname(format!("www.{ORIGIN}"))),
            rec("chain", 60, Cname(format!("alias.{ORIGIN}"))),
            rec("ext", 60, Cname("www.example.org.".into())),
            rec("dangling", 60, Cname(format!("nothere.{ORIGIN}"))),
            rec("txt", 60, Txt(vec!["hello".into(), "world".into()])),
            rec(
                "_sip._tcp",
                60,
                Srv {
                    priority: 10,
                    weight: 5,
                    port: 5060,
                    target: format!("www.{ORIGIN}"),
                },
            ),
            rec("a.b.deep", 60, A("10.0.0.9".parse().unwrap())),
            rec("*.wild", 60, A("10.0.0.7".parse().unwrap())),
            rec("*.wild", 60, Txt(vec!["wild".into()])),
            rec("sub.wild", 60, A("10.0.0.8".parse().unwrap())),
            rec("big", 60, Txt(big)),
        ],
    }
}

pub(super) fn shared(zone: ZoneData) -> Shared {
    let cfg = DnsConfig {
        allowed_sources: vec!["10.0.0.0/8".parse().unwrap()],
        upstreams: vec![],
        upstream_timeout: Duration::from_secs(1),
    };
    Shared::new(ZoneHandle::new(zone).unwrap(), &cfg).unwrap()
}

pub(super) fn packet(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut msg = Message::query();
    msg.metadata.id = 0x1234;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

pub(super) fn run(s: &Shared, packet: &[u8], tcp: bool) -> (Step, Vec<u8>) {
    let src: SocketAddr = "10.1.2.3:5353".parse().unwrap();
    let mut out = Vec::new();
    let step = s.fast(packet, src, "10.0.0.53".parse().unwrap(), tcp, &mut out);
    (step, out)
}

pub(super) fn ask_with(
    s: &Shared,
    name: &str,
    qtype: RecordType,
    edns: Option<u16>,
    tcp: bool,
) -> (Message, usize) {
    let (step, out) = run(s, &packet(name, qtype, edns), tcp);
    assert_eq!(step, Step::Reply, "{name} {qtype}");
    (Message::from_vec(&out).unwrap(), out.len())
}

pub(super) fn ask(s: &Shared, name: &str, qtype: RecordType) -> Message {
    let msg = ask_with(s, name, qtype, None, false).0;
    assert_eq!(msg.metadata.id, 0x1234);
    assert!(msg.metadata.recursion_desired);
    assert_eq!(
        msg.queries[0].name().to_ascii(),
        name,
        "question echoed as sent"
    );
    msg
}

pub(super) fn lines(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records.iter().map(|r| r.to_string()).collect()
}

pub(super) fn assert_negative(msg: &Message, rcode: ResponseCode) {
    assert_eq!(msg.metadata.response_code, rcode);
    assert!(msg.metadata.authoritative);
    assert!(msg.answers.is_empty(), "{:?}", lines(&msg.answers));
    assert_eq!(msg.authorities.len(), 1);
    let soa = &msg.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name.to_ascii().to_lowercase(), ORIGIN);
    assert_eq!(soa.ttl, 300, "negative TTL = min(SOA minimum, SOA TTL)");
}

#[test]
fn positive_answers_of_every_type() {
    let s = shared(test_zone());
    let msg = ask(&s, "www.lab.example.com.", RecordType::A);
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert!(msg.metadata.authoritative);
    let a = lines(&msg.answers);
    assert_eq!(
        a,
        [
            "www.lab.example.com. 60 IN A 10.0.0.1",
            "www.lab.example.com. 60 IN A 10.0.0.2"
        ]
    );
    assert!(msg.authorities.is_empty());
    let msg = ask(&s, "www.lab.example.com.", RecordType::AAAA);
    assert_eq!(
        lines(&msg.answers),
        ["www.lab.example.com. 60 IN AAAA fd00::1"]
    );
    let msg = ask(&s, "txt.lab.example.com.", RecordType::TXT);
    let RData::TXT(txt) = &msg.answers[0].data else {
        panic!("{:?}", msg.answers)
    };
    assert_eq!(txt.txt_data.len(), 2, "two character strings");
    assert_eq!(
        lines(&msg.answers),
        ["txt.lab.example.com. 60 IN TXT helloworld"]
    );
    let msg = ask(&s, "_sip._tcp.lab.example.com.", RecordType::SRV);
    assert_eq!(
        lines(&msg.answers),
        ["_sip._tcp.lab.example.com. 60 IN SRV 10 5 5060 www.lab.example.com."]
    );
    assert_eq!(
        msg.additionals.len(),
        3,
        "A and AAAA of the SRV target as additional data"
    );
    let msg = ask(&s, ORIGIN, RecordType::SOA);
    assert_eq!(
        lines(&msg.answers),
        [
            "lab.example.com. 3600 IN SOA ns1.lab.example.com. hostmaster.lab.example.com. 7 3600 600 86400 300"
        ]
    );
    let msg = ask(&s, ORIGIN, RecordType::NS);
    assert_eq!(
        lines(&msg.answers),
        ["lab.example.com. 3600 IN NS ns1.lab.example.com."]
    );
    assert_eq!(
        lines(&msg.additionals),
        ["ns1.lab.example.com. 60 IN A 10.0.0.53"]
    );
}

#[test]
fn nxdomain_vs_nodata() {
    let s = shared(test_zone());
    assert_negative(
        &ask(&s, "nope.lab.example.com.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask(&s, "x.www.lab.example.com.", RecordType::A),
        ResponseCode::NXDomain,
    );
    // Existing name, other type (including types the zone never uses).
    assert_negative(
        &ask(&s, "www.lab.example.com.", RecordType::TXT),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask(&s, "www.lab.example.com.", RecordType::MX),
        ResponseCode::NoError,
    );
    assert_negative(&ask(&s, ORIGIN, RecordType::A), ResponseCode::NoError);
    // Empty non-terminals exist: NODATA, and names below them that do not exist: NXDOMAIN.
    assert_negative(
        &ask(&s, "b.deep.lab.example.com.", RecordType::A),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask(&s, "deep.lab.example.com.", RecordType::AAAA),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask(&s, "_tcp.lab.example.com.", RecordType::SRV),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask(&s, "c.deep.lab.example.com.", RecordType::A),
        ResponseCode::NXDomain,
    );
}

#[test]
fn wildcards() {
    let s = shared(test_zone());
    let msg = ask(&s, "foo.wild.lab.example.com.", RecordType::A);
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&msg.answers),
        ["foo.wild.lab.example.com. 60 IN A 10.0.0.7"]
    );
    let msg = ask(&s, "a.b.wild.lab.example.com.", RecordType::TXT);
    assert_eq!(
        lines(&msg.answers),
        ["a.b.wild.lab.example.com. 60 IN TXT wild"]
    );
    assert_negative(
        &ask(&s, "foo.wild.lab.example.com.", RecordType::AAAA),
        ResponseCode::NoError,
    );
    // An existing name is not covered by the wildcard, nor are names below it (RFC 4592).
    let msg = ask(&s, "sub.wild.lab.example.com.", RecordType::A);
    assert_eq!(
        lines(&msg.answers),
        ["sub.wild.lab.example.com. 60 IN A 10.0.0.8"]
    );
    assert_negative(
        &ask(&s, "sub.wild.lab.example.com.", RecordType::TXT),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask(&s, "x.sub.wild.lab.example.com.", RecordType::A),
        ResponseCode::NXDomain,
    );
    // The wildcard's parent exists (empty non-terminal).
    assert_negative(
        &ask(&s, "wild.lab.example.com.", RecordType::A),
        ResponseCode::NoError,
    );
}

#[test]
fn cname_chains() {
    let s = shared(test_zone());
    let msg = ask(&s, "chain.lab.example.com.", RecordType::A);
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&msg.answers),
        [
            "chain.lab.example.com. 60 IN CNAME alias.lab.example.com.",
            "alias.lab.example.com. 60 IN CNAME www.lab.example.com.",
            "www.lab.example.com. 60 IN A 10.0.0.1",
            "www.lab.example.com. 60 IN A 10.0.0.2",
        ]
    );
    let msg = ask(&s, "alias.lab.example.com.", RecordType::CNAME);
    assert_eq!(
        lines(&msg.answers),
        ["alias.lab.example.com. 60 IN CNAME www.lab.example.com."]
    );
    // Chain ends at an existing name without the type: CNAME + NODATA.
    let msg = ask(&s, "alias.lab.example.com.", RecordType::MX);
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.authorities[0].record_type(), RecordType::SOA);
    // Chain into nothing: NXDOMAIN with the CNAME (RFC 6604).
    let msg = ask(&s, "dangling.lab.example.com.", RecordType::A);
    assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(msg.answers.len(), 1);
    assert_eq!(msg.authorities[0].record_type(), RecordType::SOA);
    // Chain out of the zone: just the CNAME, the client resolves the rest.
    let msg = ask(&s, "ext.lab.example.com.", RecordType::A);
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&msg.answers),
        ["ext.lab.example.com. 60 IN CNAME www.example.org."]
    );
    assert!(msg.authorities.is_empty());
}

#[test]
fn case_insensitive_and_question_case_preserved() {
    let s = shared(test_zone());
    let msg = ask(&s, "WwW.LaB.eXample.COM.", RecordType::A);
    assert_eq!(msg.answers.len(), 2);
    assert_eq!(msg.answers[0].name.to_ascii(), "WwW.LaB.eXample.COM.");
    let msg = ask(&s, "NoPe.LAB.example.com.", RecordType::A);
    assert_negative(&msg, ResponseCode::NXDomain);
    let msg = ask(&s, "FOO.Wild.lab.example.com.", RecordType::A);
    assert_eq!(msg.answers.len(), 1);
}

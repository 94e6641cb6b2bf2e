//! Owns the input contract of the DNS server ([`ZoneData`], [`DnsConfig`] and friends — plain
//! data produced by the topology code) and its validation into [`ValidZone`], the normalized
//! form both answer paths are built from. Validation never panics; it returns [`ZoneError`].

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::name::{NameError, WireName};

/// TTL of the SOA and NS records. The input contract carries no TTL for them, so it is fixed
/// here; the negative-answer TTL is `min(soa.minimum, APEX_TTL)` (RFC 2308 §3).
pub const APEX_TTL: u32 = 3600;

/// One authoritative zone, as generated from the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneData {
    /// Absolute origin, e.g. `lab.example.com.`.
    pub origin: String,
    /// Start of authority.
    pub soa: SoaData,
    /// Absolute names of the zone's name servers (at least one).
    pub ns: Vec<String>,
    /// All other records.
    pub records: Vec<RecordData>,
}

/// SOA fields (RFC 1035 §3.3.13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoaData {
    /// Primary name server (absolute).
    pub mname: String,
    /// Responsible mailbox as a name, e.g. `hostmaster.lab.example.com.`.
    pub rname: String,
    /// Zone serial.
    pub serial: u32,
    /// Refresh interval, seconds.
    pub refresh: i32,
    /// Retry interval, seconds.
    pub retry: i32,
    /// Expiry, seconds.
    pub expire: i32,
    /// Negative-caching TTL, seconds.
    pub minimum: u32,
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordData {
    /// Absolute owner name inside the origin; may start with `*.` for a wildcard.
    pub name: String,
    /// Time to live, seconds. Records of one RRset get the smallest TTL among them.
    pub ttl: u32,
    /// The data.
    pub rdata: RecordValue,
}

/// Record data of the supported types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordValue {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias to an absolute name (no other data may exist at the same name).
    Cname(String),
    /// Character strings, each at most 255 bytes; at least one.
    Txt(Vec<String>),
    /// Service location (RFC 2782); `target` is absolute (`.` = service not available).
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: String,
    },
}

/// Server configuration besides the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    /// Source networks allowed to query; everything else gets REFUSED (see the loopback rule in
    /// `dns::server`).
    pub allowed_sources: Vec<ipnet::IpNet>,
    /// Resolvers for names outside the zone; empty = REFUSED for such names.
    pub upstreams: Vec<SocketAddr>,
    /// How long to wait for upstreams before answering SERVFAIL.
    pub upstream_timeout: Duration,
}

/// Why a [`ZoneData`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A name failed to parse.
    #[error("{what} {name:?}: {source}")]
    BadName {
        /// Which field held the name.
        what: &'static str,
        /// The offending text.
        name: String,
        /// Why it is invalid.
        source: NameError,
    },
    /// A record owner outside the origin.
    #[error("record {name} is outside the zone {origin}")]
    OutsideZone {
        /// Owner name.
        name: String,
        /// Zone origin.
        origin: String,
    },
    /// CNAME together with other data (including the SOA/NS at the apex).
    #[error("{name}: a CNAME cannot coexist with other data at the same name")]
    CnameAndOtherData {
        /// Owner name.
        name: String,
    },
    /// Two different CNAMEs at one name.
    #[error("{name}: more than one CNAME")]
    MultipleCnames {
        /// Owner name.
        name: String,
    },
    /// `ns` is empty.
    #[error("the zone has no NS records")]
    NoNameServers,
    /// TXT without strings.
    #[error("{name}: a TXT record needs at least one string")]
    EmptyTxt {
        /// Owner name.
        name: String,
    },
    /// TXT string over 255 bytes.
    #[error("{name}: a TXT string is longer than 255 bytes")]
    TxtTooLong {
        /// Owner name.
        name: String,
    },
    /// An answer that cannot fit a DNS message even over TCP.
    #[error("{name} type {rtype}: answer of {size} bytes does not fit a DNS message")]
    TooLarge {
        /// Owner name.
        name: String,
        /// Record type number.
        rtype: u16,
        /// Encoded size.
        size: usize,
    },
}

/// Record type numbers used here.
pub(crate) mod rtype {
    pub(crate) const A: u16 = 1;
    pub(crate) const NS: u16 = 2;
    pub(crate) const CNAME: u16 = 5;
    pub(crate) const SOA: u16 = 6;
    pub(crate) const TXT: u16 = 16;
    pub(crate) const AAAA: u16 = 28;
    pub(crate) const SRV: u16 = 33;
}

/// Validated record data, names already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(WireName),
    Txt(Vec<Vec<u8>>),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: WireName,
    },
    Ns(WireName),
    Soa {
        mname: WireName,
        rname: WireName,
        serial: u32,
        refresh: i32,
        retry: i32,
        expire: i32,
        minimum: u32,
    },
}

impl Data {
    /// The record type number.
    pub(crate) fn rtype(&self) -> u16 {
        match self {
            Self::A(_) => rtype::A,
            Self::Aaaa(_) => rtype::AAAA,
            Self::Cname(_) => rtype::CNAME,
            Self::Txt(_) => rtype::TXT,
            Self::Srv { .. } => rtype::SRV,
            Self::Ns(_) => rtype::NS,
            Self::Soa { .. } => rtype::SOA,
        }
    }
}

/// All records of one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RrSet {
    pub(crate) ttl: u32,
    pub(crate) data: Vec<Data>,
}

/// A zone that passed validation: names parsed and lowercased, records grouped into RRsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidZone {
    pub(crate) origin: WireName,
    /// owner → type → RRset (includes the apex SOA and NS).
    pub(crate) names: BTreeMap<WireName, BTreeMap<u16, RrSet>>,
    /// TTL of the SOA in negative answers.
    pub(crate) negative_ttl: u32,
    /// SOA serial (hickory's in-memory handler wants it on insert).
    pub(crate) serial: u32,
}

fn parse(what: &'static str, text: &str, wildcard: bool) -> Result<WireName, ZoneError> {
    WireName::parse(text, wildcard).map_err(|source| ZoneError::BadName {
        what,
        name: text.to_owned(),
        source,
    })
}

impl ValidZone {
    /// Validates `zone`.
    pub(crate) fn new(zone: &ZoneData) -> Result<Self, ZoneError> {
        let origin = parse("origin", &zone.origin, false)?;
        let soa = &zone.soa;
        let soa_data = Data::Soa {
            mname: parse("SOA mname", &soa.mname, false)?,
            rname: parse("SOA rname", &soa.rname, false)?,
            serial: soa.serial,
            refresh: soa.refresh,
            retry: soa.retry,
            expire: soa.expire,
            minimum: soa.minimum,
        };
        if zone.ns.is_empty() {
            return Err(ZoneError::NoNameServers);
        }
        let mut records = vec![(origin.clone(), APEX_TTL, soa_data)];
        for ns in &zone.ns {
            records.push((origin.clone(), APEX_TTL, Data::Ns(parse("NS", ns, false)?)));
        }
        for record in &zone.records {
            let name = parse("record name", &record.name, true)?;
            if !name.is_in(&origin) {
                return Err(ZoneError::OutsideZone {
                    name: name.to_string(),
                    origin: origin.to_string(),
                });
            }
            let data = Self::data(&name, &record.rdata)?;
            records.push((name, record.ttl, data));
        }

        let mut names: BTreeMap<WireName, BTreeMap<u16, RrSet>> = BTreeMap::new();
        for (name, ttl, data) in records {
            let set = names
                .entry(name)
                .or_default()
                .entry(data.rtype())
                .or_insert(RrSet { ttl, data: vec![] });
            set.ttl = set.ttl.min(ttl);
            if !set.data.contains(&data) {
                set.data.push(data);
            }
        }
        for (name, sets) in &names {
            if let Some(cname) = sets.get(&rtype::CNAME) {
                if sets.len() > 1 {
                    return Err(ZoneError::CnameAndOtherData {
                        name: name.to_string(),
                    });
                }
                if cname.data.len() > 1 {
                    return Err(ZoneError::MultipleCnames {
                        name: name.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            origin,
            names,
            negative_ttl: soa.minimum.min(APEX_TTL),
            serial: soa.serial,
        })
    }

    fn data(name: &WireName, value: &RecordValue) -> Result<Data, ZoneError> {
        Ok(match value {
            RecordValue::A(ip) => Data::A(*ip),
            RecordValue::Aaaa(ip) => Data::Aaaa(*ip),
            RecordValue::Cname(target) => Data::Cname(parse("CNAME target", target, false)?),
            RecordValue::Txt(strings) => {
                if strings.is_empty() {
                    return Err(ZoneError::EmptyTxt {
                        name: name.to_string(),
                    });
                }
                if strings.iter().any(|s| s.len() > 255) {
                    return Err(ZoneError::TxtTooLong {
                        name: name.to_string(),
                    });
                }
                Data::Txt(strings.iter().map(|s| s.as_bytes().to_vec()).collect())
            }
            RecordValue::Srv {
                priority,
                weight,
                port,
                target,
            } => Data::Srv {
                priority: *priority,
                weight: *weight,
                port: *port,
                target: parse("SRV target", target, false)?,
            },
        })
    }
}

//! Owns the general request path, built on hickory-server: the zone loaded into hickory's
//! `InMemoryZoneHandler` (one `Catalog` per zone version), the forwarder `Catalog` (a
//! `ForwardZoneHandler` for the root zone when upstreams are configured, empty otherwise so that
//! hickory answers REFUSED), and [`answer`], which runs one raw query through the right catalog
//! and captures the encoded response. The fast path hands everything it does not answer itself
//! (forwarding, ANY/AXFR/meta types, classes other than IN, extra records, compressed questions)
//! to this path.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use hickory_proto::{
    op::{Header, HeaderCounts, MessageType, Metadata, ResponseCode},
    rr::{
        LowerName, Name, RData, Record,
        rdata::{A, AAAA, CNAME, NS, SOA, SRV, TXT},
    },
    serialize::binary::{BinEncodable, BinEncoder},
};
use hickory_server::{
    net::{
        NetError,
        runtime::{TokioRuntimeProvider, TokioTime},
        xfer::Protocol,
    },
    resolver::config::{NameServerConfig, ResolverOpts},
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    store::{
        forwarder::{ForwardConfig, ForwardZoneHandler},
        in_memory::InMemoryZoneHandler,
    },
    zone_handler::{AxfrPolicy, Catalog, MessageResponse, ZoneType},
};
use tracing::debug;

use super::{
    wire::MAX_UDP_PAYLOAD,
    zone::{Data, DnsConfig, ValidZone},
};

/// Loads a validated zone into hickory's in-memory zone handler inside a new catalog.
pub(crate) fn zone_catalog(zone: &ValidZone) -> Catalog {
    let origin = zone.origin.to_hickory();
    let mut handler = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    for (name, sets) in &zone.names {
        let owner = name.to_hickory();
        for set in sets.values() {
            for data in &set.data {
                let record = Record::from_rdata(owner.clone(), set.ttl, rdata(data));
                // A validated zone has no conflicting records, so every insert succeeds.
                handler.upsert_mut(record, zone.serial);
            }
        }
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(handler)]);
    catalog
}

fn rdata(data: &Data) -> RData {
    match data {
        Data::A(ip) => RData::A(A(*ip)),
        Data::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        Data::Cname(target) => RData::CNAME(CNAME(target.to_hickory())),
        Data::Ns(target) => RData::NS(NS(target.to_hickory())),
        Data::Txt(strings) => {
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, target.to_hickory())),
        Data::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => RData::SOA(SOA::new(
            mname.to_hickory(),
            rname.to_hickory(),
            *serial,
            *refresh,
            *retry,
            *expire,
            *minimum,
        )),
    }
}

/// The catalog for names outside the zone: hickory's forwarder for the root zone, or an empty
/// catalog (hickory answers REFUSED) without upstreams.
pub(crate) fn forward_catalog(cfg: &DnsConfig) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::new();
    if cfg.upstreams.is_empty() {
        return Ok(catalog);
    }
    let name_servers = cfg
        .upstreams
        .iter()
        .map(|upstream| {
            let mut server = NameServerConfig::udp_and_tcp(upstream.ip());
            for connection in &mut server.connections {
                connection.port = upstream.port();
            }
            server
        })
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = cfg.upstream_timeout;
    options.attempts = 1;
    let config = ForwardConfig {
        name_servers,
        options: Some(options),
    };
    let handler = ForwardZoneHandler::builder_tokio(config)
        .build()
        .map_err(|e| anyhow::anyhow!("configuring the DNS forwarder: {e}"))?;
    catalog.upsert(LowerName::new(&Name::root()), vec![Arc::new(handler)]);
    Ok(catalog)
}

/// Outcome of the general path.
#[derive(Debug)]
pub(crate) enum General {
    /// Send this response.
    Reply(Vec<u8>),
    /// hickory could not parse the message: answer FORMERR.
    FormErr,
    /// Nothing to send (a response message, or no response produced).
    Ignore,
}

/// Runs one query through hickory: the zone catalog for names in `origin` (and for messages
/// without exactly one question, which hickory answers FORMERR), the forward catalog otherwise.
pub(crate) async fn answer(
    zone_catalog: &Catalog,
    origin: &LowerName,
    forward: &Catalog,
    packet: &[u8],
    src: SocketAddr,
    tcp: bool,
) -> General {
    let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
    let request = match Request::from_bytes(packet.to_vec(), src, protocol) {
        Ok(request) => request,
        Err(error) => {
            debug!(%src, %error, "unparsable DNS message");
            return General::FormErr;
        }
    };
    if request.metadata.message_type == MessageType::Response {
        return General::Ignore;
    }
    let queries = request.queries.queries();
    let in_zone = queries.len() != 1 || origin.zone_of(queries[0].name());
    let catalog = if in_zone { zone_catalog } else { forward };
    let limit = if tcp {
        u16::MAX
    } else {
        request.max_payload().min(MAX_UDP_PAYLOAD)
    };
    let capture = Capture {
        limit,
        response: Arc::default(),
    };
    catalog
        .handle_request::<_, TokioTime>(&request, capture.clone())
        .await;
    let response = capture.response.lock().map(|mut r| r.take());
    match response {
        Ok(Some(bytes)) => General::Reply(bytes),
        _ => General::Ignore,
    }
}

/// A hickory `ResponseHandler` that encodes the response (truncating to `limit`, which sets
/// TC) and keeps the bytes for the caller to send.
#[derive(Clone)]
struct Capture {
    limit: u16,
    response: Arc<Mutex<Option<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let metadata = *response.metadata();
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(self.limit);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, "encoding a hickory response failed; answering SERVFAIL");
                let mut failed = Metadata::response_from_request(&metadata);
                failed.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata: failed,
                    counts: HeaderCounts::default(),
                };
                bytes.clear();
                header.emit(&mut BinEncoder::new(&mut bytes))?;
                ResponseInfo::from(header)
            }
        };
        if let Ok(mut slot) = self.response.lock() {
            *slot = Some(bytes);
        }
        Ok(info)
    }
}

//! Owns the fast path's wire handling: a minimal, allocation-free parser for the header, the
//! single question and an optional OPT record ([`parse`]), and the writers that assemble a
//! response from a [`Prepared`] answer (ID, RD/CD and the question bytes copied from the query,
//! origin pointers patched, OPT appended, TC when it does not fit) or an error response. Anything
//! the parser does not fully understand is classified [`Parse::General`] and left to hickory.

use super::answers::Prepared;

/// UDP payload size this server advertises and its cap for UDP responses (DNS flag day 2020).
pub(crate) const MAX_UDP_PAYLOAD: u16 = 1232;

pub(crate) const FORMERR: u8 = 1;
pub(crate) const SERVFAIL: u8 = 2;
pub(crate) const NOTIMP: u8 = 4;
pub(crate) const REFUSED: u8 = 5;
/// Extended RCODE 16 (needs OPT; upper 8 bits go into the OPT TTL).
pub(crate) const BADVERS: u16 = 16;

const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;
const OPT_LEN: usize = 11;

/// A parsed standard query with one question.
#[derive(Debug)]
pub(crate) struct Query {
    /// Offset just past the question section.
    pub(crate) question_end: usize,
    /// Lowercased wire query name.
    lower: [u8; 255],
    lower_len: usize,
    /// Offsets of the labels in `lower`.
    labels: [u8; 128],
    label_count: usize,
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
    /// EDNS UDP payload size, if the query had an OPT record.
    pub(crate) edns: Option<u16>,
}

impl Query {
    pub(crate) fn lower_name(&self) -> &[u8] {
        &self.lower[..self.lower_len]
    }

    pub(crate) fn label_offsets(&self) -> &[u8] {
        &self.labels[..self.label_count]
    }

    /// Largest response this query may get over UDP (RFC 6891 §6.2.5, RFC 1035 §4.2.1).
    pub(crate) fn udp_limit(&self) -> usize {
        usize::from(self.edns.map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD)))
    }
}

/// How a packet is to be handled.
#[derive(Debug)]
// Returned by value once per packet; boxing the big variant would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parse {
    /// Not answerable (too short for a header, or a response): drop silently.
    Ignore,
    /// Answer with this RCODE (no question echoed); `edns` = include an OPT record.
    Error { rcode: u16, edns: bool },
    /// A query the fast path understands.
    Query(Query),
    /// Valid-looking but unusual (compression in the question, extra records, class != IN,
    /// meta qtypes, ...): hand to hickory-server.
    General,
}

fn be16(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(packet.get(at..at + 2)?.try_into().ok()?))
}

/// Classifies and, for the common case, parses a query.
pub(crate) fn parse(packet: &[u8]) -> Parse {
    if packet.len() < HEADER_LEN || packet[2] & 0x80 != 0 {
        return Parse::Ignore;
    }
    if (packet[2] >> 3) & 0x0F != 0 {
        return Parse::Error {
            rcode: u16::from(NOTIMP),
            edns: false,
        };
    }
    let formerr = Parse::Error {
        rcode: u16::from(FORMERR),
        edns: false,
    };
    let count = |i: usize| u16::from_be_bytes([packet[4 + 2 * i], packet[5 + 2 * i]]);
    if count(0) != 1 {
        return formerr;
    }
    let mut query = Query {
        question_end: 0,
        lower: [0; 255],
        lower_len: 0,
        labels: [0; 128],
        label_count: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    let mut pos = HEADER_LEN;
    loop {
        let Some(&len) = packet.get(pos) else {
            return formerr;
        };
        match len {
            0 => break,
            1..=63 => {}
            0xC0..=0xFF => return Parse::General, // compression pointer in the question
            _ => return formerr,
        }
        let len = usize::from(len);
        let (start, end) = (query.lower_len, query.lower_len + 1 + len);
        // `end + 1` for the terminating zero; 127 labels is the most 255 bytes can hold.
        let Some(label) = packet.get(pos + 1..pos + 1 + len) else {
            return formerr;
        };
        if end + 1 > 255 || query.label_count == query.labels.len() {
            return formerr;
        }
        query.labels[query.label_count] = start as u8;
        query.label_count += 1;
        query.lower[start] = len as u8;
        for (dst, src) in query.lower[start + 1..end].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        query.lower_len = end;
        pos += 1 + len;
    }
    query.lower[query.lower_len] = 0;
    query.lower_len += 1;
    let (Some(qtype), Some(qclass)) = (be16(packet, pos + 1), be16(packet, pos + 3)) else {
        return formerr;
    };
    query.question_end = pos + 5;
    query.qtype = qtype;
    query.qclass = qclass;
    if count(1) != 0 || count(2) != 0 || count(3) > 1 {
        return Parse::General;
    }
    if count(3) == 1 {
        // Only a lone OPT record is handled here (TSIG and friends go to hickory).
        let at = query.question_end;
        if packet.get(at) != Some(&0) || be16(packet, at + 1) != Some(TYPE_OPT) {
            return Parse::General;
        }
        let (Some(payload), Some(rdlen)) = (be16(packet, at + 3), be16(packet, at + 9)) else {
            return formerr;
        };
        if packet.len() < at + OPT_LEN + usize::from(rdlen) {
            return formerr;
        }
        if packet[at + 6] != 0 {
            return Parse::Error {
                rcode: BADVERS,
                edns: true,
            };
        }
        query.edns = Some(payload);
    }
    if qclass != CLASS_IN || qtype == TYPE_OPT || (128..=255).contains(&qtype) {
        return Parse::General;
    }
    Parse::Query(query)
}

/// Writes our OPT record (no options, DO clear) with the upper bits of `rcode`.
fn push_opt(out: &mut Vec<u8>, rcode: u16) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[(rcode >> 4) as u8, 0, 0, 0, 0, 0]);
}

/// Writes a header echoing the query's ID, opcode, RD and CD.
fn push_header(out: &mut Vec<u8>, packet: &[u8], flags: (u8, u8), counts: [u16; 4]) {
    out.extend_from_slice(&packet[..2]);
    out.push(0x80 | (packet[2] & 0x79) | flags.0); // QR, opcode, RD
    out.push((packet[3] & 0x10) | flags.1); // CD
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

/// Appends the response for `query`, assembled from a prepared answer, to `out`. `origin_len` is the wire length
/// of the zone origin, `ra` the RA flag, `limit` the largest allowed message.
pub(crate) fn write_answer(
    out: &mut Vec<u8>,
    packet: &[u8],
    query: &Query,
    answer: &Prepared,
    origin_len: usize,
    ra: bool,
    limit: usize,
) {
    let start = out.len();
    let opt = u16::from(query.edns.is_some());
    let [an, ns, ar] = answer.counts;
    let rflags = u8::from(ra) << 7 | answer.rcode;
    push_header(out, packet, (0x04, rflags), [1, an, ns, ar + opt]);
    out.extend_from_slice(&packet[HEADER_LEN..query.question_end]);
    let body_at = out.len();
    if body_at - start + answer.body.len() + OPT_LEN * usize::from(opt) > limit {
        // Does not fit: header + question with TC set; the client retries over TCP.
        out[start + 2] |= 0x02;
        out[start + 6..start + 12].copy_from_slice(&[0, 0, 0, 0, 0, opt as u8]);
    } else {
        out.extend_from_slice(&answer.body);
        let qname_len = query.question_end - 4 - HEADER_LEN;
        let pointer = (0xC000 | (HEADER_LEN + qname_len - origin_len)) as u16;
        for &at in answer.origin_ptrs.iter() {
            let at = body_at + usize::from(at);
            out[at..at + 2].copy_from_slice(&pointer.to_be_bytes());
        }
    }
    if opt == 1 {
        push_opt(out, 0);
    }
}

/// Appends an error response to `out`. With `question`, the parsed question is echoed; with `edns`, an
/// OPT record carries the upper RCODE bits.
pub(crate) fn write_error(
    out: &mut Vec<u8>,
    packet: &[u8],
    rcode: u16,
    question: Option<&Query>,
    edns: bool,
) {
    let qd = u16::from(question.is_some());
    let rflags = (rcode & 0x0F) as u8;
    push_header(out, packet, (0, rflags), [qd, 0, 0, u16::from(edns)]);
    if let Some(query) = question {
        out.extend_from_slice(&packet[HEADER_LEN..query.question_end]);
    }
    if edns {
        push_opt(out, rcode);
    }
}

//! Owns the build-time encoder of prepared answers: resource records in wire format with the
//! position-independent compression scheme described in `answers` (owner equal to the query
//! name → `0xC00C`; in-zone names → their labels plus a pointer to the origin inside the
//! question, recorded in `origin_ptrs` for patching; other names uncompressed).

use super::{name::WireName, zone::Data};

pub(crate) struct Encoder<'a> {
    qname: Option<&'a WireName>,
    origin: &'a WireName,
    pub(crate) body: Vec<u8>,
    pub(crate) origin_ptrs: Vec<u16>,
}

impl<'a> Encoder<'a> {
    /// An empty body for answers to `qname` (`None`: shared by many names) in zone `origin`.
    pub(crate) fn new(qname: Option<&'a WireName>, origin: &'a WireName) -> Self {
        Self {
            qname,
            origin,
            body: Vec::with_capacity(128),
            origin_ptrs: vec![],
        }
    }

    fn name(&mut self, name: &WireName, compress: bool) {
        match name.prefix_len_in(self.origin).filter(|_| compress) {
            Some(prefix) => {
                self.body.extend_from_slice(&name.wire()[..prefix]);
                self.origin_ptrs.push(self.body.len() as u16);
                self.body.extend_from_slice(&[0xC0, 0]);
            }
            None => self.body.extend_from_slice(name.wire()),
        }
    }

    /// Appends one resource record.
    pub(crate) fn record(&mut self, owner: &WireName, rtype: u16, ttl: u32, data: &Data) {
        if Some(owner) == self.qname {
            self.body.extend_from_slice(&[0xC0, 12]);
        } else {
            self.name(owner, true);
        }
        self.body.extend_from_slice(&rtype.to_be_bytes());
        self.body.extend_from_slice(&1u16.to_be_bytes()); // class IN
        self.body.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.body.len();
        self.body.extend_from_slice(&[0, 0]);
        match data {
            Data::A(ip) => self.body.extend_from_slice(&ip.octets()),
            Data::Aaaa(ip) => self.body.extend_from_slice(&ip.octets()),
            Data::Cname(target) | Data::Ns(target) => self.name(target, true),
            Data::Txt(strings) => {
                for s in strings {
                    self.body.push(s.len() as u8);
                    self.body.extend_from_slice(s);
                }
            }
            Data::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                for v in [priority, weight, port] {
                    self.body.extend_from_slice(&v.to_be_bytes());
                }
                self.name(target, false); // RFC 2782: no compression in SRV
            }
            Data::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname, true);
                self.name(rname, true);
                for v in [
                    *serial,
                    *refresh as u32,
                    *retry as u32,
                    *expire as u32,
                    *minimum,
                ] {
                    self.body.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        let rdlen = (self.body.len() - len_at - 2) as u16;
        self.body[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
}

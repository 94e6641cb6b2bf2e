//! Owns the fast path's answer table: at zone-build time every (name, qtype) answer of the zone
//! — positive, CNAME chains, NODATA and NXDOMAIN, wildcard synthesis, empty non-terminals — is
//! resolved once and encoded to wire format ([`Prepared`]); at query time [`AnswerTable::lookup`]
//! is a hash lookup on the lowercased query name.
//!
//! A prepared answer is everything after the question section and is position independent: the
//! owner of answer records equal to the query name is the pointer `0xC00C` (the question name),
//! names inside the zone end in a pointer to the origin's suffix *inside the question* (its offset
//! depends on the query name's length, so its positions are listed in `origin_ptrs` and patched
//! when the response is assembled), names outside the zone are written uncompressed. That makes a
//! wildcard's prepared answers valid for every name the wildcard matches.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use super::{
    encode::Encoder,
    name::WireName,
    zone::{Data, RrSet, ValidZone, ZoneError, rtype},
};

/// Longest CNAME chain followed inside the zone.
const MAX_CHAIN: usize = 8;
/// RCODE values used in prepared answers.
pub(crate) const NOERROR: u8 = 0;
pub(crate) const NXDOMAIN: u8 = 3;

/// One prepared response body (answer, authority and additional sections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    pub(crate) rcode: u8,
    /// Answer, authority and additional record counts.
    pub(crate) counts: [u16; 3],
    pub(crate) body: Box<[u8]>,
    /// Offsets in `body` where a pointer to the origin inside the question goes.
    pub(crate) origin_ptrs: Box<[u16]>,
}

/// The answers for every qtype at one name.
#[derive(Debug)]
struct TypeAnswers {
    by_type: Box<[(u16, Arc<Prepared>)]>,
    /// For every qtype not in `by_type` (NODATA, or a CNAME chain ending without that type).
    default: Arc<Prepared>,
}

impl TypeAnswers {
    fn get(&self, qtype: u16) -> &Prepared {
        self.by_type
            .iter()
            .find(|(t, _)| *t == qtype)
            .map_or(&self.default, |(_, p)| p)
    }
}

#[derive(Debug)]
struct NameEntry {
    answers: Arc<TypeAnswers>,
    /// Answers of `*.<this name>`, if that wildcard exists.
    wildcard: Option<Arc<TypeAnswers>>,
}

/// Result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// The query name is in the zone: the full answer.
    Zone(&'a Prepared),
    /// The query name is not in the zone (forward or refuse).
    OutOfZone,
}

/// All prepared answers of one zone.
#[derive(Debug)]
pub(crate) struct AnswerTable {
    origin_len: usize,
    names: HashMap<Box<[u8]>, NameEntry>,
    nxdomain: Arc<Prepared>,
}

impl AnswerTable {
    /// Wire length of the origin.
    pub(crate) fn origin_len(&self) -> usize {
        self.origin_len
    }

    /// Looks up a query. `lower` is the lowercased wire query name, `labels` the offsets of its
    /// labels in `lower` (first is 0).
    pub(crate) fn lookup(&self, lower: &[u8], labels: &[u8], qtype: u16) -> Lookup<'_> {
        if let Some(entry) = self.names.get(lower) {
            return Lookup::Zone(entry.answers.get(qtype));
        }
        // Not an existing name: the first existing ancestor is the closest encloser.
        for &offset in labels.iter().skip(1) {
            let suffix = &lower[usize::from(offset)..];
            if suffix.len() < self.origin_len {
                break;
            }
            if let Some(encloser) = self.names.get(suffix) {
                return Lookup::Zone(match &encloser.wildcard {
                    Some(wildcard) => wildcard.get(qtype),
                    None => &self.nxdomain,
                });
            }
        }
        Lookup::OutOfZone
    }

    /// Prepares every answer of `zone`.
    pub(crate) fn build(zone: &ValidZone) -> Result<Self, ZoneError> {
        let mut existing: BTreeSet<WireName> = BTreeSet::new();
        for name in zone.names.keys() {
            let mut current = Some(name.clone());
            while let Some(name) = current.filter(|n| n.is_in(&zone.origin)) {
                current = name.parent();
                existing.insert(name);
            }
        }
        let builder = Builder {
            zone,
            existing: &existing,
            types: zone
                .names
                .values()
                .flat_map(|s| s.keys().copied())
                .collect(),
        };
        // Shared by every name, so no owner is the query name.
        let negative = |rcode| builder.encode(None, &Resolution::negative(rcode));
        let nodata = Arc::new(negative(NOERROR)?);
        let nxdomain = Arc::new(negative(NXDOMAIN)?);

        let mut answers: BTreeMap<&WireName, Arc<TypeAnswers>> = BTreeMap::new();
        for name in &existing {
            answers.insert(name, Arc::new(builder.type_answers(name, &nodata)?));
        }
        let names = existing
            .iter()
            .map(|name| {
                let entry = NameEntry {
                    answers: answers[name].clone(),
                    wildcard: answers.get(&name.wildcard_child()).cloned(),
                };
                (name.wire().into(), entry)
            })
            .collect();
        Ok(Self {
            origin_len: zone.origin.wire().len(),
            names,
            nxdomain,
        })
    }
}

/// What a name resolves to inside the zone (RFC 1034 §4.3.2, RFC 4592).
enum Found<'z> {
    Data(&'z BTreeMap<u16, RrSet>),
    NxDomain,
    OutOfZone,
}

/// An answer before encoding.
struct Resolution<'z> {
    rcode: u8,
    answers: Vec<(WireName, u16, &'z RrSet)>,
    soa: bool,
    additionals: Vec<(WireName, u16, &'z RrSet)>,
}

impl Resolution<'_> {
    fn negative(rcode: u8) -> Self {
        Self {
            rcode,
            answers: vec![],
            soa: true,
            additionals: vec![],
        }
    }
}

struct Builder<'z> {
    zone: &'z ValidZone,
    existing: &'z BTreeSet<WireName>,
    types: BTreeSet<u16>,
}

static EMPTY: BTreeMap<u16, RrSet> = BTreeMap::new();

impl<'z> Builder<'z> {
    fn type_answers(
        &self,
        name: &WireName,
        nodata: &Arc<Prepared>,
    ) -> Result<TypeAnswers, ZoneError> {
        let sets = self.zone.names.get(name).unwrap_or(&EMPTY);
        let (qtypes, default): (Vec<u16>, _) = if sets.contains_key(&rtype::CNAME) {
            // The chain's outcome depends on the qtype: prepare every type the zone has, and
            // the outcome for any other type (type 0 exists nowhere) as the default.
            let default = Arc::new(self.encode(Some(name), &self.resolve(name, 0))?);
            (self.types.iter().copied().collect(), default)
        } else {
            (sets.keys().copied().collect(), nodata.clone())
        };
        let mut by_type = Vec::with_capacity(qtypes.len());
        for qtype in qtypes {
            let prepared = self.encode(Some(name), &self.resolve(name, qtype))?;
            by_type.push((qtype, Arc::new(prepared)));
        }
        Ok(TypeAnswers {
            by_type: by_type.into(),
            default,
        })
    }

    fn find(&self, name: &WireName) -> Found<'z> {
        if self.existing.contains(name) {
            return Found::Data(self.zone.names.get(name).unwrap_or(&EMPTY));
        }
        if !name.is_in(&self.zone.origin) {
            return Found::OutOfZone;
        }
        let mut encloser = name.parent();
        while let Some(candidate) = encloser {
            if self.existing.contains(&candidate) {
                return match self.zone.names.get(&candidate.wildcard_child()) {
                    Some(sets) => Found::Data(sets),
                    None => Found::NxDomain,
                };
            }
            encloser = candidate.parent();
        }
        Found::NxDomain
    }

    fn resolve(&self, qname: &WireName, qtype: u16) -> Resolution<'z> {
        let mut res = Resolution {
            rcode: NOERROR,
            answers: vec![],
            soa: false,
            additionals: vec![],
        };
        let mut current = qname.clone();
        for _ in 0..MAX_CHAIN {
            let sets = match self.find(&current) {
                Found::OutOfZone => return res,
                Found::NxDomain => {
                    res.rcode = NXDOMAIN;
                    res.soa = true;
                    return res;
                }
                Found::Data(sets) => sets,
            };
            if let Some(set) = sets.get(&qtype) {
                res.answers.push((current, qtype, set));
                self.add_glue(&mut res, set);
                return res;
            }
            match sets.get(&rtype::CNAME) {
                Some(set) if qtype != rtype::CNAME => {
                    let Some(Data::Cname(target)) = set.data.first() else {
                        return res;
                    };
                    let target = target.clone();
                    res.answers.push((current, rtype::CNAME, set));
                    current = target;
                }
                _ => {
                    res.soa = true; // NODATA
                    return res;
                }
            }
        }
        res // chain too long or a loop: answer with what was found
    }

    /// Address records of in-zone NS and SRV targets, for the additional section.
    fn add_glue(&self, res: &mut Resolution<'z>, set: &'z RrSet) {
        for data in &set.data {
            let (Data::Ns(target) | Data::Srv { target, .. }) = data else {
                continue;
            };
            let Some(sets) = self.zone.names.get(target) else {
                continue;
            };
            for rtype in [rtype::A, rtype::AAAA] {
                let dup = res
                    .additionals
                    .iter()
                    .any(|(n, t, _)| n == target && *t == rtype);
                if let (Some(glue), false) = (sets.get(&rtype), dup) {
                    res.additionals.push((target.clone(), rtype, glue));
                }
            }
        }
    }

    /// Encodes `res`; records owned by `qname` get the pointer to the question name.
    fn encode(
        &self,
        qname: Option<&WireName>,
        res: &Resolution<'_>,
    ) -> Result<Prepared, ZoneError> {
        let mut enc = Encoder::new(qname, &self.zone.origin);
        let mut counts = [0u16; 3];
        for (owner, rtype, set) in &res.answers {
            for data in &set.data {
                enc.record(owner, *rtype, set.ttl, data);
                counts[0] += 1;
            }
        }
        if res.soa {
            let soa = &self.zone.names[&self.zone.origin][&rtype::SOA].data[0];
            enc.record(&self.zone.origin, rtype::SOA, self.zone.negative_ttl, soa);
            counts[1] += 1;
        }
        for (owner, rtype, set) in &res.additionals {
            for data in &set.data {
                enc.record(owner, *rtype, set.ttl, data);
                counts[2] += 1;
            }
        }
        // Header, longest question and an OPT record must fit a 64 KiB message.
        let size = 12 + 259 + enc.body.len() + 11;
        if size > usize::from(u16::MAX) {
            return Err(ZoneError::TooLarge {
                name: qname.unwrap_or(&self.zone.origin).to_string(),
                rtype: res.answers.last().map_or(0, |a| a.1),
                size,
            });
        }
        Ok(Prepared {
            rcode: res.rcode,
            counts,
            body: enc.body.into(),
            origin_ptrs: enc.origin_ptrs.into(),
        })
    }
}

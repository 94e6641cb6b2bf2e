//! Owns DNS name handling for the zone builder: parsing absolute text names into lowercased
//! wire format ([`WireName`]), label arithmetic (parent, suffix tests) and the hickory
//! conversion used when the same zone is loaded into hickory-server's in-memory handler.

use std::fmt;

/// Maximum length of a name in wire format (RFC 1035 §2.3.4).
pub(crate) const MAX_NAME_LEN: usize = 255;
/// Maximum length of one label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Why a text name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name does not end with a dot.
    #[error("name must be absolute (end with '.')")]
    NotAbsolute,
    /// Two dots in a row or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 bytes.
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    /// The whole name is longer than 255 bytes in wire format.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// A character outside letters, digits, '-' and '_' (or a misplaced '*').
    #[error(
        "invalid character {0:?} (allowed: letters, digits, '-', '_', and '*' as a whole leftmost label)"
    )]
    BadChar(char),
}

/// An absolute DNS name in lowercased, uncompressed wire format (length-prefixed labels and the
/// terminating zero byte). Lowercasing the whole wire form is safe: length bytes are <= 63 and
/// never fall in `A..=Z`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WireName(Vec<u8>);

impl WireName {
    /// The root name `.`.
    pub(crate) fn root() -> Self {
        Self(vec![0])
    }

    /// Parses an absolute text name. `*` is accepted only as the whole leftmost label and only
    /// when `allow_wildcard` is set.
    pub(crate) fn parse(text: &str, allow_wildcard: bool) -> Result<Self, NameError> {
        if text == "." {
            return Ok(Self::root());
        }
        let body = text.strip_suffix('.').ok_or(NameError::NotAbsolute)?;
        let mut wire = Vec::with_capacity(body.len() + 2);
        for (index, label) in body.split('.').enumerate() {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            let wildcard_ok = allow_wildcard && index == 0 && label == "*";
            let bad = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'));
            if let (false, Some(bad)) = (wildcard_ok, bad) {
                return Err(NameError::BadChar(bad));
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
        wire.push(0);
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        Ok(Self(wire))
    }

    /// The wire bytes.
    pub(crate) fn wire(&self) -> &[u8] {
        &self.0
    }

    /// Iterates over the labels, leftmost first.
    pub(crate) fn labels(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let len = usize::from(*self.0.get(pos)?);
            if len == 0 {
                return None;
            }
            let label = &self.0[pos + 1..pos + 1 + len];
            pos += 1 + len;
            Some(label)
        })
    }

    /// The name with its leftmost label removed, or `None` for the root.
    pub(crate) fn parent(&self) -> Option<Self> {
        let first = usize::from(self.0[0]);
        (first != 0).then(|| Self(self.0[first + 1..].to_vec()))
    }

    /// `*.<self>`.
    pub(crate) fn wildcard_child(&self) -> Self {
        let mut wire = Vec::with_capacity(self.0.len() + 2);
        wire.extend_from_slice(&[1, b'*']);
        wire.extend_from_slice(&self.0);
        Self(wire)
    }

    /// Whether `self` equals `zone` or lies below it (label-aligned suffix match).
    pub(crate) fn is_in(&self, zone: &Self) -> bool {
        self.prefix_len_in(zone).is_some()
    }

    /// If `self` is in `zone`, the number of wire bytes of the labels in front of `zone`.
    pub(crate) fn prefix_len_in(&self, zone: &Self) -> Option<usize> {
        let mut pos = 0;
        loop {
            if self.0[pos..] == zone.0[..] {
                return Some(pos);
            }
            let len = usize::from(self.0[pos]);
            if len == 0 {
                return None;
            }
            pos += 1 + len;
        }
    }

    /// Converts to hickory's name type (for the in-memory zone handler).
    pub(crate) fn to_hickory(&self) -> hickory_proto::rr::Name {
        if self.0 == [0] {
            return hickory_proto::rr::Name::root();
        }
        let mut name = hickory_proto::rr::Name::from_labels(self.labels())
            .expect("a validated WireName is a valid hickory name");
        name.set_fqdn(true);
        name
    }
}

impl fmt::Display for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for label in self.labels() {
            write!(f, "{}.", String::from_utf8_lossy(label))?;
            any = true;
        }
        if !any {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WireName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireName({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let name = WireName::parse("WWW.Lab.Example.com.", false).unwrap();
        assert_eq!(name.wire(), b"\x03www\x03lab\x07example\x03com\x00");
        assert_eq!(name.to_string(), "www.lab.example.com.");
        assert_eq!(name.labels().count(), 4);
        assert_eq!(WireName::parse(".", false).unwrap(), WireName::root());
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(WireName::parse("a.b", false), Err(NameError::NotAbsolute));
        assert_eq!(WireName::parse("a..b.", false), Err(NameError::EmptyLabel));
        assert_eq!(WireName::parse(".a.", false), Err(NameError::EmptyLabel));
        assert_eq!(WireName::parse("a b.", false), Err(NameError::BadChar(' ')));
        assert_eq!(WireName::parse("*.a.", false), Err(NameError::BadChar('*')));
        assert_eq!(
            WireName::parse("a.*.b.", true),
            Err(NameError::BadChar('*'))
        );
        assert_eq!(WireName::parse("x*.b.", true), Err(NameError::BadChar('*')));
        let long_label = format!("{}.", "a".repeat(64));
        assert_eq!(
            WireName::parse(&long_label, false),
            Err(NameError::LabelTooLong)
        );
        let long_name = format!("{}.", vec!["a".repeat(60); 5].join("."));
        assert_eq!(
            WireName::parse(&long_name, false),
            Err(NameError::NameTooLong)
        );
        assert_eq!(
            WireName::parse("*.a.", true).unwrap().wire(),
            b"\x01*\x01a\x00"
        );
    }

    #[test]
    fn label_arithmetic() {
        let zone = WireName::parse("lab.example.com.", false).unwrap();
        let name = WireName::parse("a.b.lab.example.com.", false).unwrap();
        assert_eq!(name.prefix_len_in(&zone), Some(4));
        assert!(zone.is_in(&zone));
        assert!(
            !WireName::parse("xlab.example.com.", false)
                .unwrap()
                .is_in(&zone)
        );
        assert_eq!(name.parent().unwrap().to_string(), "b.lab.example.com.");
        assert_eq!(zone.wildcard_child().to_string(), "*.lab.example.com.");
        assert_eq!(WireName::root().parent(), None);
        assert_eq!(name.to_hickory().to_string(), "a.b.lab.example.com.");
    }
}

//! The parsed document as a flat tape of nodes that borrow their text from the source, and a
//! serde `Deserializer` that reads it — no tree of owned maps and strings in between.
//!
//! Reads the way `serde_json::Value` does (same visits, same error texts), except that
//! mappings keep document order, so the first type error reported is the first in the file.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};

/// Nodes in document order; a collection's children follow it up to its `end`.
#[derive(Debug, Default)]
pub struct Tape<'a> {
    pub(super) nodes: Vec<Node<'a>>,
}

#[derive(Debug)]
pub(super) enum Node<'a> {
    /// A scalar as written; `plain` ones are resolved by the YAML 1.2 core schema.
    Scalar { text: Cow<'a, str>, plain: bool },
    /// `len` items follow, up to index `end`.
    Seq { len: u32, end: u32 },
    /// `len` key/value pairs follow (keys are `Scalar`s), up to index `end`; a [`Node::Skip`]
    /// in between is not one of them.
    Map { len: u32, end: u32 },
    /// The anchored node at this index.
    Alias(u32),
    /// A duplicate key's value or a non-string key's: parsed, never read.
    Skip { end: u32 },
    /// A missing node (an alias to an unknown anchor, an empty document).
    Null,
}

/// A scalar's value under the YAML 1.2 core schema (quoted scalars stay strings).
#[derive(Debug, PartialEq)]
pub(super) enum Resolved<'t> {
    Null,
    Bool(bool),
    /// As `serde_json::Number` keeps integers: non-negative ones are unsigned.
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(&'t str),
}

pub(super) fn resolve(text: &str, plain: bool) -> Resolved<'_> {
    if !plain {
        return Resolved::Str(text);
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if !looks_numeric {
        return Resolved::Str(text);
    }
    if let Ok(i) = text.parse::<i64>() {
        return match u64::try_from(i) {
            Ok(u) => Resolved::Unsigned(u),
            Err(_) => Resolved::Signed(i),
        };
    }
    if !text.contains(['/', ':'])
        && text.matches('.').count() <= 1
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(text)
}

impl<'a> Tape<'a> {
    pub(super) fn with_capacity(nodes: usize) -> Tape<'a> {
        Tape {
            nodes: Vec::with_capacity(nodes),
        }
    }

    pub(super) fn len(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// The index just past node `i` and everything under it.
    fn after(&self, i: u32) -> u32 {
        match self.nodes[i as usize] {
            Node::Seq { end, .. } | Node::Map { end, .. } | Node::Skip { end } => end,
            _ => i + 1,
        }
    }

    /// A deserializer for the document's root (`null` when empty).
    pub fn root(&self) -> At<'_, 'a> {
        At { tape: self, i: 0 }
    }

    /// The document as a JSON value (tests, the differential fuzz target).
    pub fn to_value(&self) -> Value {
        if self.nodes.is_empty() {
            return Value::Null;
        }
        self.value_at(0)
    }

    fn value_at(&self, i: u32) -> Value {
        match &self.nodes[i as usize] {
            Node::Scalar { text, plain } => match resolve(text, *plain) {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Unsigned(u) => Value::Number(u.into()),
                Resolved::Signed(s) => Value::Number(s.into()),
                Resolved::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
                Resolved::Str(s) => Value::String(s.to_string()),
            },
            Node::Seq { .. } => Value::Array(self.children(i).map(|c| self.value_at(c)).collect()),
            Node::Map { .. } => {
                let mut map = Map::new();
                let mut entries = self.children(i);
                while let (Some(k), Some(v)) = (entries.next(), entries.next()) {
                    map.insert(self.key(k).to_string(), self.value_at(v));
                }
                Value::Object(map)
            }
            Node::Alias(target) => self.value_at(*target),
            Node::Skip { .. } | Node::Null => Value::Null,
        }
    }

    /// The children of collection `i` (a mapping's as key, value, key, value…), skipping
    /// [`Node::Skip`] entries.
    fn children(&self, i: u32) -> Children<'_, 'a> {
        let end = match self.nodes[i as usize] {
            Node::Seq { end, .. } | Node::Map { end, .. } => end,
            _ => i + 1,
        };
        Children {
            tape: self,
            next: i + 1,
            end,
        }
    }

    /// The keys of the mapping at `map` that are on the tape so far (it may still be open).
    pub(super) fn keys_so_far(&self, map: u32) -> impl Iterator<Item = &str> {
        self.entries_so_far(map).map(|(key, _)| key)
    }

    /// Where those keys sit on the tape.
    pub(super) fn key_indices_so_far(&self, map: u32) -> impl Iterator<Item = u32> {
        self.entries_so_far(map).map(|(_, i)| i)
    }

    fn entries_so_far(&self, map: u32) -> impl Iterator<Item = (&str, u32)> {
        let mut children = Children {
            tape: self,
            next: map + 1,
            end: self.len(),
        };
        std::iter::from_fn(move || {
            let key = children.next()?;
            children.next(); // its value (not on the tape yet for the last key)
            Some((self.key(key), key))
        })
    }

    /// The text of the key scalar at `i`.
    pub(super) fn key(&self, i: u32) -> &str {
        match &self.nodes[i as usize] {
            Node::Scalar { text, .. } => text,
            _ => "",
        }
    }
}

struct Children<'t, 'a> {
    tape: &'t Tape<'a>,
    next: u32,
    end: u32,
}

impl Iterator for Children<'_, '_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.next < self.end {
            let i = self.next;
            self.next = self.tape.after(i);
            if !matches!(self.tape.nodes[i as usize], Node::Skip { .. }) {
                return Some(i);
            }
        }
        None
    }
}

/// A deserialization error: serde's message, as `serde_json` prints one without a position.
#[derive(Debug, PartialEq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// The node at one index of a tape, as a serde `Deserializer`.
#[derive(Clone, Copy)]
pub struct At<'t, 'a> {
    tape: &'t Tape<'a>,
    i: u32,
}

impl<'t, 'a> At<'t, 'a> {
    /// The node itself, with aliases followed (`None`: the document is empty).
    fn node(self) -> Option<(&'t Node<'a>, u32)> {
        let mut i = self.i;
        // An anchor never sits on an alias, so one step resolves; bounded all the same.
        for _ in 0..8 {
            match self.tape.nodes.get(i as usize)? {
                Node::Alias(target) => i = *target,
                node => return Some((node, i)),
            }
        }
        None
    }

    /// The `len` items of the collection at `i`, for serde.
    fn items(self, i: u32, len: u32) -> Items<'t, 'a> {
        Items {
            children: self.tape.children(i),
            tape: self.tape,
            left: len,
            value: None,
        }
    }

    fn is_null(self) -> bool {
        match self.node() {
            None | Some((Node::Null | Node::Skip { .. }, _)) => true,
            Some((Node::Scalar { text, plain }, _)) => resolve(text, *plain) == Resolved::Null,
            Some(_) => false,
        }
    }
}

impl<'de> de::Deserializer<'de> for At<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Some((node, i)) = self.node() else {
            return visitor.visit_unit();
        };
        match node {
            Node::Scalar { text, plain } => match resolve(text, *plain) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Unsigned(u) => visitor.visit_u64(u),
                Resolved::Signed(s) => visitor.visit_i64(s),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
            Node::Seq { len, .. } => {
                let mut seq = self.items(i, *len);
                let out = visitor.visit_seq(&mut seq)?;
                seq.all_read(*len, "fewer elements in array")?;
                Ok(out)
            }
            Node::Map { len, .. } => {
                let mut map = self.items(i, *len);
                let out = visitor.visit_map(&mut map)?;
                map.all_read(*len, "fewer elements in map")?;
                Ok(out)
            }
            Node::Alias(_) | Node::Skip { .. } | Node::Null => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.node() {
            Some((Node::Scalar { text, plain }, _)) => match resolve(text, *plain) {
                Resolved::Str(s) => visitor.visit_enum(s.into_deserializer()),
                _ => Err(de::Error::invalid_type(self.unexpected(), &"string or map")),
            },
            Some((Node::Map { len: 1, .. }, i)) => {
                let mut entry = self.tape.children(i);
                let (Some(key), Some(value)) = (entry.next(), entry.next()) else {
                    return Err(de::Error::custom("a one-entry map without its entry"));
                };
                visitor.visit_enum(Variant {
                    key: self.tape.key(key),
                    value: At {
                        tape: self.tape,
                        i: value,
                    },
                })
            }
            Some((Node::Map { .. }, _)) => Err(de::Error::invalid_value(
                de::Unexpected::Map,
                &"map with a single key",
            )),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"string or map")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl At<'_, '_> {
    /// What serde calls this node in a type error.
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self.node() {
            Some((Node::Scalar { text, plain }, _)) => match resolve(text, *plain) {
                Resolved::Null => de::Unexpected::Unit,
                Resolved::Bool(b) => de::Unexpected::Bool(b),
                Resolved::Unsigned(u) => de::Unexpected::Unsigned(u),
                Resolved::Signed(s) => de::Unexpected::Signed(s),
                Resolved::Float(f) => de::Unexpected::Float(f),
                Resolved::Str(s) => de::Unexpected::Str(s),
            },
            Some((Node::Seq { .. }, _)) => de::Unexpected::Seq,
            Some((Node::Map { .. }, _)) => de::Unexpected::Map,
            _ => de::Unexpected::Unit,
        }
    }
}

/// A sequence's items or a mapping's entries, read in order.
struct Items<'t, 'a> {
    tape: &'t Tape<'a>,
    children: Children<'t, 'a>,
    left: u32,
    /// A mapping's value for the key just read.
    value: Option<u32>,
}

impl Items<'_, '_> {
    /// serde_json's check that the visitor read every item.
    fn all_read(&self, len: u32, what: &'static str) -> Result<(), Error> {
        if self.left == 0 {
            Ok(())
        } else {
            Err(de::Error::invalid_length(len as usize, &what))
        }
    }
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(i) = self.children.next() else {
            return Ok(None);
        };
        self.left -= 1;
        seed.deserialize(At { tape: self.tape, i }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left as usize)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let (Some(key), Some(value)) = (self.children.next(), self.children.next()) else {
            return Ok(None);
        };
        self.left -= 1;
        self.value = Some(value);
        let key: de::value::StrDeserializer<'_, Error> = self.tape.key(key).into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(i) = self.value.take() else {
            return Err(de::Error::custom("value is missing"));
        };
        seed.deserialize(At { tape: self.tape, i })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left as usize)
    }
}

/// A one-entry mapping read as an enum variant with data.
struct Variant<'t, 'a> {
    key: &'t str,
    value: At<'t, 'a>,
}

impl<'de, 't, 'a> de::EnumAccess<'de> for Variant<'t, 'a> {
    type Error = Error;
    type Variant = At<'t, 'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, At<'t, 'a>), Error> {
        let key: de::value::StrDeserializer<'_, Error> = self.key.into_deserializer();
        Ok((seed.deserialize(key)?, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for At<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
#[path = "tape_tests.rs"]
mod tests;

//! [`SmallMap`]: a map kept as one sorted `Vec` of pairs, for the maps every node carries
//! (its planes: one or two entries). A `BTreeMap` allocates an 11-slot leaf for the first
//! entry — ≈ 0.7 KB per node in the raw and in the validated topology, ≈ 1.5 MB of a
//! 1,000-node load that is mostly empty slots; this holds exactly its entries.
//!
//! The same reading API as `BTreeMap` where fabric uses it (ordered by key, lookups by a
//! borrowed key); deserialized from a YAML mapping like a `BTreeMap` (a repeated key: the last
//! value wins, as there — the YAML layer reports duplicate keys before serde runs).

use std::borrow::Borrow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// An ordered map of few entries (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct SmallMap<K, V> {
    /// Sorted by key, keys unique.
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    fn find<Q: ?Sized + Ord>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// Inserts or replaces; the old value, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn get<Q: ?Sized + Ord>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn contains_key<Q: ?Sized + Ord>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }
}

impl<K, V> SmallMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter(self.entries.iter())
    }
}

/// Entries in key order, as `BTreeMap::iter` yields them: `(&K, &V)`.
pub struct Iter<'a, K, V>(std::slice::Iter<'a, (K, V)>);

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: Ord + Borrow<Q>, Q: ?Sized + Ord, V> std::ops::Index<&Q> for SmallMap<K, V> {
    type Output = V;

    /// Panics when the key is absent, like `BTreeMap`'s index.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'de, K, V> Deserialize<'de> for SmallMap<K, V>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(std::marker::PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Ord,
            V: Deserialize<'de>,
        {
            type Value = SmallMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut m = SmallMap {
                    entries: Vec::with_capacity(access.size_hint().unwrap_or(0).min(16)),
                };
                while let Some((k, v)) = access.next_entry()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }

        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::SmallMap;

    #[test]
    fn reads_like_a_btreemap_of_the_same_inserts() {
        let inserts = [("wg1", 2), ("wg0", 1), ("wg9", 9), ("wg1", 3), ("a", 0)];
        let mut small = SmallMap::new();
        let mut tree = BTreeMap::new();
        for (k, v) in inserts {
            assert_eq!(
                small.insert(k.to_string(), v),
                tree.insert(k.to_string(), v)
            );
        }
        assert_eq!(small.len(), tree.len());
        assert!(small.iter().eq(tree.iter()), "same entries, same order");
        assert!((&small).into_iter().eq(&tree));
        assert!(small.keys().eq(tree.keys()));
        for k in ["wg0", "wg1", "wg9", "a", "wg2", ""] {
            assert_eq!(small.get(k), tree.get(k), "{k}");
            assert_eq!(small.contains_key(k), tree.contains_key(k), "{k}");
        }
        assert_eq!(small["wg1"], 3);
        assert_eq!(format!("{small:?}"), format!("{tree:?}"));
        assert!(SmallMap::<String, i32>::new().is_empty());
    }

    #[test]
    fn deserializes_a_mapping_and_refuses_other_shapes() {
        let m: SmallMap<String, u8> =
            serde_json::from_str(r#"{"wg1": 2, "wg0": 1}"#).expect("a mapping");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["wg0", "wg1"]);
        let e = serde_json::from_str::<SmallMap<String, u8>>("[1]").unwrap_err();
        assert!(e.to_string().contains("expected a map"), "{e}");
    }
}

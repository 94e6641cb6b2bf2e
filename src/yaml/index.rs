//! Where everything is in a parsed document: [`PathIndex`], recorded while parsing as a flat
//! arena, and the YAML path syntax (`sstp.clients[1].lans[0]`).

use std::collections::HashMap;

use super::Pos;

/// Source positions of every value (and every mapping key) in the document.
///
/// Recorded while parsing as a flat arena in document order (no per-node path strings);
/// the path → position maps are built on first lookup, which only happens when there is a
/// finding to report. A valid topology never pays for them.
#[derive(Debug, Default)]
pub struct PathIndex {
    pub(super) entries: Vec<Entry>,
    /// Every mapping key's text, back to back; [`Seg::Key`] points into it.
    pub(super) key_text: String,
    maps: std::sync::OnceLock<PathMaps>,
}

#[derive(Debug, Default)]
struct PathMaps {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

/// One value in the document: where it hangs and where it is. 32 bytes (a 1,000-node
/// topology has ≈ 7,000 entries; with `Pos` and `Option<Pos>` they took 56).
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) parent: u32,
    pub(super) seg: Seg,
    pub(super) value: Spot,
    /// The position of the mapping key naming this value ([`Spot::NONE`] without one).
    pub(super) key: Spot,
}

/// A [`Pos`] in 8 bytes; line 0 (lines are 1-based) is no position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spot {
    line: u32,
    col: u32,
}

impl Spot {
    pub(super) const NONE: Spot = Spot { line: 0, col: 0 };

    pub(super) fn of(p: Pos) -> Spot {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Spot {
            line: narrow(p.line),
            col: narrow(p.col),
        }
    }

    pub(super) fn pos(self) -> Option<Pos> {
        (self.line != 0).then_some(Pos {
            line: self.line as usize,
            col: self.col as usize,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seg {
    Root,
    Key {
        start: u32,
        len: u32,
    },
    Index(u32),
    /// A duplicate or non-string key's value: parsed, never addressable.
    Scratch,
}

impl PathIndex {
    /// An empty index with room for the document in `text`, so a large topology does not
    /// grow the arena by doubling (each step a fresh multi-page allocation): one entry per
    /// mapping key, sequence item or flow item at most, and keys shorter than their lines.
    /// Capped, so a huge file reserves no more than a large topology needs; past that the
    /// arena grows as usual.
    pub(super) fn sized_for(text: &str) -> PathIndex {
        const MAX_ENTRIES: usize = 1 << 18;
        const MAX_KEY_TEXT: usize = 4 << 20;
        // Summed in byte lanes, 255 bytes at a time: a count of a filter widens every
        // comparison to a 64-bit lane (3.4 % of `check` of 1,001 nodes; now under 0.6 %).
        let items: usize = text
            .as_bytes()
            .chunks(255)
            .map(|chunk| {
                let hits: u8 = chunk
                    .iter()
                    .map(|b| u8::from(matches!(b, b':' | b'-' | b',')))
                    .sum();
                usize::from(hits)
            })
            .sum();
        PathIndex {
            entries: Vec::with_capacity((items + 1).min(MAX_ENTRIES)),
            key_text: String::with_capacity((text.len() / 2).min(MAX_KEY_TEXT)),
            maps: Default::default(),
        }
    }

    /// Position of the value at `path`, or of its nearest ancestor that has one.
    pub fn value_pos(&self, path: &str) -> Option<Pos> {
        let values = &self.maps().values;
        let mut p = path;
        loop {
            if let Some(pos) = values.get(p) {
                return Some(*pos);
            }
            p = parent_path(p)?;
        }
    }

    /// Position of the mapping key that ends `path` (falls back to the value's position).
    pub fn key_pos(&self, path: &str) -> Option<Pos> {
        self.maps()
            .keys
            .get(path)
            .copied()
            .or_else(|| self.value_pos(path))
    }

    /// Every mapping key whose name satisfies `wanted`, as `(path, key position)`; paths
    /// are built only for those.
    pub fn keys_named(&self, wanted: impl Fn(&str) -> bool) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if let (Seg::Key { start, len }, Some(pos)) = (e.seg, e.key.pos()) {
                let name = &self.key_text[start as usize..(start + len) as usize];
                if wanted(name)
                    && let Some(path) = self.path_of(i)
                {
                    out.push((path, pos));
                }
            }
        }
        out
    }

    /// The path of entry `i`, `None` under a scratch entry.
    pub(super) fn path_of(&self, i: usize) -> Option<String> {
        let mut chain = Vec::new();
        let mut at = i;
        loop {
            let e = &self.entries[at];
            match e.seg {
                Seg::Root => break,
                Seg::Scratch => return None,
                _ => chain.push(e.seg),
            }
            at = e.parent as usize;
        }
        let mut path = String::new();
        for seg in chain.iter().rev() {
            path = self.join(&path, *seg);
        }
        Some(path)
    }

    fn join(&self, parent: &str, seg: Seg) -> String {
        match seg {
            Seg::Key { start, len } => join_key(
                parent,
                &self.key_text[start as usize..(start + len) as usize],
            ),
            Seg::Index(i) => join_index(parent, i as usize),
            Seg::Root | Seg::Scratch => parent.to_string(),
        }
    }

    fn maps(&self) -> &PathMaps {
        self.maps.get_or_init(|| {
            let mut maps = PathMaps::default();
            // Entries are in document order: a parent's path is known before its children's.
            let mut paths: Vec<Option<String>> = Vec::with_capacity(self.entries.len());
            for e in &self.entries {
                let path = match e.seg {
                    Seg::Root => Some(String::new()),
                    Seg::Scratch => None,
                    seg => paths[e.parent as usize]
                        .as_deref()
                        .map(|parent| self.join(parent, seg)),
                };
                if let Some(p) = &path
                    && let Some(v) = e.value.pos()
                {
                    maps.values.insert(p.clone(), v);
                    if let Some(k) = e.key.pos() {
                        maps.keys.insert(p.clone(), k);
                    }
                }
                paths.push(path);
            }
            maps
        })
    }
}

fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Joins a mapping key onto a path.
pub fn join_key(parent: &str, key: &str) -> String {
    let mut out = String::with_capacity(parent.len() + key.len() + 1);
    out.push_str(parent);
    if !parent.is_empty() {
        out.push('.');
    }
    out.push_str(key);
    out
}

/// Joins a sequence index onto a path.
pub fn join_index(parent: &str, index: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(parent.len() + 6);
    out.push_str(parent);
    out.push('[');
    let _ = write!(out, "{index}");
    out.push(']');
    out
}

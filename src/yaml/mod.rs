//! YAML front end: parses text into a tape of nodes (borrowing the text) plus an index from
//! YAML paths (`sstp.clients[1].lans[0]`) to source positions, so every later finding can
//! name its line.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int, float, string);
//! quoted scalars always stay strings. Duplicate mapping keys are reported, not silently merged.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

mod fast;
mod index;
mod tape;

use index::{Entry, Seg, Spot};
pub use index::{PathIndex, join_index, join_key};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput};
use serde_json::Value;
use tape::Node;
pub use tape::{At, Error as DeserializeError, Tape};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: &'static str,
}

/// The parsed document: its nodes (borrowing text from the source), where everything is,
/// and structural problems (duplicate keys, non-string keys) that did not stop parsing.
#[derive(Debug)]
pub struct Document<'a> {
    pub tape: Tape<'a>,
    pub index: PathIndex,
    pub problems: Vec<YamlProblem>,
}

impl Document<'_> {
    /// The document as a JSON value (tests, the differential fuzz target).
    pub fn value(&self) -> Value {
        self.tape.to_value()
    }
}

/// Collections may nest this deep (a topology needs fewer than 10 levels). The builder
/// recurses per level, so the bound is what keeps a hostile file from overflowing the stack.
pub const MAX_DEPTH: usize = 64;

const FLATTEN_HINT: &str = "a topology needs fewer than 10 levels: flatten the data";

/// Aliases may copy at most this many nodes in all (a few nested aliases could otherwise
/// expand to billions: the "billion laughs").
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Parses one YAML document. A syntax error is returned as the single fatal problem.
///
/// Text in the block-style subset topology files are written in takes the fast path
/// ([`fast`]: the same events, ≈ 10× cheaper than saphyr's scanner); everything else, and
/// every error, goes through saphyr.
pub fn parse(text: &str) -> Result<Document<'_>, YamlProblem> {
    fast_parse(text).unwrap_or_else(|| saphyr_parse(text))
}

/// The fast path's document, or `None` where the text leaves its subset.
fn fast_parse(text: &str) -> Option<Result<Document<'_>, YamlProblem>> {
    if !fast::may_try(text) {
        return None;
    }
    let bail = std::cell::Cell::new(false);
    let doc = build(fast::Events::new(text, &bail), text);
    (!bail.get()).then_some(doc)
}

/// For the differential fuzz target (`fuzz/`) and tests: `None` where the fast path does
/// not take `text`, else whether its result is saphyr's (values, every position, problems).
#[doc(hidden)]
pub fn fast_path_agrees(text: &str) -> Option<bool> {
    let fast = fast_parse(text)?;
    Some(fingerprint(&fast) == fingerprint(&saphyr_parse(text)))
}

/// Everything a parse result holds, as text to compare.
fn fingerprint(r: &Result<Document, YamlProblem>) -> String {
    match r {
        Ok(d) => format!(
            "{:?}\n{:?}\n{:?}\n{:?}",
            d.value(),
            d.problems,
            d.index.entries,
            d.index.key_text
        ),
        Err(e) => format!("error {e:?}"),
    }
}

fn saphyr_parse(text: &str) -> Result<Document<'_>, YamlProblem> {
    build(Saphyr(Parser::new_from_str(text).peekable()), text)
}

/// Where the builder reads events from: saphyr's parser or the fast path.
trait Source<'a> {
    /// The next event, left in place; a syntax error there is taken out instead.
    fn peek(&mut self) -> Option<Result<&Event<'a>, ScanError>>;
    /// The next event, taken; `None` at the end or at a syntax error.
    fn take(&mut self) -> Option<(Event<'a>, Span)>;
}

struct Saphyr<'a>(std::iter::Peekable<Parser<'a, StrInput<'a>>>);

impl<'a> Source<'a> for Saphyr<'a> {
    fn peek(&mut self) -> Option<Result<&Event<'a>, ScanError>> {
        if matches!(self.0.peek(), Some(Err(_))) {
            return self.0.next().and_then(Result::err).map(Err);
        }
        match self.0.peek() {
            Some(Ok((event, _))) => Some(Ok(event)),
            _ => None,
        }
    }

    fn take(&mut self) -> Option<(Event<'a>, Span)> {
        self.0.next()?.ok()
    }
}

fn build<'a, S: Source<'a>>(events: S, text: &str) -> Result<Document<'a>, YamlProblem> {
    let index = PathIndex::sized_for(text);
    // Every index entry is a node; every mapping key one more.
    let tape = Tape::with_capacity(index.entries.capacity() * 2);
    let mut builder = Builder {
        events,
        error: None,
        index,
        tape,
        problems: Vec::new(),
        anchors: HashMap::new(),
        depth: 0,
        alias_nodes: 0,
    };
    builder.skip_to_document();
    if builder.at_node() {
        builder.node(0, Seg::Root, None);
    }
    // The rest of the stream still has to be valid YAML.
    while builder.error.is_none() && builder.next().is_some() {}
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(Document {
        tape: builder.tape,
        index: builder.index,
        problems: builder.problems,
    })
}

/// A node's size once aliases are expanded: its node count and height (a scalar: 1 and 0).
#[derive(Debug, Clone, Copy)]
struct Shape {
    nodes: usize,
    height: usize,
}

const SCALAR: Shape = Shape {
    nodes: 1,
    height: 0,
};

/// Builds the tape straight from the event stream (no event buffer), recording positions
/// in the index arena.
struct Builder<'a, S: Source<'a>> {
    events: S,
    /// The first syntax error; the builder then sees the stream as ended.
    error: Option<YamlProblem>,
    index: PathIndex,
    tape: Tape<'a>,
    problems: Vec<YamlProblem>,
    /// Anchored nodes: their place on the tape and their shape.
    anchors: HashMap<usize, (u32, Shape)>,
    /// Collections open around the current node.
    depth: usize,
    /// Nodes copied by aliases so far.
    alias_nodes: usize,
}

impl<'a, S: Source<'a>> Builder<'a, S> {
    fn peek(&mut self) -> Option<&Event<'a>> {
        if self.error.is_some() {
            return None;
        }
        match self.events.peek()? {
            Ok(event) => Some(event),
            Err(e) => {
                let m = e.marker();
                self.error = Some(YamlProblem {
                    pos: Pos {
                        line: m.line(),
                        col: m.col() + 1,
                    },
                    path: String::new(),
                    message: format!("YAML syntax error: {}", e.info()),
                    hint: "fix the YAML syntax first",
                });
                None
            }
        }
    }

    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        self.peek()?;
        self.events.take()
    }

    fn skip_to_document(&mut self) {
        while matches!(
            self.peek(),
            Some(Event::StreamStart | Event::DocumentStart(_) | Event::Nothing)
        ) {
            self.next();
        }
    }

    fn at_node(&mut self) -> bool {
        matches!(
            self.peek(),
            Some(
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(_)
            )
        )
    }

    /// The node at the head of the stream, recorded as child `seg` of entry `parent`.
    fn node(&mut self, parent: u32, seg: Seg, key: Option<Pos>) -> Shape {
        let Some((event, span)) = self.next() else {
            self.tape.nodes.push(Node::Null);
            return SCALAR;
        };
        let me = self.index.entries.len() as u32;
        self.index.entries.push(Entry {
            parent,
            seg,
            value: Spot::of(Pos::of(&span)),
            key: key.map_or(Spot::NONE, Spot::of),
        });
        let at = self.tape.len();
        let (shape, anchor) = match event {
            Event::Scalar(text, style, anchor, _) => {
                let plain = style == ScalarStyle::Plain;
                self.tape.nodes.push(Node::Scalar { text, plain });
                (SCALAR, anchor)
            }
            Event::Alias(id) => (self.alias(id, &span), 0),
            Event::SequenceStart(anchor, _) => (self.nested(&span, |b| b.sequence(me)), anchor),
            Event::MappingStart(anchor, _) => (self.nested(&span, |b| b.mapping(me)), anchor),
            _ => {
                self.tape.nodes.push(Node::Null);
                (SCALAR, 0)
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (at, shape));
        }
        shape
    }

    /// Reads a collection one level deeper, or stops the document past [`MAX_DEPTH`].
    fn nested(&mut self, span: &Span, read: impl FnOnce(&mut Self) -> Shape) -> Shape {
        if self.depth >= MAX_DEPTH {
            let message = format!("collections nest deeper than {MAX_DEPTH} levels");
            self.fail(span, message, FLATTEN_HINT);
            self.tape.nodes.push(Node::Null);
            return SCALAR;
        }
        self.depth += 1;
        let shape = read(self);
        self.depth -= 1;
        shape
    }

    /// A reference to the anchored node, within the depth and alias-size limits.
    fn alias(&mut self, id: usize, span: &Span) -> Shape {
        let Some(&(target, shape)) = self.anchors.get(&id) else {
            self.tape.nodes.push(Node::Null);
            return SCALAR;
        };
        if self.depth + shape.height > MAX_DEPTH {
            let message = format!("this alias nests collections deeper than {MAX_DEPTH} levels");
            self.fail(span, message, FLATTEN_HINT);
            self.tape.nodes.push(Node::Null);
            return SCALAR;
        }
        self.alias_nodes += shape.nodes;
        if self.alias_nodes > MAX_ALIAS_NODES {
            let message = format!("aliases copy more than {MAX_ALIAS_NODES} nodes in all");
            self.fail(
                span,
                message,
                "nested aliases multiply: write the values out or alias less",
            );
            self.tape.nodes.push(Node::Null);
            return SCALAR;
        }
        self.tape.nodes.push(Node::Alias(target));
        shape
    }

    /// Ends the document with a fatal problem at `span` (the first one wins).
    fn fail(&mut self, span: &Span, message: String, hint: &'static str) {
        if self.error.is_none() {
            let here = self.index.entries.len().saturating_sub(1);
            self.error = Some(YamlProblem {
                pos: Pos::of(span),
                path: self.index.path_of(here).unwrap_or_default(),
                message,
                hint,
            });
        }
    }

    /// Patches the collection node at `at` once its children are on the tape.
    fn close(&mut self, at: u32, len: u32) {
        let end = self.tape.len();
        match &mut self.tape.nodes[at as usize] {
            Node::Seq { len: l, end: e } | Node::Map { len: l, end: e } => (*l, *e) = (len, end),
            Node::Skip { end: e } => *e = end,
            _ => {}
        }
    }

    /// Pushes a collection's node (closed by [`Builder::close`]): its index and starting shape.
    fn open(&mut self, node: Node<'a>) -> (u32, Shape) {
        let at = self.tape.len();
        self.tape.nodes.push(node);
        let shape = Shape {
            nodes: 1,
            height: 1,
        };
        (at, shape)
    }

    fn sequence(&mut self, me: u32) -> Shape {
        let (at, mut shape) = self.open(Node::Seq { len: 0, end: 0 });
        let mut len = 0;
        while self.at_node() {
            let child = self.node(me, Seg::Index(len), None);
            shape.add(child);
            len += 1;
        }
        self.next(); // SequenceEnd
        self.close(at, len);
        shape
    }

    fn mapping(&mut self, me: u32) -> Shape {
        let (at, mut shape) = self.open(Node::Map { len: 0, end: 0 });
        let mut keys = Keys::new(at);
        while self.at_node() {
            let Some((event, span)) = self.next() else {
                break;
            };
            let key_pos = Pos::of(&span);
            let Event::Scalar(key, style, ..) = event else {
                // A mapping or sequence as a key: skip it and its value.
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: self.index.path_of(me as usize).unwrap_or_default(),
                    message: "mapping keys must be plain strings".into(),
                    hint: "write the key as a plain or quoted string",
                });
                self.skip_rest_of(event);
                self.skipped_value(me);
                continue;
            };
            if keys.contains(&self.tape, &key) {
                let parent = self.index.path_of(me as usize).unwrap_or_default();
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: join_key(&parent, &key),
                    message: format!(
                        "duplicate key \"{key}\" (the first one would be silently overwritten)"
                    ),
                    hint: "remove or rename one of them",
                });
                self.skipped_value(me);
                continue;
            }
            let start = self.index.key_text.len() as u32;
            self.index.key_text.push_str(&key);
            let seg = Seg::Key {
                start,
                len: key.len() as u32,
            };
            keys.add(&self.tape, self.tape.len(), &key);
            let plain = style == ScalarStyle::Plain;
            self.tape.nodes.push(Node::Scalar { text: key, plain });
            let child = self.node(me, seg, Some(key_pos));
            shape.add(child);
        }
        self.next(); // MappingEnd
        self.close(at, keys.count);
        shape
    }

    /// Parses a value that is not part of its mapping (under a duplicate or non-string key).
    fn skipped_value(&mut self, me: u32) {
        let at = self.tape.len();
        self.tape.nodes.push(Node::Skip { end: 0 });
        self.node(me, Seg::Scratch, None);
        self.close(at, 0);
    }

    /// Consumes the rest of a collection whose start event was already taken.
    fn skip_rest_of(&mut self, start: Event<'a>) {
        if !matches!(start, Event::SequenceStart(..) | Event::MappingStart(..)) {
            return;
        }
        let mut depth = 1usize;
        while depth > 0 {
            match self.next() {
                Some((Event::SequenceStart(..) | Event::MappingStart(..), _)) => depth += 1,
                Some((Event::SequenceEnd | Event::MappingEnd, _)) => depth -= 1,
                Some(_) => {}
                None => return,
            }
        }
    }
}

impl Shape {
    /// Counts `child` into its collection's shape.
    fn add(&mut self, child: Shape) {
        self.nodes += child.nodes;
        self.height = self.height.max(child.height + 1);
    }
}

/// One mapping's keys so far, for the duplicate check: a scan of the mapping's entries on
/// the tape while it is small, then an open-addressing table of the keys' tape indices.
/// Four bytes a slot: a 1,000-key mapping's table is 8 KiB, where a set of the key strings
/// grew through 50 KiB of fresh allocations (each a newly zeroed huge page).
struct Keys {
    /// The mapping's node on the tape.
    map: u32,
    count: u32,
    /// Tape index + 1 of each key, 0 when empty; a power of two long, at most half full.
    /// Empty while the mapping is scanned.
    slots: Vec<u32>,
    hasher: RandomState,
}

impl Keys {
    const SCAN: u32 = 16;

    fn new(map: u32) -> Keys {
        Keys {
            map,
            count: 0,
            slots: Vec::new(),
            hasher: RandomState::new(),
        }
    }

    fn contains(&self, tape: &Tape<'_>, key: &str) -> bool {
        if self.slots.is_empty() {
            tape.keys_so_far(self.map).any(|k| k == key)
        } else {
            self.probe(tape, key).is_ok()
        }
    }

    /// The slot holding `key`, or the empty slot where it belongs.
    fn probe(&self, tape: &Tape<'_>, key: &str) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.hasher.hash_one(key) as usize & mask;
        loop {
            match self.slots[i] {
                0 => return Err(i),
                s if tape.key(s - 1) == key => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Records `key`, about to be pushed onto the tape at index `at`.
    fn add(&mut self, tape: &Tape<'_>, at: u32, key: &str) {
        self.count += 1;
        if self.count <= Self::SCAN {
            return;
        }
        if 2 * self.count as usize > self.slots.len() {
            self.grow(tape);
        }
        if let Err(slot) = self.probe(tape, key) {
            self.slots[slot] = at + 1;
        }
    }

    /// Rebuilds the table at four times the key count (from the tape the first time).
    fn grow(&mut self, tape: &Tape<'_>) {
        let size = (4 * self.count as usize).next_power_of_two();
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let keys: Vec<u32> = if old.is_empty() {
            tape.key_indices_so_far(self.map).collect()
        } else {
            old.into_iter().filter(|&s| s != 0).map(|s| s - 1).collect()
        };
        for i in keys {
            if let Err(slot) = self.probe(tape, tape.key(i)) {
                self.slots[slot] = i + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_tests;

#[cfg(test)]
mod limit_tests;

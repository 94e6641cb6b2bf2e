//! YAML front end: parses text into a JSON value tree plus an index from YAML paths
//! (`sstp.clients[1].lans[0]`) to source positions, so every later finding can name its line.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int, float, string);
//! quoted scalars always stay strings. Duplicate mapping keys are reported, not silently merged.

use std::collections::HashMap;

mod fast;
mod index;

use index::{Entry, Seg};
pub use index::{PathIndex, join_index, join_key};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

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

/// The parsed document: its value, where everything is, and structural problems
/// (duplicate keys, non-string keys) that did not stop parsing.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    pub index: PathIndex,
    pub problems: Vec<YamlProblem>,
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
pub fn parse(text: &str) -> Result<Document, YamlProblem> {
    fast_parse(text).unwrap_or_else(|| saphyr_parse(text))
}

/// The fast path's document, or `None` where the text leaves its subset.
fn fast_parse(text: &str) -> Option<Result<Document, YamlProblem>> {
    if !fast::may_try(text) {
        return None;
    }
    let bail = std::cell::Cell::new(false);
    let doc = build(fast::Events::new(text, &bail), PathIndex::sized_for(text));
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
            d.value, d.problems, d.index.entries, d.index.key_text
        ),
        Err(e) => format!("error {e:?}"),
    }
}

fn saphyr_parse(text: &str) -> Result<Document, YamlProblem> {
    build(Parser::new_from_str(text), PathIndex::sized_for(text))
}

fn build<'a, I: Iterator<Item = fast::Item<'a>>>(
    events: I,
    index: PathIndex,
) -> Result<Document, YamlProblem> {
    let mut builder = Builder {
        events: events.peekable(),
        error: None,
        index,
        problems: Vec::new(),
        anchors: HashMap::new(),
        depth: 0,
        alias_nodes: 0,
    };
    builder.skip_to_document();
    let value = if builder.at_node() {
        builder.node(0, Seg::Root, None)
    } else {
        Value::Null
    };
    // The rest of the stream still has to be valid YAML.
    while builder.error.is_none() && builder.next().is_some() {}
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(Document {
        value,
        index: builder.index,
        problems: builder.problems,
    })
}

/// Builds the value tree straight from the event stream (no event buffer), recording
/// positions in the index arena.
struct Builder<'a, I: Iterator<Item = fast::Item<'a>>> {
    events: std::iter::Peekable<I>,
    /// The first syntax error; the builder then sees the stream as ended.
    error: Option<YamlProblem>,
    index: PathIndex,
    problems: Vec<YamlProblem>,
    /// Anchored values with their node count and height.
    anchors: HashMap<usize, (Value, usize, usize)>,
    /// Collections open around the current node.
    depth: usize,
    /// Nodes copied by aliases so far.
    alias_nodes: usize,
}

impl<'a, I: Iterator<Item = fast::Item<'a>>> Builder<'a, I> {
    fn peek(&mut self) -> Option<&Event<'a>> {
        if self.error.is_some() {
            return None;
        }
        if matches!(self.events.peek(), Some(Err(_)))
            && let Some(Err(e)) = self.events.next()
        {
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
            return None;
        }
        match self.events.peek() {
            Some(Ok((event, _))) => Some(event),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        self.peek()?;
        self.events.next()?.ok()
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
    fn node(&mut self, parent: u32, seg: Seg, key: Option<Pos>) -> Value {
        let Some((event, span)) = self.next() else {
            return Value::Null;
        };
        let me = self.index.entries.len() as u32;
        self.index.entries.push(Entry {
            parent,
            seg,
            value: Pos::of(&span),
            key,
        });
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, _) => (scalar(&text, style), anchor),
            Event::Alias(id) => (self.alias(id, &span), 0),
            Event::SequenceStart(anchor, _) => (self.nested(&span, |b| b.sequence(me)), anchor),
            Event::MappingStart(anchor, _) => (self.nested(&span, |b| b.mapping(me)), anchor),
            _ => (Value::Null, 0),
        };
        if anchor != 0 {
            let (nodes, height) = shape(&value);
            self.anchors.insert(anchor, (value.clone(), nodes, height));
        }
        value
    }

    /// Reads a collection one level deeper, or stops the document past [`MAX_DEPTH`].
    fn nested(&mut self, span: &Span, read: impl FnOnce(&mut Self) -> Value) -> Value {
        if self.depth >= MAX_DEPTH {
            let message = format!("collections nest deeper than {MAX_DEPTH} levels");
            self.fail(span, message, FLATTEN_HINT);
            return Value::Null;
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }

    /// A copy of the anchored value, within the depth and alias-size limits.
    fn alias(&mut self, id: usize, span: &Span) -> Value {
        let Some((value, nodes, height)) = self.anchors.get(&id) else {
            return Value::Null;
        };
        if self.depth + height > MAX_DEPTH {
            let message = format!("this alias nests collections deeper than {MAX_DEPTH} levels");
            self.fail(span, message, FLATTEN_HINT);
            return Value::Null;
        }
        self.alias_nodes += nodes;
        if self.alias_nodes > MAX_ALIAS_NODES {
            let message = format!("aliases copy more than {MAX_ALIAS_NODES} nodes in all");
            self.fail(
                span,
                message,
                "nested aliases multiply: write the values out or alias less",
            );
            return Value::Null;
        }
        value.clone()
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

    fn sequence(&mut self, me: u32) -> Value {
        let mut items = Vec::new();
        while self.at_node() {
            let seg = Seg::Index(items.len() as u32);
            items.push(self.node(me, seg, None));
        }
        self.next(); // SequenceEnd
        Value::Array(items)
    }

    fn mapping(&mut self, me: u32) -> Value {
        let mut map = Map::new();
        while self.at_node() {
            let Some((event, span)) = self.next() else {
                break;
            };
            let key_pos = Pos::of(&span);
            let Event::Scalar(key, ..) = event else {
                // A mapping or sequence as a key: skip it and its value.
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: self.index.path_of(me as usize).unwrap_or_default(),
                    message: "mapping keys must be plain strings".into(),
                    hint: "write the key as a plain or quoted string",
                });
                self.skip_rest_of(event);
                let _ = self.node(me, Seg::Scratch, None); // its value
                continue;
            };
            if map.contains_key(key.as_ref()) {
                let parent = self.index.path_of(me as usize).unwrap_or_default();
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: join_key(&parent, &key),
                    message: format!(
                        "duplicate key \"{key}\" (the first one would be silently overwritten)"
                    ),
                    hint: "remove or rename one of them",
                });
                let _ = self.node(me, Seg::Scratch, None);
                continue;
            }
            let start = self.index.key_text.len() as u32;
            self.index.key_text.push_str(&key);
            let seg = Seg::Key {
                start,
                len: key.len() as u32,
            };
            let value = self.node(me, seg, Some(key_pos));
            map.insert(key.into_owned(), value);
        }
        self.next(); // MappingEnd
        Value::Object(map)
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

/// A value's node count and height (a scalar: 1 and 0).
fn shape(value: &Value) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return (1, 0),
    };
    children.fold((1, 1), |(nodes, height), child| {
        let (n, h) = shape(child);
        (nodes + n, height.max(h + 1))
    })
}

fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if looks_numeric
        && !text.contains(['/', ':'])
        && text.matches('.').count() <= 1
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_tests;

#[cfg(test)]
mod limit_tests;

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
}

/// The parsed document: its value, where everything is, and structural problems
/// (duplicate keys, non-string keys) that did not stop parsing.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    pub index: PathIndex,
    pub problems: Vec<YamlProblem>,
}

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
    let doc = build(fast::Events::new(text, &bail));
    (!bail.get()).then_some(doc)
}

fn saphyr_parse(text: &str) -> Result<Document, YamlProblem> {
    build(Parser::new_from_str(text))
}

fn build<'a, I: Iterator<Item = fast::Item<'a>>>(events: I) -> Result<Document, YamlProblem> {
    let mut builder = Builder {
        events: events.peekable(),
        error: None,
        index: PathIndex::default(),
        problems: Vec::new(),
        anchors: HashMap::new(),
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
    anchors: HashMap<usize, Value>,
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
            Event::Alias(id) => (self.anchors.get(&id).cloned().unwrap_or(Value::Null), 0),
            Event::SequenceStart(anchor, _) => (self.sequence(me), anchor),
            Event::MappingStart(anchor, _) => (self.mapping(me), anchor),
            _ => (Value::Null, 0),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        value
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
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_paths_with_lines() {
        let doc = parse("a:\n  b: [1, x]\n  c:\n    - d: true\n").unwrap();
        assert_eq!(doc.value["a"]["b"][1], Value::String("x".into()));
        assert_eq!(
            doc.index.value_pos("a.b[1]"),
            Some(Pos { line: 2, col: 10 })
        );
        assert_eq!(
            doc.index.value_pos("a.c[0].d"),
            Some(Pos { line: 4, col: 10 })
        );
        assert_eq!(doc.index.key_pos("a.c"), Some(Pos { line: 3, col: 3 }));
    }

    #[test]
    fn resolves_core_schema_scalars_but_keeps_addresses_as_strings() {
        let doc =
            parse("p: 51820\nq: '51820'\nr: 10.0.12.0/24\ns: 10.0.12.1\nt: ~\nu: 1.5\n").unwrap();
        assert_eq!(doc.value["p"], Value::from(51820));
        assert_eq!(doc.value["q"], Value::from("51820"));
        assert_eq!(doc.value["r"], Value::from("10.0.12.0/24"));
        assert_eq!(doc.value["s"], Value::from("10.0.12.1"));
        assert_eq!(doc.value["t"], Value::Null);
        assert_eq!(doc.value["u"], Value::from(1.5));
    }

    #[test]
    fn reports_duplicate_keys_with_position() {
        let doc = parse("nodes:\n  a: 1\n  a: 2\n").unwrap();
        assert_eq!(doc.problems.len(), 1);
        assert_eq!(doc.problems[0].path, "nodes.a");
        assert_eq!(doc.problems[0].pos, Pos { line: 3, col: 3 });
        assert_eq!(doc.value["nodes"]["a"], Value::from(1));
    }

    #[test]
    fn syntax_error_carries_line() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
        assert!(err.pos.line >= 2);
    }

    #[test]
    fn aliases_resolve_to_anchored_value() {
        let doc = parse("a: &x [1]\nb: *x\n").unwrap();
        assert_eq!(doc.value["b"], doc.value["a"]);
    }

    #[test]
    fn a_collection_as_key_is_reported_and_later_keys_keep_their_positions() {
        let doc = parse("a:\n  ? [x, y]\n  : 1\n  b: 2\nc: 3\n").unwrap();
        assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
        assert_eq!(doc.problems[0].path, "a");
        assert_eq!(doc.value["a"]["b"], Value::from(2));
        assert_eq!(doc.index.value_pos("a.b"), Some(Pos { line: 4, col: 6 }));
        assert_eq!(doc.index.key_pos("c"), Some(Pos { line: 5, col: 1 }));
    }

    #[test]
    fn values_under_a_duplicate_key_are_not_addressable() {
        let doc = parse("n:\n  a: { x: 1 }\n  a: { x: 2 }\n").unwrap();
        assert_eq!(doc.problems[0].path, "n.a");
        assert_eq!(doc.index.value_pos("n.a.x"), Some(Pos { line: 2, col: 11 }));
        let named = doc.index.keys_named(|k| k == "x");
        assert_eq!(named, vec![("n.a.x".to_string(), Pos { line: 2, col: 8 })]);
    }

    #[test]
    fn a_syntax_error_after_valid_content_is_still_fatal() {
        let err = parse("a: 1\nb: [2\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
    }
}

#[cfg(test)]
mod fast_tests;

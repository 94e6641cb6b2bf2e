//! YAML front end: parses text into a JSON value tree plus an index from YAML paths
//! (`sstp.clients[1].lans[0]`) to source positions, so every later finding can name its line.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int, float, string);
//! quoted scalars always stay strings. Duplicate mapping keys are reported, not silently merged.

use std::collections::HashMap;

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

/// Source positions of every value (and every mapping key) in the document.
#[derive(Debug, Default, Clone)]
pub struct PathIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl PathIndex {
    /// Position of the value at `path`, or of its nearest ancestor that has one.
    pub fn value_pos(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p) {
                return Some(*pos);
            }
            p = parent_path(p)?;
        }
    }

    /// Position of the mapping key that ends `path` (falls back to the value's position).
    pub fn key_pos(&self, path: &str) -> Option<Pos> {
        self.keys
            .get(path)
            .copied()
            .or_else(|| self.value_pos(path))
    }

    /// Every path that ends in a mapping key, with the key's position.
    pub fn key_paths(&self) -> impl Iterator<Item = (&str, Pos)> {
        self.keys.iter().map(|(k, p)| (k.as_str(), *p))
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
pub fn parse(text: &str) -> Result<Document, YamlProblem> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                let m = e.marker();
                return Err(YamlProblem {
                    pos: Pos {
                        line: m.line(),
                        col: m.col() + 1,
                    },
                    path: String::new(),
                    message: format!("YAML syntax error: {}", e.info()),
                });
            }
        }
    }
    let mut builder = Builder {
        events,
        at: 0,
        index: PathIndex::default(),
        problems: Vec::new(),
        anchors: HashMap::new(),
    };
    builder.skip_to_document();
    let value = if builder.at_node() {
        builder.node("")
    } else {
        Value::Null
    };
    Ok(Document {
        value,
        index: builder.index,
        problems: builder.problems,
    })
}

struct Builder<'a> {
    events: Vec<(Event<'a>, Span)>,
    at: usize,
    index: PathIndex,
    problems: Vec<YamlProblem>,
    anchors: HashMap<usize, Value>,
}

impl Builder<'_> {
    fn skip_to_document(&mut self) {
        while self.at < self.events.len() {
            match self.events[self.at].0 {
                Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => self.at += 1,
                _ => break,
            }
        }
    }

    fn at_node(&self) -> bool {
        matches!(
            self.events.get(self.at).map(|e| &e.0),
            Some(
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(_)
            )
        )
    }

    fn node(&mut self, path: &str) -> Value {
        let (event, span) =
            std::mem::replace(&mut self.events[self.at], (Event::Nothing, Span::default()));
        self.at += 1;
        self.index.values.insert(path.to_string(), Pos::of(&span));
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, _) => (scalar(&text, style), anchor),
            Event::Alias(id) => (self.anchors.get(&id).cloned().unwrap_or(Value::Null), 0),
            Event::SequenceStart(anchor, _) => (self.sequence(path), anchor),
            Event::MappingStart(anchor, _) => (self.mapping(path), anchor),
            _ => (Value::Null, 0),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        value
    }

    fn sequence(&mut self, path: &str) -> Value {
        let mut items = Vec::new();
        while self.at_node() {
            let child = join_index(path, items.len());
            items.push(self.node(&child));
        }
        self.at += 1; // SequenceEnd
        Value::Array(items)
    }

    fn mapping(&mut self, path: &str) -> Value {
        let mut map = Map::new();
        while self.at_node() {
            let key_pos = Pos::of(&self.events[self.at].1);
            let key = match &self.events[self.at].0 {
                Event::Scalar(text, ..) => Some(text.to_string()),
                _ => None,
            };
            let Some(key) = key else {
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: path.to_string(),
                    message: "mapping keys must be plain strings".into(),
                });
                let scratch = format!("{path}.<key>");
                let _ = self.node(&scratch); // the key
                let _ = self.node(&scratch); // its value
                self.index.values.remove(&scratch);
                continue;
            };
            self.at += 1; // the key scalar
            let child = join_key(path, &key);
            if map.contains_key(&key) {
                self.problems.push(YamlProblem {
                    pos: key_pos,
                    path: child.clone(),
                    message: format!(
                        "duplicate key \"{key}\" (the first one would be silently overwritten)"
                    ),
                });
                let _ = self.node(&format!("{child}#dup"));
                continue;
            }
            self.index.keys.insert(child.clone(), key_pos);
            let value = self.node(&child);
            map.insert(key, value);
        }
        self.at += 1; // MappingEnd
        Value::Object(map)
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
}

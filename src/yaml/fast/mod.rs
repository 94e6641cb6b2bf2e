//! Fast path for the YAML topology files are written in: block mappings and sequences,
//! one-line flow collections, one-line plain and quoted scalars, comments. Emits the same
//! events at the same positions as saphyr's parser (the tests compare both on fixtures and
//! on thousands of generated documents). On anything else — anchors, tags, block scalars,
//! multi-line scalars or flows, document markers, tabs, empty sequence items, every syntax
//! error — it gives up, and the caller parses the text with saphyr, which stays the
//! authority on every error message and every unusual construct.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::VecDeque;

use saphyr_parser::{Event, Marker, ScalarStyle, ScanError, Span};

mod quoted;

use quoted::quoted;

/// Whether the fast path may try `text` at all: no tab, carriage return or other control
/// character, no BOM, C1 control, line separator or non-character.
pub(super) fn may_try(text: &str) -> bool {
    let b = text.as_bytes();
    !b.iter().enumerate().any(|(i, &c)| match c {
        b'\n' => false,
        0..=0x1f | 0x7f => true,
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        0xe2 => matches!(b.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])),
        0xef => matches!(
            b.get(i + 1..i + 3),
            Some([0xbb, 0xbf] | [0xbf, 0xbe] | [0xbf, 0xbf])
        ),
        _ => false,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Map,
    Seq,
}

/// An open block collection: its kind and the column of its keys or dashes.
struct Block {
    kind: Kind,
    indent: usize,
    /// A sequence at its parent key's column (`key:\n- item`): ends at the first line in
    /// that column that is not an item.
    indentless: bool,
}

/// The line being scanned.
pub(super) struct Line<'a> {
    text: &'a str,
    start: usize,
    no: usize,
    ascii: bool,
}

impl Line<'_> {
    pub(super) fn byte(&self, i: usize) -> Option<u8> {
        self.text.as_bytes().get(i).copied()
    }

    fn mark(&self, i: usize) -> Marker {
        let col = if self.ascii {
            i
        } else {
            self.text[..i].chars().count()
        };
        Marker::new(self.start + i, self.no, col)
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while self.byte(i) == Some(b' ') {
            i += 1;
        }
        i
    }

    /// Nothing but spaces and a comment from `i` on.
    fn rest_is_blank(&self, i: usize) -> bool {
        let j = self.skip_spaces(i);
        match self.byte(j) {
            None => true,
            Some(b'#') => j > i,
            Some(_) => false,
        }
    }
}

/// Event source for [`super::Builder`]; sets `bail` and ends the stream where the text
/// leaves the subset.
pub(super) struct Events<'a, 'b> {
    text: &'a str,
    next_line: usize,
    line_no: usize,
    started: bool,
    /// The root collection has been opened (a second root is not for the fast path).
    rooted: bool,
    done: bool,
    stack: Vec<Block>,
    /// A block mapping key without an inline value: the key's column and its colon.
    pending: Option<(usize, Marker)>,
    /// An indentless sequence was just opened: its start event goes right before the
    /// first item's node, at that node's position (as saphyr places it).
    seq_start_at_next_node: bool,
    out: VecDeque<(Event<'a>, Span)>,
    bail: &'b Cell<bool>,
}

impl<'a, 'b> Events<'a, 'b> {
    pub(super) fn new(text: &'a str, bail: &'b Cell<bool>) -> Self {
        Events {
            text,
            next_line: 0,
            line_no: 1,
            started: false,
            rooted: false,
            done: false,
            stack: Vec::new(),
            pending: None,
            seq_start_at_next_node: false,
            out: VecDeque::new(),
            bail,
        }
    }
}

impl Events<'_, '_> {
    /// Scans lines until an event is queued or the stream ends (or leaves the subset).
    fn fill(&mut self) {
        while self.out.is_empty() && !self.done {
            if self.step().is_none() {
                self.bail.set(true);
                self.done = true;
                self.out.clear();
            }
        }
    }
}

/// The builder reads the queue in place: each 136-byte event is moved out once, not through
/// a `Result` and a `Peekable` slot as an iterator's items would be (≈ 6 % of `check`).
impl<'a> super::Source<'a> for Events<'a, '_> {
    fn peek(&mut self) -> Option<Result<&Event<'a>, ScanError>> {
        self.fill();
        self.out.front().map(|(event, _)| Ok(event))
    }

    fn take(&mut self) -> Option<(Event<'a>, Span)> {
        self.fill();
        self.out.pop_front()
    }
}

/// The longest key the fast path reads (saphyr refuses implicit keys of 1,024 characters).
const MAX_KEY_BYTES: usize = 1000;

fn at(m: Marker) -> Span {
    Span::new(m, m)
}

/// The style of a scalar opened by quote `q`.
fn quote_style(q: u8) -> ScalarStyle {
    if q == b'"' {
        ScalarStyle::DoubleQuoted
    } else {
        ScalarStyle::SingleQuoted
    }
}

/// A plain scalar may start with `c` (followed by `next`).
fn plain_start(c: u8, next: Option<u8>) -> bool {
    match c {
        b'-' => next.is_some_and(|n| n != b' ' && n != b','),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' => false,
        _ => true,
    }
}

impl<'a> Events<'a, '_> {
    fn emit(&mut self, event: Event<'a>, m: Marker) {
        self.out.push_back((event, at(m)));
    }

    /// Emits the first event of a node at `m`, preceded by a pending indentless start.
    fn emit_node(&mut self, event: Event<'a>, m: Marker) {
        if std::mem::take(&mut self.seq_start_at_next_node) {
            self.emit(Event::SequenceStart(0, None), m);
        }
        self.emit(event, m);
    }

    fn scalar(&mut self, text: Cow<'a, str>, style: ScalarStyle, m: Marker) {
        self.emit_node(Event::Scalar(text, style, 0, None), m);
    }

    fn close(&mut self) {
        if let Some(b) = self.stack.pop() {
            let end = match b.kind {
                Kind::Map => Event::MappingEnd,
                Kind::Seq => Event::SequenceEnd,
            };
            self.out
                .push_back((end, at(Marker::new(0, self.line_no, 0))));
        }
    }

    fn step(&mut self) -> Option<()> {
        if !self.started {
            self.started = true;
            let m = Marker::new(0, 1, 0);
            self.emit(Event::StreamStart, m);
            self.emit(Event::DocumentStart(false), m);
            return Some(());
        }
        while self.next_line < self.text.len() {
            let start = self.next_line;
            let rest = &self.text[start..];
            // A byte loop: lines are short, and `str::find` costs ≈ 20 instructions a byte.
            let len = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
            let text = &rest[..len];
            let line = Line {
                text,
                start,
                no: self.line_no,
                ascii: text.is_ascii(),
            };
            self.next_line = start + len + 1;
            self.line_no += 1;
            let ind = line.skip_spaces(0);
            match line.byte(ind) {
                None | Some(b'#') => continue,
                _ => return self.content_line(&line, ind),
            }
        }
        self.finish()
    }

    fn finish(&mut self) -> Option<()> {
        if self.stack.is_empty() {
            return None; // no content at all: saphyr knows what that means
        }
        if let Some((_, colon)) = self.pending.take() {
            self.scalar(Cow::Borrowed(""), ScalarStyle::Plain, colon);
        }
        while !self.stack.is_empty() {
            self.close();
        }
        let m = Marker::new(self.text.len(), self.line_no, 0);
        self.emit(Event::DocumentEnd, m);
        self.emit(Event::StreamEnd, m);
        self.done = true;
        Some(())
    }

    fn content_line(&mut self, l: &Line<'a>, ind: usize) -> Option<()> {
        let t = &l.text[ind..];
        if t.starts_with("---") || t.starts_with("...") {
            return None;
        }
        let dash = l.byte(ind) == Some(b'-') && matches!(l.byte(ind + 1), None | Some(b' '));
        if !self.rooted {
            self.rooted = true;
            return self.open(l, ind, dash);
        }
        if let Some((parent, colon)) = self.pending.take() {
            if ind > parent {
                return self.open(l, ind, dash);
            }
            if ind == parent && dash && self.stack.last().is_some_and(|b| b.kind == Kind::Map) {
                self.stack.push(Block {
                    kind: Kind::Seq,
                    indent: ind,
                    indentless: true,
                });
                self.seq_start_at_next_node = true;
                return self.seq_item(l, ind);
            }
            self.scalar(Cow::Borrowed(""), ScalarStyle::Plain, colon);
        }
        while let Some(top) = self.stack.last() {
            let ends = top.indent > ind || (top.indentless && top.indent == ind && !dash);
            if !ends {
                break;
            }
            self.close();
        }
        let top = self.stack.last()?;
        if top.indent != ind {
            return None;
        }
        match (top.kind, dash) {
            (Kind::Seq, true) => self.seq_item(l, ind),
            (Kind::Map, false) => self.map_entry(l, ind),
            _ => None,
        }
    }

    /// A new block collection whose first line is `l`.
    fn open(&mut self, l: &Line<'a>, ind: usize, dash: bool) -> Option<()> {
        let kind = if dash { Kind::Seq } else { Kind::Map };
        self.stack.push(Block {
            kind,
            indent: ind,
            indentless: false,
        });
        if dash {
            self.emit_node(Event::SequenceStart(0, None), l.mark(ind));
            self.seq_item(l, ind)
        } else {
            self.emit_node(Event::MappingStart(0, None), l.mark(ind));
            self.map_entry(l, ind)
        }
    }

    fn seq_item(&mut self, l: &Line<'a>, ind: usize) -> Option<()> {
        let v = l.skip_spaces(ind + 1);
        match l.byte(v) {
            None | Some(b'#') => return None, // empty or nested item
            Some(b'-') if matches!(l.byte(v + 1), None | Some(b' ')) => return None,
            _ => {}
        }
        if self.key_end(l, v).is_some() {
            self.stack.push(Block {
                kind: Kind::Map,
                indent: v,
                indentless: false,
            });
            self.emit_node(Event::MappingStart(0, None), l.mark(v));
            return self.map_entry(l, v);
        }
        self.block_value(l, v)
    }

    /// Where the key starting at `i` ends (its colon), if there is a block mapping key there.
    /// Keys of 1,024 characters or more are not implicit keys to saphyr (YAML 1.2's limit);
    /// anything near that is left to it.
    fn key_end(&self, l: &Line<'a>, i: usize) -> Option<usize> {
        let end = self.key_colon(l, i)?;
        (end - i <= MAX_KEY_BYTES).then_some(end)
    }

    fn key_colon(&self, l: &Line<'a>, i: usize) -> Option<usize> {
        let b = l.text.as_bytes();
        match b.get(i)? {
            b'"' | b'\'' => {
                let (_, end) = quoted(l, i)?;
                let c = l.skip_spaces(end);
                let colon = b.get(c) == Some(&b':') && matches!(b.get(c + 1), None | Some(b' '));
                colon.then_some(c)
            }
            &c if plain_start(c, b.get(i + 1).copied()) => {
                for j in i..b.len() {
                    match b[j] {
                        b':' if matches!(b.get(j + 1), None | Some(b' ')) => return Some(j),
                        b'#' if b[j - 1] == b' ' => return None,
                        b'[' | b']' | b'{' | b'}' | b',' => return None,
                        _ => {}
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn map_entry(&mut self, l: &Line<'a>, ind: usize) -> Option<()> {
        let colon = self.key_end(l, ind)?;
        let key = match l.byte(ind)? {
            b'"' | b'\'' => {
                let (text, _) = quoted(l, ind)?;
                (text, quote_style(l.byte(ind)?))
            }
            _ => (
                Cow::Borrowed(l.text[ind..colon].trim_end_matches(' ')),
                ScalarStyle::Plain,
            ),
        };
        self.scalar(key.0, key.1, l.mark(ind));
        let v = l.skip_spaces(colon + 1);
        match l.byte(v) {
            None | Some(b'#') => {
                self.pending = Some((ind, l.mark(colon)));
                Some(())
            }
            _ => self.block_value(l, v),
        }
    }

    /// A value on the rest of the line from `v`: quoted, flow or plain scalar.
    fn block_value(&mut self, l: &Line<'a>, v: usize) -> Option<()> {
        let end = match l.byte(v)? {
            c @ (b'"' | b'\'') => {
                let (text, end) = quoted(l, v)?;
                self.scalar(text, quote_style(c), l.mark(v));
                end
            }
            b'[' | b'{' => self.flow(l, v, self.stack.len() + 1)?,
            c if plain_start(c, l.byte(v + 1)) => {
                let b = l.text.as_bytes();
                let mut end = b.len();
                for (j, &c) in b.iter().enumerate().skip(v) {
                    match c {
                        b':' if matches!(b.get(j + 1), None | Some(b' ')) => return None,
                        b'#' if b[j - 1] == b' ' => {
                            end = j;
                            break;
                        }
                        b'[' | b']' | b'{' | b'}' => return None,
                        _ => {}
                    }
                }
                let text = l.text[v..end].trim_end_matches(' ');
                self.scalar(Cow::Borrowed(text), ScalarStyle::Plain, l.mark(v));
                return Some(());
            }
            _ => return None,
        };
        l.rest_is_blank(end).then_some(())
    }

    /// A one-line flow collection starting at `i`, `depth` collections deep; returns the
    /// index after it. Deeper than the builder allows goes to saphyr (this recurses).
    fn flow(&mut self, l: &Line<'a>, i: usize, depth: usize) -> Option<usize> {
        if depth > super::MAX_DEPTH {
            return None;
        }
        let map = l.byte(i)? == b'{';
        let (start, close, end_event) = if map {
            (Event::MappingStart(0, None), b'}', Event::MappingEnd)
        } else {
            (Event::SequenceStart(0, None), b']', Event::SequenceEnd)
        };
        self.emit_node(start, l.mark(i));
        let mut j = l.skip_spaces(i + 1);
        if l.byte(j)? == close {
            self.emit(end_event, l.mark(j));
            return Some(j + 1);
        }
        loop {
            if map {
                let key = j;
                j = self.flow_scalar(l, j, true)?;
                if j - key > MAX_KEY_BYTES {
                    return None;
                }
                j = l.skip_spaces(j);
                if l.byte(j)? != b':' || l.byte(j + 1)? != b' ' {
                    return None;
                }
                j = l.skip_spaces(j + 1);
                if matches!(l.byte(j)?, b',' | b'}') {
                    return None;
                }
            }
            j = match l.byte(j)? {
                b'[' | b'{' => self.flow(l, j, depth + 1)?,
                _ => self.flow_scalar(l, j, false)?,
            };
            j = l.skip_spaces(j);
            match l.byte(j)? {
                b',' => {
                    j = l.skip_spaces(j + 1);
                    if matches!(l.byte(j)?, b']' | b'}') {
                        return None; // trailing comma
                    }
                }
                c if c == close => {
                    self.emit(end_event, l.mark(j));
                    return Some(j + 1);
                }
                _ => return None,
            }
        }
    }

    /// A quoted or plain scalar inside a flow collection; returns the index after it.
    fn flow_scalar(&mut self, l: &Line<'a>, i: usize, key: bool) -> Option<usize> {
        let c = l.byte(i)?;
        if c == b'"' || c == b'\'' {
            let (text, end) = quoted(l, i)?;
            self.scalar(text, quote_style(c), l.mark(i));
            return Some(end);
        }
        if !plain_start(c, l.byte(i + 1)) {
            return None;
        }
        let b = l.text.as_bytes();
        let mut j = i;
        loop {
            match b.get(j) {
                None => return None, // the flow goes on on the next line
                Some(b',' | b'[' | b']' | b'{' | b'}') => break,
                // saphyr refuses `-` before a flow indicator (`[-]`, `[b -]`): found by fuzz/.
                Some(b'-') if matches!(b.get(j + 1), Some(b',' | b'[' | b']' | b'{' | b'}')) => {
                    return None;
                }
                Some(b':') => match b.get(j + 1) {
                    Some(b' ') if key => break,
                    _ => return None,
                },
                Some(b'#') if b[j - 1] == b' ' => return None,
                _ => j += 1,
            }
        }
        let text = l.text[i..j].trim_end_matches(' ');
        self.scalar(Cow::Borrowed(text), ScalarStyle::Plain, l.mark(i));
        Some(j)
    }
}

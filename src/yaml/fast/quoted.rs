//! Quoted scalars on one line: single-quoted (`''` is a quote) and double-quoted with the
//! YAML escapes the fast path knows; any other escape or an unterminated scalar gives up.

use std::borrow::Cow;

use super::Line;

/// A one-line quoted scalar starting at `i` (at its quote): its value and the index after
/// the closing quote.
pub(super) fn quoted<'a>(l: &Line<'a>, i: usize) -> Option<(Cow<'a, str>, usize)> {
    let s = l.text;
    let b = s.as_bytes();
    let q = b[i];
    let mut owned: Option<String> = None;
    let mut seg = i + 1;
    let mut j = i + 1;
    loop {
        let c = *b.get(j)?;
        if c == q {
            if q == b'\'' && b.get(j + 1) == Some(&b'\'') {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[seg..=j]);
                j += 2;
                seg = j;
                continue;
            }
            let text = match owned {
                Some(mut o) => {
                    o.push_str(&s[seg..j]);
                    Cow::Owned(o)
                }
                None => Cow::Borrowed(&s[seg..j]),
            };
            return Some((text, j + 1));
        }
        if c == b'\\' && q == b'"' {
            let o = owned.get_or_insert_with(String::new);
            o.push_str(&s[seg..j]);
            let (ch, used) = unescape(&b[j + 1..])?;
            o.push(ch);
            j += 1 + used;
            seg = j;
            continue;
        }
        j += 1;
    }
}

/// One double-quoted escape (after the backslash): the character and bytes used.
fn unescape(b: &[u8]) -> Option<(char, usize)> {
    let simple = match *b.first()? {
        b'\\' => '\\',
        b'"' => '"',
        b'/' => '/',
        b' ' => ' ',
        b'n' => '\n',
        b't' => '\t',
        b'r' => '\r',
        b'0' => '\0',
        b'a' => '\x07',
        b'b' => '\x08',
        b'v' => '\x0b',
        b'f' => '\x0c',
        b'e' => '\x1b',
        b'x' => return hex(b, 2),
        b'u' => return hex(b, 4),
        b'U' => return hex(b, 8),
        _ => return None,
    };
    Some((simple, 1))
}

fn hex(b: &[u8], digits: usize) -> Option<(char, usize)> {
    let h = std::str::from_utf8(b.get(1..1 + digits)?).ok()?;
    if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let ch = char::from_u32(u32::from_str_radix(h, 16).ok()?)?;
    Some((ch, 1 + digits))
}

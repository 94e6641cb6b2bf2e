//! RouterOS string quoting (shared/notes/routeros.md §3): every free-text value goes through
//! [`ros_quote`], so no name, comment or password can end the string or interpolate.

use std::fmt::Write;

/// Quotes `s` as a RouterOS string literal: `"`, `\`, `$` and `?` escaped, LF/CR/TAB as
/// `\n`/`\r`/`\t`, every other control byte and every non-ASCII byte as `\XX` (upper-case hex).
pub fn ros_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'$' => out.push_str("\\$"),
            b'?' => out.push_str("\\3F"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:02X}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::ros_quote;

    #[test]
    fn escapes_every_interpolation_and_terminator() {
        let table = [
            ("a\"b", r#""a\"b""#),
            ("a\\b", r#""a\\b""#),
            ("$x", r#""\$x""#),
            ("$(/system reboot)", r#""\$(/system reboot)""#),
            (
                "$[/system reset-configuration]",
                r#""\$[/system reset-configuration]""#,
            ),
            (
                "x\"; /system reboot; :put \"",
                r#""x\"; /system reboot; :put \"""#,
            ),
            ("l1\nl2\r\t", r#""l1\nl2\r\t""#),
            (
                "semi;colon [br] {cu} #hash",
                r#""semi;colon [br] {cu} #hash""#,
            ),
            ("q?", r#""q\3F""#),
            ("café", r#""caf\C3\A9""#),
            ("\u{0}\u{1}\u{7f}", r#""\00\01\7F""#),
        ];
        for (input, want) in table {
            assert_eq!(ros_quote(input), want, "input {input:?}");
        }
    }
}

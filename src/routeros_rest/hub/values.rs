//! Comparing a desired value with the one RouterOS prints (pure): `yes`/`true`,
//! `25s`/`00:00:25`, comma lists in any order, numbers with leading zeros; a missing value is
//! the default (empty).

use std::collections::BTreeSet;

/// RouterOS durations (`25s`, `1m5s`, `00:00:25`, `25`) in seconds.
pub(super) fn seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() {
        return Some(0);
    }
    if v.contains(':') {
        return v
            .split(':')
            .try_fold(0u64, |acc, p| Some(acc * 60 + p.parse::<u64>().ok()?));
    }
    if let Ok(n) = v.parse() {
        return Some(n);
    }
    let (mut total, mut num) = (0u64, String::new());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'w' => n * 604_800,
            'd' => n * 86_400,
            'h' => n * 3_600,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0
            }
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" | "yes" => Some(true),
        "false" | "no" | "" => Some(false),
        _ => None,
    }
}

/// Whether the live value of `key` already is `want`.
pub(super) fn same(key: &str, want: &str, live: Option<&String>) -> bool {
    let have = live.map_or("", String::as_str);
    match key {
        "disabled" | "responder" => boolean(want) == boolean(have),
        "persistent-keepalive" => seconds(want) == seconds(have),
        "allowed-address" | "routes" => {
            // Items in any order; inside one (`net gw 1`) runs of spaces are one.
            let set = |s: &str| -> BTreeSet<String> {
                s.split(',')
                    .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|x| !x.is_empty())
                    .collect()
            };
            set(want) == set(have)
        }
        "listen-port" | "mtu" | "endpoint-port" => {
            want.parse::<u64>().ok() == have.parse::<u64>().ok() || want == have
        }
        _ => want == have,
    }
}

//! Field parsers: each turns one raw value into a typed one or records a finding at its path.
//! Paths are `Display` (e.g. `format_args!`), formatted only when there is a finding.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use ipnet::Ipv4Net;

use crate::diag::Findings;

pub fn required<'a, T>(
    f: &mut Findings,
    value: &'a Option<T>,
    path: impl Display,
    hint: &str,
) -> Option<&'a T> {
    if value.is_none() {
        f.at(path.to_string(), "is required", hint);
    }
    value.as_ref()
}

pub fn parse<T: FromStr>(f: &mut Findings, text: &str, path: impl Display) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match text.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            f.at(path.to_string(), e.to_string(), "see docs/topology.md");
            None
        }
    }
}

/// An IPv4 network in canonical form (no host bits set).
pub fn net(f: &mut Findings, text: &str, path: impl Display) -> Option<Ipv4Net> {
    let Ok(n) = text.parse::<Ipv4Net>() else {
        f.at(
            path.to_string(),
            format!("\"{text}\" is not an IPv4 prefix"),
            "write it as A.B.C.D/LEN, e.g. 10.0.12.0/24",
        );
        return None;
    };
    if n.trunc() != n {
        f.at(
            path.to_string(),
            format!("\"{text}\" has host bits set"),
            format!("did you mean {}?", n.trunc()),
        );
        return None;
    }
    Some(n)
}

pub fn ipv4(f: &mut Findings, text: &str, path: impl Display) -> Option<Ipv4Addr> {
    match text.parse::<Ipv4Addr>() {
        Ok(a) => Some(a),
        Err(_) => {
            f.at(
                path.to_string(),
                format!("\"{text}\" is not an IPv4 address"),
                "write a plain address such as 10.0.12.30, without /LEN",
            );
            None
        }
    }
}

pub fn ip(f: &mut Findings, text: &str, path: impl Display) -> Option<IpAddr> {
    match text.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            f.at(
                path.to_string(),
                format!("\"{text}\" is not an IP address"),
                "endpoints are public IP addresses (resolve names before writing them here)",
            );
            None
        }
    }
}

/// `IP` or `IP:PORT` (default port 53), for DNS upstreams.
pub fn dns_server(f: &mut Findings, text: &str, path: impl Display) -> Option<SocketAddr> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Some(sa);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    f.at(
        path.to_string(),
        format!("\"{text}\" is not an IP address or IP:PORT"),
        "e.g. 127.0.0.1:5353 or 9.9.9.9",
    );
    None
}

/// An integer in `lo..=hi`.
pub fn ranged(
    f: &mut Findings,
    value: i64,
    lo: i64,
    hi: i64,
    path: impl Display,
    what: &str,
) -> Option<i64> {
    if (lo..=hi).contains(&value) {
        Some(value)
    } else {
        f.at(
            path.to_string(),
            format!("{what} {value} is out of range"),
            format!("use {lo}-{hi}"),
        );
        None
    }
}

pub fn port(f: &mut Findings, value: i64, path: impl Display) -> Option<u16> {
    ranged(f, value, 1, 65535, path, "port").map(|v| v as u16)
}

/// Free text that ends up in router scripts (escaped there): bounded, no control characters
/// other than line feed and tab.
pub fn text(f: &mut Findings, value: &str, path: impl Display, max: usize) -> Option<String> {
    if value.len() > max {
        f.at(
            path.to_string(),
            format!("text is {} bytes long", value.len()),
            format!("keep it under {max} bytes"),
        );
        return None;
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        f.at(
            path.to_string(),
            format!("text contains the control character U+{:04X}", c as u32),
            "use printable text (line feeds and tabs are allowed)",
        );
        return None;
    }
    Some(value.to_string())
}

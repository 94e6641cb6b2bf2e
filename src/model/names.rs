//! Name newtypes: parsed once at the boundary, so nothing later handles unchecked strings.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $check(s).map(|()| $name(s.to_string()))
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A node or client-router name: a DNS label (`[a-z0-9-]`, 1–63, no leading/trailing `-`).
    NodeName,
    check_label
);
name_type!(
    /// A Linux interface name (also the plane's name): 1–15 bytes of `[A-Za-z0-9_.=+-]`.
    Ifname,
    check_ifname
);
name_type!(
    /// A layout name: a DNS-label-like word such as `primary` or `split-role`.
    LayoutName,
    check_label
);
name_type!(
    /// A DNS name without the trailing dot, lower case, labels checked.
    DnsName,
    check_dns_name
);

fn check_label(s: &str) -> Result<(), NameError> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if s.is_empty() || s.len() > 63 || !ok_chars || s.starts_with('-') || s.ends_with('-') {
        return Err(NameError(format!(
            "\"{s}\" is not a valid name (use 1-63 lower-case letters, digits and '-', not at the ends)"
        )));
    }
    Ok(())
}

fn check_ifname(s: &str) -> Result<(), NameError> {
    if s.is_empty() || s.len() > 15 {
        return Err(NameError(format!(
            "interface name \"{s}\" is {} bytes; Linux allows 1-15",
            s.len()
        )));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.=+-".contains(&b))
        || s == "."
        || s == ".."
    {
        return Err(NameError(format!(
            "interface name \"{s}\" may use only letters, digits and _ . = + -"
        )));
    }
    Ok(())
}

fn check_dns_name(s: &str) -> Result<(), NameError> {
    if s.is_empty() || s.len() > 253 {
        return Err(NameError(format!(
            "\"{s}\" is not a valid DNS name (1-253 characters)"
        )));
    }
    for label in s.split('.') {
        check_label(label).map_err(|_| {
            NameError(format!(
                "\"{s}\" is not a valid DNS name (bad label \"{label}\")"
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_dns_labels() {
        assert!("z640".parse::<NodeName>().is_ok());
        assert!("client-a-hq".parse::<NodeName>().is_ok());
        for bad in ["", "Z640", "-a", "a-", "a_b", "a.b", "a\"b"] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn interface_names_are_at_most_15_bytes() {
        assert!("wg0".parse::<Ifname>().is_ok());
        assert!("a23456789012345".parse::<Ifname>().is_ok());
        let err = "a234567890123456".parse::<Ifname>().unwrap_err();
        assert!(err.0.contains("16 bytes"), "{err}");
        assert!("wg 0".parse::<Ifname>().is_err());
    }

    #[test]
    fn dns_names_check_every_label() {
        assert!("lab.example.com".parse::<DnsName>().is_ok());
        assert!("lab..example.com".parse::<DnsName>().is_err());
        assert!("lab.ex_ample.com".parse::<DnsName>().is_err());
    }
}

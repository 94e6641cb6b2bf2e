//! WireGuard keys and secret values. Secrets never print: `Debug` and `Display` show `***`.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

fn decode_key(s: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD
        .decode(s.trim())
        .map_err(|_| KeyError(format!("\"{s}\" is not base64")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        KeyError(format!(
            "\"{s}\" decodes to {} bytes; a WireGuard key is 32",
            bytes.len()
        ))
    })
}

/// A WireGuard public key (base64 of 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        decode_key(s).map(PublicKey)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

/// A WireGuard private key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// A fresh random key (clamped by the WireGuard key library).
    pub fn generate() -> Self {
        Self::from_bytes(defguard_wireguard_rs::key::Key::generate().as_array())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(
            defguard_wireguard_rs::key::Key::new(self.0)
                .public_key()
                .as_array(),
        )
    }

    /// The base64 form, for writing into a secret file or a secret artifact only.
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Clamped as Curve25519 requires (what `wg genkey` prints and WireGuard stores), so
    /// the key reads back from an interface exactly as written.
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        PrivateKey(bytes)
    }
}

impl FromStr for PrivateKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        decode_key(s)
            .map(Self::from_bytes)
            .map_err(|_| KeyError("private key is not base64 of 32 bytes".into()))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

/// Any other secret string (an SSTP password). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_base64() {
        let k = PrivateKey::generate().public_key();
        assert_eq!(k.to_base64().parse::<PublicKey>().unwrap(), k);
    }

    #[test]
    fn rejects_keys_of_wrong_length_or_alphabet() {
        assert!(
            "not base64!"
                .parse::<PublicKey>()
                .unwrap_err()
                .0
                .contains("not base64")
        );
        assert!(
            "AAAA"
                .parse::<PublicKey>()
                .unwrap_err()
                .0
                .contains("3 bytes")
        );
    }

    #[test]
    fn secrets_never_print() {
        let k = PrivateKey::generate();
        assert_eq!(format!("{k:?}"), "PrivateKey(***)");
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }
}

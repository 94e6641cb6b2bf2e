//! Shared helpers for the integration tests: deterministic secrets and rendering in-process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use fabric::model::{PrivateKey, Secret, Topology};
use fabric::plan::{KeyRing, Plan};
use fabric::render::{Artifact, Secrets};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load(path: &Path) -> Topology {
    let text = std::fs::read_to_string(path).unwrap();
    fabric::validate::load(&text).unwrap_or_else(|d| panic!("{} invalid: {d:#?}", path.display()))
}

/// Test-only keys and passwords derived from the names, so renders are reproducible.
pub fn deterministic_secrets(t: &Topology) -> (KeyRing, Secrets) {
    let mut ring = KeyRing::default();
    let mut secrets = Secrets::default();
    for (id, public) in KeyRing::needed(t) {
        match public {
            Some(p) => {
                ring.0.insert(id, p);
            }
            None => {
                let key = PrivateKey::from_bytes(stretch(&id.to_string()));
                ring.0.insert(id.clone(), key.public_key());
                secrets.private_keys.insert(id, key);
            }
        }
    }
    for c in t.sstp.iter().flat_map(|s| &s.clients) {
        secrets.passwords.insert(
            c.name.clone(),
            Secret::new(format!("test-password-{}", c.name)),
        );
    }
    (ring, secrets)
}

fn stretch(seed: &str) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        for b in seed.bytes().chain([i as u8]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        *byte = (h >> 24) as u8;
    }
    out
}

pub fn plan(t: &Topology, layout: &str) -> (Plan, Secrets) {
    let (ring, secrets) = deterministic_secrets(t);
    (fabric::plan::plan(t, &ring, layout).unwrap(), secrets)
}

pub fn render(t: &Topology, layout: &str) -> Vec<Artifact> {
    let (plan, secrets) = plan(t, layout);
    fabric::render::render(&plan, &secrets)
}

pub const LAYOUTS: [&str; 3] = ["primary", "chr02", "split-role"];

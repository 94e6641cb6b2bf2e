//! topology.yaml text → validated [`Topology`], reporting every finding at once.
//!
//! Stages: YAML (syntax, duplicate keys) → raw serde structs (unknown fields, type errors,
//! inline secrets) → typed model (field rules) → cross checks (duplicates, overlaps,
//! references). Pure: takes text, returns values.

mod checks;
mod dns_check;
mod failover;
mod fields;
mod sections;
mod underlay;

use crate::diag::Diagnostic;
use crate::model::Topology;
use crate::raw::RawTopology;
use crate::yaml::{self, PathIndex};

/// Key names that would put a secret into topology.yaml.
const SECRET_KEYS: &[&str] = &[
    "private_key",
    "privatekey",
    "private-key",
    "password",
    "passwd",
    "secret",
    "preshared_key",
    "presharedkey",
    "preshared-key",
    "psk",
    "token",
];

/// Parses and validates a topology. On failure returns all findings, sorted by position.
pub fn load(text: &str) -> Result<Topology, Vec<Diagnostic>> {
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(p) => {
            let d = Diagnostic {
                path: p.path,
                pos: Some(p.pos),
                message: p.message,
                hint: Some(p.hint.into()),
            };
            return Err(vec![d]);
        }
    };
    let mut diags: Vec<Diagnostic> = doc
        .problems
        .iter()
        .map(|p| Diagnostic {
            path: p.path.clone(),
            pos: Some(p.pos),
            message: p.message.clone(),
            hint: Some(p.hint.into()),
        })
        .collect();
    diags.extend(inline_secrets(&doc.index));

    let raw = deserialize(doc.tape.root(), &doc.index, &mut diags);
    // The tape is not needed past here: freed before the model is built, whose
    // allocations can then reuse its memory.
    let index = doc.index;
    drop(doc.tape);
    let Some(raw) = raw else {
        return Err(finish(diags, &index));
    };
    match sections::build(&raw) {
        Ok(topology) if diags.is_empty() => Ok(topology),
        Ok(_) => Err(finish(diags, &index)),
        Err(findings) => {
            diags.extend(findings.0);
            Err(finish(diags, &index))
        }
    }
}

fn inline_secrets(index: &PathIndex) -> Vec<Diagnostic> {
    index
        .keys_named(|name| SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(name)))
        .into_iter()
        .map(|(path, pos)| {
            let key = path
                .rsplit(['.', ']'])
                .next()
                .unwrap_or(&path)
                .to_ascii_lowercase();
            Diagnostic {
                message: format!("\"{key}\" holds a secret; secrets never live in topology.yaml"),
                path,
                pos: Some(pos),
                hint: Some("delete it: fabric keeps private keys and passwords in the secrets directory (`fabric keys`); a node that keeps its own key lists only public_key".into()),
            }
        })
        .collect()
}

/// The raw structs, reporting unknown fields and the first type error with its path.
///
/// Path tracking copies every mapping key, so it runs only when the plain pass fails (a
/// valid 1,000-node topology skips ~6,000 allocations); both passes read the same tape and
/// report the same unknown fields.
fn deserialize(
    value: yaml::At<'_, '_>,
    index: &PathIndex,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawTopology> {
    use serde::Deserialize;
    let mut unknown = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path| unknown.push(ignored_path(&path));
    let plain = RawTopology::deserialize(serde_ignored::Deserializer::new(value, &mut on_ignored));
    let result = match plain {
        Ok(raw) => Ok(raw),
        Err(_) => {
            unknown.clear();
            let mut on_ignored = |path: serde_ignored::Path| unknown.push(ignored_path(&path));
            let ignored = serde_ignored::Deserializer::new(value, &mut on_ignored);
            serde_path_to_error::deserialize::<_, RawTopology>(ignored)
        }
    };
    for path in unknown {
        let field = path.rsplit('.').next().unwrap_or(&path).to_string();
        if SECRET_KEYS.contains(&field.to_ascii_lowercase().as_str()) {
            continue; // already reported as an inline secret
        }
        diags.push(Diagnostic {
            pos: index.key_pos(&path),
            path,
            message: format!("unknown field \"{field}\""),
            hint: Some("check the spelling; docs/topology.md lists every field".into()),
        });
    }
    match result {
        Ok(raw) => Some(raw),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = e.inner().to_string();
            diags.push(Diagnostic {
                pos: index.value_pos(&path),
                path,
                message: format!("wrong type: {message}"),
                hint: Some("see docs/topology.md for the expected shape".into()),
            });
            None
        }
    }
}

fn ignored_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => yaml::join_index(&ignored_path(parent), *index),
        P::Map { parent, key } => yaml::join_key(&ignored_path(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

fn finish(mut diags: Vec<Diagnostic>, index: &PathIndex) -> Vec<Diagnostic> {
    for d in &mut diags {
        if d.pos.is_none() {
            // Point at the value when it sits on the key's line, else at the key itself.
            let (key, value) = (index.key_pos(&d.path), index.value_pos(&d.path));
            d.pos = match (key, value) {
                (Some(k), Some(v)) if k.line != v.line => Some(k),
                (k, v) => v.or(k),
            };
        }
    }
    diags.sort_by(|a, b| (a.pos, &a.path, &a.message).cmp(&(b.pos, &b.path, &b.message)));
    diags.dedup();
    diags
}

#[cfg(test)]
mod tests;

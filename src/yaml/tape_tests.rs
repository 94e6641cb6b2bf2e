//! The tape's deserializer reads a document the way `serde_json::Value` does.

use serde::Deserialize;
use serde_json::Value;

use crate::yaml::parse;

/// Deserializes `T` from `text` through the tape and through the JSON value tree.
fn both<T: for<'de> Deserialize<'de> + std::fmt::Debug>(text: &str) -> (String, String) {
    let doc = parse(text).unwrap();
    let tape = T::deserialize(doc.tape.root()).map_err(|e| e.to_string());
    let value = T::deserialize(&doc.value()).map_err(|e| e.to_string());
    (format!("{tape:?}"), format!("{value:?}"))
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read through Debug
struct Shape {
    name: Option<String>,
    port: Option<u16>,
    keepalive: Option<i64>,
    ratio: Option<f64>,
    on: Option<bool>,
    #[serde(default)]
    list: Vec<String>,
    #[serde(default)]
    map: std::collections::BTreeMap<String, Option<i64>>,
    pair: Option<(i64, String)>,
    kind: Option<Kind>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Kind {
    Plain,
    With(i64),
    Fields { a: i64 },
}

#[test]
fn reads_like_the_json_value_tree() {
    for text in [
        "name: a\nport: 51820\nkeepalive: -5\nratio: 1.5\non: true\nlist: [x, 'y']\n",
        "map: { a: 1, b: ~, c: null }\npair: [1, two]\nkind: Plain\n",
        "kind: { With: 3 }\n",
        "kind: { Fields: { a: 2 } }\n",
        "a: &x { name: n }\nname: *x\n",
        "name: &n n1\nlist: [*n, *n]\n",
        "",
        "~\n",
        "name: 'quoted \\u0020'\nport: \"5\"\n",
        "name: \"esc\\tape\"\n",
    ] {
        let (tape, value) = both::<Option<Shape>>(text);
        assert_eq!(tape, value, "{text:?}");
    }
}

#[test]
fn type_errors_read_like_serde_json() {
    for text in [
        "port: 70000\n",
        "port: -1\n",
        "port: x\n",
        "port: 1.5\n",
        "port: [1]\n",
        "port: { a: 1 }\n",
        "name: 5\n",
        "name: true\n",
        "list: x\n",
        "pair: [1]\n",
        "pair: [1, a, 3]\n",
        "kind: Other\n",
        "kind: { With: 1, Plain: ~ }\n",
        "kind: 5\n",
        "on: yes\n",
        "- 1\n",
        "5\n",
    ] {
        let (tape, value) = both::<Shape>(text);
        assert!(tape.starts_with("Err"), "{text:?}: {tape}");
        assert_eq!(tape, value, "{text:?}");
    }
}

#[test]
fn duplicate_and_non_string_keys_are_not_entries() {
    let doc = parse("a: 1\nb: 2\na: 3\n? [k]\n: 4\nc: 5\n").unwrap();
    assert_eq!(doc.problems.len(), 2, "{:?}", doc.problems);
    let map: std::collections::BTreeMap<String, i64> =
        Deserialize::deserialize(doc.tape.root()).unwrap();
    assert_eq!(format!("{map:?}"), r#"{"a": 1, "b": 2, "c": 5}"#);
    assert_eq!(doc.value(), serde_json::json!({"a": 1, "b": 2, "c": 5}));
}

#[test]
fn a_large_mapping_finds_duplicates_past_the_scan() {
    let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
    text.push_str("k3: again\nk39: again\n\"k\\x31\": escaped\n");
    let map = assert_duplicates(&text, &["k3", "k39", "k1"]);
    assert_eq!(map.len(), 40);
    assert_eq!(map["k3"], Value::from(3));
}

/// Parses `text`, checks the duplicate-key problems' paths in order, returns the mapping.
fn assert_duplicates(text: &str, want: &[&str]) -> serde_json::Map<String, Value> {
    let doc = parse(text).unwrap();
    let got: Vec<&str> = doc.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(got, want);
    let Value::Object(map) = doc.value() else {
        panic!("not a mapping")
    };
    map
}

#[test]
fn a_thousand_key_mapping_finds_every_duplicate_across_table_rebuilds() {
    // Duplicates of a scanned key, of keys hashed before and after each rebuild of the
    // table (at 17, 65, 257 keys), and of a duplicate.
    let mut text = String::new();
    let mut want: Vec<String> = Vec::new();
    for i in 0..1_000 {
        text.push_str(&format!("n{i}: {i}\n"));
        if let Some(dup) = match i {
            20 => Some(3),
            64 | 65 => Some(i - 1),
            300 => Some(200),
            999 => Some(0),
            _ => None,
        } {
            text.push_str(&format!("n{dup}: again\n"));
            want.push(format!("n{dup}"));
        }
    }
    text.push_str("n999: last\nn3: third time\n");
    want.extend(["n999".to_string(), "n3".to_string()]);
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    let map = assert_duplicates(&text, &want);
    assert_eq!(map.len(), 1_000);
    assert_eq!(map["n200"], Value::from(200));
}

#[test]
fn plain_scalars_resolve_by_the_core_schema() {
    use super::{Resolved, resolve};
    assert_eq!(resolve("51820", true), Resolved::Unsigned(51820));
    assert_eq!(resolve("-3", true), Resolved::Signed(-3));
    assert_eq!(resolve("1.5", true), Resolved::Float(1.5));
    assert_eq!(resolve("10.0.12.1", true), Resolved::Str("10.0.12.1"));
    assert_eq!(resolve("10.0.12.0/24", true), Resolved::Str("10.0.12.0/24"));
    assert_eq!(resolve("inf", true), Resolved::Str("inf"));
    assert_eq!(resolve("1e999", true), Resolved::Str("1e999"));
    assert_eq!(resolve("~", true), Resolved::Null);
    assert_eq!(resolve("True", true), Resolved::Bool(true));
    assert_eq!(resolve("true", false), Resolved::Str("true"));
    assert_eq!(resolve("51820", false), Resolved::Str("51820"));
}

//! The YAML front end: values, positions, duplicate keys, syntax errors.

use super::*;

#[test]
fn indexes_nested_paths_with_lines() {
    let doc = parse("a:\n  b: [1, x]\n  c:\n    - d: true\n").unwrap();
    assert_eq!(doc.value()["a"]["b"][1], Value::String("x".into()));
    assert_eq!(
        doc.index.value_pos("a.b[1]"),
        Some(Pos { line: 2, col: 10 })
    );
    assert_eq!(
        doc.index.value_pos("a.c[0].d"),
        Some(Pos { line: 4, col: 10 })
    );
    assert_eq!(doc.index.key_pos("a.c"), Some(Pos { line: 3, col: 3 }));
}

#[test]
fn resolves_core_schema_scalars_but_keeps_addresses_as_strings() {
    let doc = parse("p: 51820\nq: '51820'\nr: 10.0.12.0/24\ns: 10.0.12.1\nt: ~\nu: 1.5\n").unwrap();
    assert_eq!(doc.value()["p"], Value::from(51820));
    assert_eq!(doc.value()["q"], Value::from("51820"));
    assert_eq!(doc.value()["r"], Value::from("10.0.12.0/24"));
    assert_eq!(doc.value()["s"], Value::from("10.0.12.1"));
    assert_eq!(doc.value()["t"], Value::Null);
    assert_eq!(doc.value()["u"], Value::from(1.5));
}

#[test]
fn reports_duplicate_keys_with_position() {
    let doc = parse("nodes:\n  a: 1\n  a: 2\n").unwrap();
    assert_eq!(doc.problems.len(), 1);
    assert_eq!(doc.problems[0].path, "nodes.a");
    assert_eq!(doc.problems[0].pos, Pos { line: 3, col: 3 });
    assert_eq!(doc.value()["nodes"]["a"], Value::from(1));
}

#[test]
fn syntax_error_carries_line() {
    let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
    assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
    assert!(err.pos.line >= 2);
}

#[test]
fn aliases_resolve_to_anchored_value() {
    let doc = parse("a: &x [1]\nb: *x\n").unwrap();
    assert_eq!(doc.value()["b"], doc.value()["a"]);
}

#[test]
fn a_collection_as_key_is_reported_and_later_keys_keep_their_positions() {
    let doc = parse("a:\n  ? [x, y]\n  : 1\n  b: 2\nc: 3\n").unwrap();
    assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
    assert_eq!(doc.problems[0].path, "a");
    assert_eq!(doc.value()["a"]["b"], Value::from(2));
    assert_eq!(doc.index.value_pos("a.b"), Some(Pos { line: 4, col: 6 }));
    assert_eq!(doc.index.key_pos("c"), Some(Pos { line: 5, col: 1 }));
}

#[test]
fn values_under_a_duplicate_key_are_not_addressable() {
    let doc = parse("n:\n  a: { x: 1 }\n  a: { x: 2 }\n").unwrap();
    assert_eq!(doc.problems[0].path, "n.a");
    assert_eq!(doc.index.value_pos("n.a.x"), Some(Pos { line: 2, col: 11 }));
    let named = doc.index.keys_named(|k| k == "x");
    assert_eq!(named, vec![("n.a.x".to_string(), Pos { line: 2, col: 8 })]);
}

#[test]
fn a_syntax_error_after_valid_content_is_still_fatal() {
    let err = parse("a: 1\nb: [2\n").unwrap_err();
    assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
}

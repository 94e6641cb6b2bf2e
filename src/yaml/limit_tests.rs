//! The builder's limits: nesting depth and alias expansion stop hostile files with a clear
//! error instead of a stack overflow or an exhausted heap.

use super::*;

/// `a:` followed by `levels` nested flow sequences around `x`.
fn flow_nest(levels: usize) -> String {
    format!("a: {}x{}\n", "[".repeat(levels), "]".repeat(levels))
}

/// `levels` block mappings, each key one indent deeper.
fn block_nest(levels: usize) -> String {
    (0..levels)
        .map(|i| format!("{}k{i}:", "  ".repeat(i)))
        .collect::<Vec<_>>()
        .join("\n")
        + " x\n"
}

#[test]
fn nesting_up_to_the_limit_is_read() {
    // The root mapping is the first level.
    let text = flow_nest(MAX_DEPTH - 1);
    let value = parse(&text).unwrap().value();
    let mut v = &value["a"];
    for _ in 0..MAX_DEPTH - 1 {
        v = &v[0];
    }
    assert_eq!(v, &Value::from("x"));
    assert!(parse(&block_nest(MAX_DEPTH)).is_ok());
}

#[test]
fn one_level_more_is_a_positioned_error() {
    let err = parse(&flow_nest(MAX_DEPTH)).unwrap_err();
    assert!(err.message.contains("nest deeper than 64"), "{err:?}");
    assert_eq!(err.pos, Pos { line: 1, col: 67 });
    let err = parse(&block_nest(MAX_DEPTH + 1)).unwrap_err();
    assert!(err.message.contains("nest deeper than 64"), "{err:?}");
    assert_eq!(err.pos.line, MAX_DEPTH + 1);
    assert!(err.path.starts_with("k0.k1.k2."), "{err:?}");
    assert!(err.path.ends_with(".k63"), "{err:?}");
}

#[test]
fn very_deep_nesting_does_not_overflow_the_stack() {
    // Unclosed and closed, flow and block: each is an error, never a crash.
    for text in [
        format!("a: {}\n", "[".repeat(100_000)),
        flow_nest(100_000),
        format!("a: {}\n", "{b: ".repeat(10_000)),
        block_nest(2_000),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("nest deeper") || err.message.contains("recursion limit"),
            "{err:?}"
        );
    }
}

#[test]
fn an_alias_bomb_stops_at_the_copy_limit() {
    // Ten copies per level: 10^9 scalars if it were expanded.
    let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let items = vec![format!("*l{}", i - 1); 10].join(", ");
        text.push_str(&format!("l{i}: &l{i} [{items}]\n"));
    }
    let err = parse(&text).unwrap_err();
    assert!(
        err.message.contains("aliases copy more than 100000"),
        "{err:?}"
    );
    assert!(err.path.starts_with("l4["), "{err:?}");
    assert_eq!(
        err.hint,
        "nested aliases multiply: write the values out or alias less"
    );
}

#[test]
fn ordinary_alias_reuse_is_within_the_limits() {
    let mut text = String::from("base: &base { keepalive: 25, mtu: 1420, dns: [a, b] }\nnodes:\n");
    for i in 0..1_000 {
        text.push_str(&format!("  n{i}: *base\n"));
    }
    let doc = parse(&text).unwrap();
    assert_eq!(doc.value()["nodes"]["n999"]["dns"][1], Value::from("b"));
}

#[test]
fn aliases_cannot_build_depth_the_text_does_not_show() {
    // Each level wraps the previous anchor once: shallow text, deep value.
    let mut text = String::from("l0: &l0 [x]\n");
    for i in 1..=MAX_DEPTH {
        text.push_str(&format!("l{i}: &l{i} [*l{}]\n", i - 1));
    }
    let err = parse(&text).unwrap_err();
    assert!(
        err.message.contains("alias nests collections deeper"),
        "{err:?}"
    );
    assert_eq!(err.pos.line, MAX_DEPTH);
}

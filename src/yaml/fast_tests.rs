//! The fast path against saphyr: on every document the fast path accepts it must produce
//! exactly saphyr's result (values, every recorded position, problems); everything else
//! must fall back. Fixtures, targeted cases and thousands of generated documents.

use super::*;

/// Whether the fast path took `text`; panics if it did and disagrees with saphyr.
fn check(text: &str) -> bool {
    let slow = saphyr_parse(text);
    let Some(fast) = fast_parse(text) else {
        return false;
    };
    assert!(
        slow.is_ok(),
        "the fast path accepted what saphyr rejects: {slow:?}\n--- text\n{text}"
    );
    assert_eq!(
        fingerprint(&fast),
        fingerprint(&slow),
        "fast path and saphyr differ on\n--- text\n{text}"
    );
    true
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_topology_and_fixtures_match_saphyr() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = std::fs::read_to_string(root.join("topology.yaml")).unwrap();
    assert!(check(&shipped), "the shipped topology takes the fast path");
    let mut files = Vec::new();
    for d in ["tests", "examples", "netns-harness", "packaging"] {
        if root.join(d).is_dir() {
            yaml_files(&root.join(d), &mut files);
        }
    }
    assert!(!files.is_empty());
    let fast = files
        .iter()
        .filter(|f| check(&std::fs::read_to_string(f).unwrap()))
        .count();
    eprintln!("{fast} of {} fixture files took the fast path", files.len());
}

#[test]
fn a_thousand_node_topology_takes_the_fast_path() {
    let mut y = String::from("domain: bench.example.com\nnodes:\n");
    for i in 0..1000 {
        y.push_str(&format!(
            "  spoke{i}:\n    platform: linux\n    planes:\n      wg0: {{ address: 10.64.{}.{}, public_key: \"k{i}=\" }}  # spoke\n",
            i / 256,
            i % 256
        ));
    }
    assert!(check(&y));
}

#[test]
fn targeted_cases_match_saphyr_or_fall_back() {
    let fast = [
        "a: 1\n",
        "a:\n  b: 1\n  c:\n  d: [x, \"y\", {e: f}]\n",
        "g:\n  - h\n  - i: 1\n    j: 2\n  - [a, b]\nk: 2\n",
        "l:\n- m\n- n: 1\n  o: 2\np: 3\n",
        "a:   # c\n  b: 1\n# left\n     # deep\n  c: 2\n",
        "k y: v w  \nq: \"a\\tb\\u00e9\\\\\"\ne: 'it''s'\n",
        "f: { a: \"x\", b: [1, 2] , c: {} }\ng: []\nh: 1:2\ni: http://x#y\n",
        "\"j\": 1\n'k': 2\n",
        "- a\n- b: 1\n- {c: d}\n",
        "a: x, y\nb: -5\nc: ~\nd:\n",
        "n:\n  a: 1\n  a: 2\n",
        "a: zürich # ünïcode\nb: { c: \"日本\" }\n",
        "a:\n  - x\n  -   y   # c\nb:\n",
        "a:\n    deep: 1\n    deeper:\n        x: 1\nb: 1",
        "a : 1\nb:   \nc: 2\n",
        "- a:\n  - x\n  - y: 1\n- b\n",
        "a:\n- b\n- c:\n  - d\n  e: 1\nf: 2\n",
        "x: \"\\x41\\u00e9\\U0001F600\\/\\ \"\n",
    ];
    for t in fast {
        assert!(check(t), "should take the fast path:\n{t}");
    }
    let slow = [
        "",
        "# only a comment\n",
        "---\na: 1\n",
        "a: &x 1\nb: *x\n",
        "a: !tag 1\n",
        "a: |\n  text\n",
        "a: >\n  text\n",
        "a: plain\n  continued\n",
        "a: \"multi\n  line\"\n",
        "a: [1,\n  2]\n",
        "a:\n\tb: 1\n",
        "a: 1\r\n",
        "? a\n: 1\n",
        "a:\n  -\n  - x\n",
        "a: b: c\n",
        "a: [1, 2,]\n",
        "a: 1\n  b: 2\n",
        "a:\n    b: 1\n  c: 2\n",
        "a: [1, 2\nb: 3\n",
        "just a scalar\n",
        "a: \"\\N\"\n",
        "a: 1\n...\n",
        "- - x\n",
        "a: \"x\" : 1\n",
    ];
    for t in slow {
        assert!(!check(t), "should fall back to saphyr:\n{t}");
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Picks from `from`, but in a "tidy" document (`odd` = 0) only from its first `tidy`
/// entries, so most generated documents stay inside the fast path's subset.
struct Gen {
    r: Rng,
    /// Chance in 100 of an entry from the whole list.
    odd: usize,
}

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.r.below(n)
    }

    fn pick<'a>(&mut self, from: &[&'a str], tidy: usize) -> &'a str {
        if self.r.below(100) < self.odd {
            self.r.pick(from)
        } else {
            self.r.pick(&from[..tidy])
        }
    }

    fn key(&mut self) -> &'static str {
        self.pick(KEYS, TIDY_KEYS)
    }

    fn scalar(&mut self) -> &'static str {
        self.pick(SCALARS, TIDY_SCALARS)
    }
}

const TIDY_KEYS: usize = 17;
const TIDY_SCALARS: usize = 33;

const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "k y",
    "x-1",
    "10.0.0.1",
    "true",
    "-x",
    "a:b",
    "\"q\"",
    "'s'",
    "é",
    "a#b",
    "\"a\\\"b\"",
    "'it''s'",
    "1",
    "~", // tidy above
    "a, b",
    "x[1]",
    "? q",
    "&k a",
    "!t k",
    "@k",
    "%k",
];
const SCALARS: &[&str] = &[
    // tidy: inside the fast path's subset
    "x",
    "hello world",
    "51820",
    "-5",
    "1.5",
    "~",
    "null",
    "true",
    "10.0.12.1/24",
    "203.0.113.10:51820",
    "a#b",
    "a, b",
    "http://x/y",
    "ü-zürich",
    "x  ",
    "x # note",
    "x #",
    "\"a\\tb\"",
    "\"\\u00e9\\x41\\U0001F600\"",
    "\"a\\\"b\"",
    "\"\"",
    "''",
    "'it''s'",
    "'a\"b'",
    "\"x\" # c",
    "[]",
    "{}",
    "[a, b]",
    "[ a , \"b\" ]",
    "{ a: 1, b: [x, y] }",
    "{ a: {b: c} }",
    "[1, [2, [3]]]",
    "{ \"k\": 'v' }",
    // odd: outside the subset or invalid
    "x [y]",
    "a: b",
    "-",
    "- x",
    "&a x",
    "*a",
    "!t x",
    "|",
    ">",
    "%x",
    "@x",
    "`x",
    "\"\\N\"",
    "\"\\ud800\"",
    "\"open",
    "\"x\"#c",
    "\"x\" y",
    "{a: 1}",
    "[a, b,]",
    "{ a: }",
    "[a: b]",
    "[a #c]",
    "{ a: x:y }",
    "{ a: 1 } # c",
    "{ a: 1 }x",
    "[a, b",
    "{a:1}",
    "[ -1, -x, - ]",
    "{ a: 1, a: 2 }",
    "{ ? a }",
];

fn node(g: &mut Gen, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    if depth > 3 || g.below(3) == 0 {
        // a block sequence
        let step = [2, 2, 4, 1][g.below(4)];
        for _ in 0..1 + g.below(3) {
            out.push_str(&pad);
            out.push('-');
            match g.below(8) {
                0 | 1 if depth < 4 => {
                    out.push(' ');
                    out.push_str(g.key());
                    out.push_str(": ");
                    out.push_str(g.scalar());
                    out.push('\n');
                    if g.below(2) == 0 {
                        out.push_str(&" ".repeat(indent + 2));
                        out.push_str(g.key());
                        out.push_str(": ");
                        out.push_str(g.scalar());
                        out.push('\n');
                    }
                }
                2 if g.odd > 0 => out.push('\n'),
                3 if depth < 4 && g.odd > 0 => {
                    out.push('\n');
                    node(g, out, indent + step, depth + 1);
                }
                _ => {
                    out.push(' ');
                    out.push_str(g.scalar());
                    out.push('\n');
                }
            }
        }
        return;
    }
    for _ in 0..1 + g.below(4) {
        if g.below(8) == 0 {
            out.push_str(&" ".repeat(g.below(6)));
            out.push_str("# note\n");
        }
        if g.below(10) == 0 {
            out.push('\n');
        }
        out.push_str(&pad);
        out.push_str(g.key());
        out.push(':');
        match g.below(7) {
            0 | 1 => {
                out.push(' ');
                out.push_str(g.scalar());
                out.push('\n');
            }
            2 => out.push('\n'), // null
            3 => {
                out.push_str(if g.below(2) == 0 { "  # c\n" } else { "\n" });
                // a nested block, sometimes an indentless sequence or a bad indent
                let choices = [indent + 2, indent + 4, indent + 1, indent];
                let deeper = choices[g.below(if g.odd > 0 { 4 } else { 3 })];
                node(g, out, deeper, depth + 1);
            }
            _ => {
                out.push('\n');
                node(g, out, indent + 2, depth + 1);
            }
        }
        if g.odd > 0 && g.below(25) == 0 {
            out.push_str(&" ".repeat(indent + 4));
            out.push_str("continued\n");
        }
    }
}

#[test]
fn generated_documents_match_saphyr_or_fall_back() {
    let mut g = Gen {
        r: Rng(0x9e37_79b9_7f4a_7c15),
        odd: 0,
    };
    let total = 6_000;
    let mut fast = [0usize; 3];
    for i in 0..total {
        // a third tidy, a third with a little oddness, a third with a lot
        g.odd = [0, 3, 30][i % 3];
        let mut doc = String::new();
        node(&mut g, &mut doc, 0, 0);
        if g.below(4) == 0 {
            doc.pop(); // no final newline
        }
        if check(&doc) {
            fast[i % 3] += 1;
        }
    }
    eprintln!(
        "fast path taken by tidy / slightly odd / odd documents: {fast:?} of {} each",
        total / 3
    );
    assert!(
        fast[0] > total / 3 * 9 / 10,
        "tidy documents must take the fast path ({fast:?})"
    );
    assert!(fast[2] < total / 3, "odd documents must also fall back");
}

#[test]
fn keys_near_saphyrs_1024_character_limit_fall_back() {
    // Found by the fuzz target (fuzz/): saphyr refuses implicit keys of 1,024 characters.
    for n in [1_000, 1_023, 1_024, 1_100] {
        for q in ["'", "\"", ""] {
            let key = format!("{q}{}{q}", "k".repeat(n));
            for text in [
                format!("{key}: 1\n"),
                format!("a: {{ {key}: 1 }}\n"),
                format!("- {key}: 1\n"),
            ] {
                assert_ne!(fast_path_agrees(&text), Some(false), "{n} {q}: {text}");
            }
        }
    }
    assert_eq!(
        fast_path_agrees(&format!("{}: 1\n", "k".repeat(999))),
        Some(true)
    );
}

#[test]
fn a_dash_before_a_flow_indicator_falls_back() {
    // Found by the fuzz target: saphyr refuses a plain scalar's `-` before `,[]{}` in a flow.
    for text in [
        "a: [-]\n",
        "a: [b -]\n",
        "a: [10.42.60,spoke17 -, 24  ]\n",
        "a: {b: c -}\n",
        "a: [x, -}]\n",
        "a: [b-]\n",
    ] {
        assert_ne!(fast_path_agrees(text), Some(false), "{text}");
    }
    for text in ["a: [b - ]\n", "a: [b -x]\n", "a: x -\n"] {
        assert_eq!(fast_path_agrees(text), Some(true), "{text}");
    }
}

#!/usr/bin/env python3
"""rsc_commands.py - list the commands of a RouterOS .rsc script as JSON, using routeros-lsp's own parser.

Purpose
=======
An independent oracle for fabric's RouterOS renderer. The Rust side renders a script, writes it to a file and asks this tool
what RouterOS would see in it: which commands, in which order, with which *decoded* argument values. A hostile name from YAML
that breaks out of its quotes shows up here as an extra command, a parse error, an interpolation marker or a value that differs
from the input.

The parsing is done by PyPI ``routeros-lsp`` 0.2.3 (MIT, pure Python; ``pip install routeros-lsp``), whose scannerless parser
was measured against RouterOS 7.21.4 ``/import dry-run``. This script adds no lexing of its own: it walks the syntax tree
(``routeros_lsp.syntax.parser.parse``) and uses the package's command database (``routeros_lsp.checker.commands``) only to split
the leading words of a line into menu path and command. Nothing else is needed besides the Python 3.10+ standard library.

Usage
=====
    python3 tests/tools/rsc_commands.py FILE.rsc            # JSON on stdout; FILE may be "-" for standard input
    python3 tests/tools/rsc_commands.py --check FILE.rsc    # also run routeros-lsp's variable and command-tree checks
    python3 tests/tools/rsc_commands.py --self-test         # runs tests/tools/selftest.py (round-trip + injection tests)

Options:
    --check                  add routeros-lsp's variable/schema findings (the same as ``routeros-lsp check``); findings of
                             severity "error" make the run fail. v6-only parameters come out as warnings and do not fail.
    --strict                 with --check, warnings fail too.
    --allow-syntax-warnings  syntax findings of severity "warning" (stray-backslash, stray-closer, trailing-comment) do not
                             fail the run. By default EVERY parser finding fails it: a generated script must be clean.
    --compact                one-line JSON instead of indented.

Exit status: 0 clean; 1 the parser (or, with --check, the checker) reported a failing finding - the JSON is still printed on
stdout and the findings are also written to stderr as ``FILE:LINE:COL: severity: message [rule]``; 2 usage or I/O error.

How the Rust side uses it (future ``tests/hostile_names.rs``)
=============================================================
    let out = std::process::Command::new("python3")
        .args(["tests/tools/rsc_commands.py", path.to_str().unwrap()])
        .output()?;                                  // skip the test if python3/routeros-lsp is missing (exit 2 + stderr)
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let cmds = doc["commands"].as_array().unwrap();
    assert_eq!(cmds.len(), expected);                // no injected command
    let c = cmds.iter().find(|c| c["command"] == "/system identity set").unwrap();
    assert_eq!(c["args"]["name"], serde_json::Value::String(hostile.clone()));   // decoded value == input
    assert!(c["non_literal_args"].as_array().unwrap().is_empty());              // no interpolation

Output format
=============
The input is read as BYTES and handed to the parser decoded as Latin-1, so every character the parser sees is exactly one byte
(RouterOS strings are byte strings). A decoded string value is therefore a byte string, which is then decoded as UTF-8: ``\\C3\\A9``
and a raw UTF-8 ``é`` inside quotes both come out as ``"é"``. routeros-lsp's own CLI instead decodes the file as UTF-8 (and refuses
a file that is not UTF-8), so with it ``\\C3\\A9`` is the two code points U+00C3 U+00A9; this tool undoes that difference.

    {
      "file": "x.rsc",
      "ok": true,                       # false when the run fails (exit 1)
      "ascii_only": true,               # the file has no byte >= 0x80 (fabric's escaper guarantees that)
      "utf8_valid": true,               # routeros-lsp check refuses files that are not UTF-8
      "diagnostics": [ {"rule": "syntax/invalid-escape", "severity": "error", "message": "...",
                        "line": 3, "column": 12, "end_line": 3, "end_column": 14} ],
      "commands": [ COMMAND, ... ]       # flat, in source order, including commands inside { } / do= / else= bodies
    }

    COMMAND = {
      "index": 0,                        # position in "commands"
      "line": 5, "end_line": 7, "column": 3,   # 1-based; column counts bytes
      "depth": 1,                        # how many code blocks enclose it (0 = top level)
      "parent": 3 | null,                # index of the command whose do=/else=/... block holds it; null at top level and
                                         # for a bare "{ ... }" wrapper (which is not itself listed)
      "context": "top" | "block" | "do" | "else" | "on-error" | "command" | "in" | "bracket",
                                         # innermost enclosing construct: "block" = a bare { } line or the block after a path
                                         # ("/ip { ... }"), "bracket" = a line that is only [ ... ], otherwise the parameter
                                         # whose { } holds it ("command" = the :do { } / :retry { } body, "in" = :onerror in=)
      "prefix": "/" | ":" | null,        # as written
      "path": "/interface sstp-client",  # absolute menu path with full names ("" for global commands at the root)
      "verb": "add",                     # the command; null for a line that is only a menu path ("/ip route")
      "command": "/interface sstp-client add",   # path + " " + verb, or ":" + verb for a root command (":if", ":local")
      "resolved": true,                  # false: the command database did not know the words, path/verb were guessed as
                                         # "last leading word is the verb" (e.g. a v6-only menu)
      "args": {"name": VALUE, ...},      # name=value arguments before "where", keyed by the name AS WRITTEN
      "raw": {"name": "\\"sstp-chr01\\"", ...},   # the exact source text of each value (to check quoting)
      "positional": [VALUE, ...],        # unnamed arguments in order ("fabric-ca" in "/certificate sign fabric-ca")
      "where": [VALUE, ...],             # only after a "where" word: the condition, element by element
      "non_literal_args": ["password"],  # names (or "#0", "#1" for positionals, "where") whose value is not a plain literal
      "duplicate_args": ["name"],        # only when a name is given twice
      "source": "/interface sstp-client add name=\\"sstp-chr01\\" ..."   # source text of the command line
    }

    VALUE is one of
      "text"                                            a literal: a quoted string without interpolation (escapes resolved,
                                                        bytes decoded as UTF-8) or a bare word
      null                                              "name=" with nothing after it
      {"type": "bytes", "hex": "ff00", "lossy": "\\ufffd\\u0000"}   a literal whose bytes are not valid UTF-8
      {"type": "interpolated", "parts": [PART, ...], "source": "..."}  a quoted string containing $var, $(...) or $[...];
                                                        PART is literal text (string or bytes object) or one of the
                                                        var/expr/subst objects below
      {"type": "var", "name": "x", "quoted": false, "source": "$x"}
      {"type": "subst", "commands": [NESTED, ...], "source": "[find where name=\\"x\\"]"}
                                                        command substitution; NESTED is a COMMAND without index/depth/parent
                                                        (its own blocks are nested inline: {"type": "block", "nested": [...]})
      {"type": "expr", "source": "(...)", "substs": [subst, ...], "vars": ["x", ...]}
      {"type": "block", "commands": [4, 5, 6]}          a code block; the numbers index "commands" (inside a substitution:
                                                        {"type": "block", "nested": [NESTED, ...]})
      {"type": "brace", "source": "{...}"}              braces that may be an array ({1;2}, in= of :foreach, ...)
      {"type": "operator", "op": "="}                   a loose "=" (only in where conditions)
      {"type": "pair", "name": "name", "value": VALUE}  name=value inside a where condition
      {"type": "word", "text": "and"}                   a bare word inside a where condition

routeros-lsp behaviour this tool relies on (measured with 0.2.3; selftest.py asserts it)
======================================================================================
* ``\\"`` ``\\\\`` ``\\n`` ``\\r`` ``\\t`` ``\\$`` ``\\?`` ``\\_`` (space) ``\\a`` ``\\b`` ``\\f`` (0x0C) ``\\v`` and ``\\XX`` with two UPPERCASE
  hex digits are resolved; ``\\3f`` or ``\\q`` is syntax/invalid-escape (error). ``\\?`` is accepted and means "?".
* A backslash + line break inside a string removes the break and the next line's leading spaces/tabs.
* A raw line break, TAB or CR inside quotes is NOT an error: the string simply continues (the character is kept).
  So a naively quoted newline is not detected by the parser; only the escaper tests catch it.
* ``$`` inside quotes must be followed by an alphanumeric name, ``(`` or ``[``; anything else is syntax/bad-interpolation.
* Raw bytes >= 0x80 are accepted inside quotes and comments, rejected elsewhere (syntax/invalid-character).
* Parser "warnings" (stray-backslash, stray-closer, trailing-comment) still describe broken generator output; by default they
  fail the run here.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
from typing import Any

try:
    from routeros_lsp.analyze import analyze, bundled_schema
    from routeros_lsp.checker.commands import check_commands
    from routeros_lsp.rules import RULES
    from routeros_lsp.syntax.ast import (
        Binary,
        Brace,
        CommandPart,
        EscapePart,
        ExpressionPart,
        Group,
        Named,
        Operator,
        Statement,
        StringLit,
        Subst,
        TextPart,
        Unary,
        Variable,
        VariablePart,
        Word,
    )
    from routeros_lsp.syntax.parser import parse
except ImportError as _error:  # pragma: no cover - reported as a usage error
    sys.stderr.write(f"rsc_commands.py: routeros-lsp is not installed ({_error}); run: pip install routeros-lsp\n")
    sys.exit(2)

#: Parameters whose { } always hold code, for any command (BLOCK_PARAMS of the parser plus "command" of :do / :retry).
CODE_PARAMS = frozenset({"do", "else", "on-error", "command"})
#: Commands whose first unnamed { } argument is code (it fills their "command" parameter).
CODE_POSITIONAL = frozenset({"do", "retry"})

BOM = b"\xef\xbb\xbf"


def _bytes_value(chars: str) -> Any:
    """A parser value (one character per byte) as a JSON value: text when it is UTF-8, a bytes object otherwise."""
    raw = chars.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"type": "bytes", "hex": raw.hex(), "lossy": raw.decode("utf-8", "replace")}


def _segments(text: str) -> list[tuple[str, int]]:
    """The names in a word such as ``ip/address`` or ``..add`` with their offsets (as routeros-lsp's checker splits them)."""
    out: list[tuple[str, int]] = []
    offset = 0
    for part in text.split("/"):
        at = offset
        rest = part
        while rest.startswith(".."):
            out.append(("..", at))
            rest = rest[2:]
            at += 2
        if rest != "":
            out.append((rest, at))
        offset += len(part) + 1
    return out


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str)


class Lister:
    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self.parsed = parse(text)
        schema = bundled_schema()
        self.analysis = check_commands(self.parsed.script, schema) if schema is not None else None
        self.resolutions: dict[int, Any] = {}
        if self.analysis is not None:
            for r in self.analysis.resolutions:
                if r.kind in ("menu", "command"):
                    self.resolutions.setdefault(r.start, r)
        self.flat: list[dict[str, Any]] = []

    # -- positions ---------------------------------------------------------------------------------------------------
    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1

    def src(self, node: Any) -> str:
        """Source text of a node (bytes decoded as UTF-8, invalid sequences replaced)."""
        return self.text[node.start : node.end].encode("latin-1").decode("utf-8", "replace")

    # -- the walk ------------------------------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        self.statements(self.parsed.script.statements, depth=0, parent=None, context="top", flat=True)
        return self.flat

    def statements(self, items: list[Statement], depth: int, parent: int | None, context: str, flat: bool) -> list[Any]:
        """Flat mode appends to self.flat and returns the indexes; nested mode returns the command objects."""
        out: list[Any] = []
        for st in items:
            out.extend(self.statement(st, depth, parent, context, flat))
        return out

    def statement(self, st: Statement, depth: int, parent: int | None, context: str, flat: bool) -> list[Any]:
        els = st.elements
        # A line that is only "{ ... }" or only "[ ... ]": its body runs in place. The wrapper itself is not a command.
        if st.prefix is None and len(els) == 1 and isinstance(els[0], (Brace, Subst)):
            inner = "block" if isinstance(els[0], Brace) else "bracket"
            return self.statements(els[0].body, depth + 1, parent, inner, flat)

        cmd: dict[str, Any] = {}
        index = None
        if flat:
            index = len(self.flat)
            cmd["index"] = index
            self.flat.append(cmd)
        line, column = self.position(st.start)
        end_line, _ = self.position(max(st.start, st.end - 1))
        cmd.update({"line": line, "end_line": end_line, "column": column})
        if flat:
            cmd.update({"depth": depth, "parent": parent, "context": context})
        menu, verb, resolved, rest = self.head(st)
        cmd["prefix"] = st.prefix
        cmd["path"] = ("/" + " ".join(menu)) if menu else ""
        cmd["verb"] = verb
        if verb is None:
            cmd["command"] = cmd["path"] or "/"
        else:
            cmd["command"] = f"{cmd['path']} {verb}" if menu else f":{verb}"
        cmd["resolved"] = resolved

        args: dict[str, Any] = {}
        raw: dict[str, str] = {}
        positional: list[Any] = []
        where: list[Any] | None = None
        non_literal: list[str] = []
        duplicates: list[str] = []
        child_depth = depth + 1
        child_parent = index if flat else None

        def code(brace: Brace, ctx: str) -> Any:
            if flat:
                return {"type": "block", "commands": self.statements(brace.body, child_depth, child_parent, ctx, True)}
            return {"type": "block", "nested": self.statements(brace.body, 0, None, ctx, False)}

        for el in rest:
            if where is not None:
                where.append(self.where_element(el))
                continue
            if isinstance(el, Word) and el.text == "where":
                where = []
                continue
            if isinstance(el, Named):
                key = el.name.text if isinstance(el.name, Word) else _bytes_value(el.name.value)
                if not isinstance(key, str):
                    key = key["lossy"]
                if el.value is None:
                    value = None
                elif isinstance(el.value, Brace) and (
                    el.value.role == "block" or key in CODE_PARAMS or (key == "in" and verb == "onerror")
                ):
                    value = code(el.value, key)
                else:
                    value = self.value(el.value)
                if key in args:
                    duplicates.append(key)
                args[key] = value
                raw[key] = self.src(el.value) if el.value is not None else ""
                if not _is_literal(value) and not (isinstance(value, dict) and value.get("type") == "block"):
                    non_literal.append(key)
            else:
                if isinstance(el, Brace) and (
                    el.role == "block" or verb is None or (verb in CODE_POSITIONAL and not positional)
                ):
                    value = code(el, "block" if verb is None else "command")
                else:
                    value = self.value(el)
                if not _is_literal(value) and not (isinstance(value, dict) and value.get("type") == "block"):
                    non_literal.append(f"#{len(positional)}")
                positional.append(value)

        cmd["args"] = args
        cmd["raw"] = raw
        cmd["positional"] = positional
        if where is not None:
            cmd["where"] = where
            if any(not _is_literal(w) and w.get("type") not in ("pair", "word", "operator") for w in where) or any(
                isinstance(w, dict) and w.get("type") == "pair" and not _is_literal(w["value"]) for w in where
            ):
                non_literal.append("where")
        cmd["non_literal_args"] = non_literal
        if duplicates:
            cmd["duplicate_args"] = duplicates
        cmd["source"] = self.src(st)
        return [index] if flat else [cmd]

    def head(self, st: Statement) -> tuple[tuple[str, ...], str | None, bool, list[Any]]:
        """Splits the leading words into (menu path, command, resolved?, remaining elements)."""
        els = st.elements
        lead = 0
        while lead < len(els) and isinstance(els[lead], Word):
            lead += 1
        # Resolution by the command database (the same walk routeros-lsp's checker does).
        menu: tuple[str, ...] = ()
        all_menus = lead > 0
        for i in range(lead):
            w = els[i]
            for text, offset in _segments(w.text):
                if text == "..":
                    continue
                r = self.resolutions.get(w.start + offset)
                if r is None:
                    all_menus = False
                    break
                if r.kind == "command":
                    return tuple(r.path[:-1]), r.path[-1], True, list(els[i + 1 :])
                menu = tuple(r.path)
            if not all_menus:
                break
        if all_menus:
            # a line that is only a menu path ("/ip route"), possibly followed by a block ("/ip { ... }")
            return menu, None, True, list(els[lead:])
        if st.prefix == "/" and not els:
            return (), None, True, []
        # Fallback: the last leading word is the command; earlier words (split on "/") are the path.
        base: tuple[str, ...] = ()
        if st.prefix is None and self.analysis is not None:
            ctx = self.analysis.contexts.get(st)
            base = tuple(ctx) if ctx else ()
        words: list[str] = []
        for w in els[:lead]:
            words.extend(p for p in w.text.split("/") if p)
        if not words:
            return base, None, False, list(els)
        return (*base, *words[:-1]), words[-1], False, list(els[lead:])

    # -- values --------------------------------------------------------------------------------------------------------
    def value(self, el: Any) -> Any:
        if isinstance(el, Word):
            return _bytes_value(el.text)
        if isinstance(el, StringLit):
            return self.string(el)
        if isinstance(el, Variable):
            return {"type": "var", "name": _plain(_bytes_value(el.name)), "quoted": el.quoted, "source": self.src(el)}
        if isinstance(el, Subst):
            return {"type": "subst", "commands": self.statements(el.body, 0, None, "subst", False), "source": self.src(el)}
        if isinstance(el, Group):
            return self.expr(el)
        if isinstance(el, Brace):
            return {"type": "brace", "source": self.src(el)}
        if isinstance(el, Operator):
            return {"type": "operator", "op": el.op}
        if isinstance(el, Named):  # only reached from where_element
            return {"type": "pair", "name": _plain(_bytes_value(el.name.text if isinstance(el.name, Word) else el.name.value)),
                    "value": None if el.value is None else self.value(el.value)}
        return {"type": getattr(el, "kind", "unknown"), "source": self.src(el)}

    def where_element(self, el: Any) -> Any:
        if isinstance(el, Word):
            return {"type": "word", "text": _plain(_bytes_value(el.text))}
        return self.value(el)

    def string(self, s: StringLit) -> Any:
        if all(isinstance(p, (TextPart, EscapePart)) for p in s.parts):
            return _bytes_value(s.value)
        parts: list[Any] = []
        pending: list[str] = []
        for p in s.parts:
            if isinstance(p, (TextPart, EscapePart)):
                pending.append(p.text)
                continue
            if pending:
                parts.append(_bytes_value("".join(pending)))
                pending = []
            if isinstance(p, VariablePart):
                parts.append({"type": "var", "name": p.name, "quoted": False, "source": self.src(p)})
            elif isinstance(p, ExpressionPart):
                parts.append(self.expr(p.group))
            elif isinstance(p, CommandPart):
                parts.append({"type": "subst", "commands": self.statements(p.subst.body, 0, None, "subst", False),
                              "source": self.src(p)})
        if pending:
            parts.append(_bytes_value("".join(pending)))
        return {"type": "interpolated", "parts": parts, "source": self.src(s)}

    def expr(self, g: Group) -> dict[str, Any]:
        substs: list[Any] = []
        variables: list[str] = []
        stack: list[Any] = list(reversed(g.exprs))
        while stack:
            e = stack.pop()
            if isinstance(e, Binary):
                stack.extend([e.right, e.left])
            elif isinstance(e, Unary):
                stack.append(e.operand)
            elif isinstance(e, Group):
                stack.extend(reversed(e.exprs))
            elif isinstance(e, Subst):
                substs.append(self.value(e))
            elif isinstance(e, Variable):
                variables.append(_plain(_bytes_value(e.name)))
            elif isinstance(e, StringLit):
                for p in e.parts:
                    if isinstance(p, VariablePart):
                        variables.append(p.name)
                    elif isinstance(p, CommandPart):
                        substs.append(self.value(p.subst))
                    elif isinstance(p, ExpressionPart):
                        stack.append(p.group)
        return {"type": "expr", "source": self.src(g), "substs": substs, "vars": variables}


def _plain(v: Any) -> str:
    return v if isinstance(v, str) else v["lossy"]


# -- entry points --------------------------------------------------------------------------------------------------------


def _diag(lister: Lister, rule: str, severity: str, message: str, start: int, end: int) -> dict[str, Any]:
    line, column = lister.position(start)
    end_line, end_column = lister.position(end)
    return {"rule": rule, "severity": severity, "message": message, "line": line, "column": column,
            "end_line": end_line, "end_column": end_column}


def list_commands(data: bytes, *, check: bool = False, strict: bool = False, allow_syntax_warnings: bool = False,
                  name: str = "<input>") -> dict[str, Any]:
    """The library entry point: bytes of a .rsc file -> the JSON document described in the module docstring."""
    has_bom = data.startswith(BOM)
    text = data[len(BOM):].decode("latin-1") if has_bom else data.decode("latin-1")
    lister = Lister(text)
    commands = lister.run()
    diagnostics: list[dict[str, Any]] = []
    failing = False
    if has_bom:
        diagnostics.append(_diag(lister, "syntax/bom", "error", "The file starts with a UTF-8 byte order mark, which RouterOS "
                                 "rejects.", 0, 0))
        failing = True
    for d in lister.parsed.diagnostics:
        severity = RULES[d.rule].severity if d.rule in RULES else "error"
        diagnostics.append(_diag(lister, d.rule, severity, d.message, d.start, d.end))
        if severity == "error" or not allow_syntax_warnings:
            failing = True
    if check:
        for f in analyze(text).findings:
            if f.rule.startswith("syntax/"):
                continue  # already reported, straight from the parser
            diagnostics.append(_diag(lister, f.rule, f.severity, f.message, f.start, f.end))
            if f.severity == "error" or (strict and f.severity == "warning"):
                failing = True
    diagnostics.sort(key=lambda d: (d["line"], d["column"]))
    try:
        data.decode("utf-8")
        utf8_valid = True
    except UnicodeDecodeError:
        utf8_valid = False
    return {
        "file": name,
        "ok": not failing,
        "ascii_only": all(b < 0x80 for b in data),
        "utf8_valid": utf8_valid,
        "diagnostics": diagnostics,
        "commands": commands,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rsc_commands.py", description="List the commands of a RouterOS .rsc file as JSON "
                                 "(parser: routeros-lsp). See the header of this file for the format.")
    ap.add_argument("file", nargs="?", help=".rsc file, or - for standard input")
    ap.add_argument("--check", action="store_true", help="also run routeros-lsp's variable and command-tree checks")
    ap.add_argument("--strict", action="store_true", help="with --check, warnings fail too")
    ap.add_argument("--allow-syntax-warnings", action="store_true", help="parser warnings do not fail the run")
    ap.add_argument("--compact", action="store_true", help="one-line JSON")
    ap.add_argument("--self-test", action="store_true", help="run tests/tools/selftest.py")
    args = ap.parse_args(argv)
    if args.self_test:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import selftest  # noqa: PLC0415

        return selftest.main()
    if not args.file:
        ap.print_usage(sys.stderr)
        sys.stderr.write("rsc_commands.py: name a .rsc file, - for standard input, or --self-test\n")
        return 2
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
    except OSError as error:
        sys.stderr.write(f"rsc_commands.py: {args.file}: {error.strerror or error}\n")
        return 2
    name = "<stdin>" if args.file == "-" else args.file
    doc = list_commands(data, check=args.check, strict=args.strict, allow_syntax_warnings=args.allow_syntax_warnings,
                        name=name)
    sys.stdout.write(json.dumps(doc, indent=None if args.compact else 2, ensure_ascii=True) + "\n")
    for d in doc["diagnostics"]:
        sys.stderr.write(f"{name}:{d['line']}:{d['column']}: {d['severity']}: {d['message']} [{d['rule']}]\n")
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

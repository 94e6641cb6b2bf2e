#!/usr/bin/env python3
"""Self-test for rsc_commands.py and ros_quote_reference.py. No pytest: ``python3 tests/tools/selftest.py`` (or
``python3 tests/tools/rsc_commands.py --self-test``). Exit 0 when every check passes, 1 otherwise.

What it proves
--------------
1. The routeros-lsp parser behaves the way rsc_commands.py relies on (escape table, \\? and \\XX, raw bytes, line joins).
2. ros_quote matches the table in routeros.md §3.2.
3. Round trip: for every hostile string, ``/system identity set name=<ros_quote(s)>`` parses to exactly ONE command whose decoded
   name is ``s`` (UTF-8 bytes decoded back), with no interpolation and no diagnostic; a file holding all of them - as plain lines,
   inside a ``{ }`` wrapper, inside ``:if ... do={ } else={ }`` and joined with ``;`` - yields exactly the intended commands.
   The same files pass ``routeros-lsp check`` (its own CLI) and rsc_commands.py's CLI.
4. Nested scripts (netwatch ``down-script``) quoted twice decode back to the inner script, which again holds one command.
5. Fuzzing with a fixed seed over a hostile alphabet.
6. Detection: naive quoting ("..." around raw text) and two broken escapers produce an extra command, an error, an interpolation
   marker or a changed value, and the tool reports it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from ros_quote_reference import ros_quote, ros_quote_bytes  # noqa: E402
from rsc_commands import list_commands  # noqa: E402

HOSTILE = [
    "",
    '"',
    "\\",
    '\\"',
    "$x",
    "$",
    "$$",
    '$"x"',
    "$(/system reboot)",
    "$[/system reset-configuration]",
    'x"; /system reboot; :put "',
    'x"; /system reboot',
    'x\\"; /system reboot; :put \\"',
    "?",
    "q?",
    "\\?",
    "\\3F",
    "\\3f",
    ";",
    "a;b",
    "line1\nline2",
    "\n/system reboot\n",
    "cr\rhere",
    "\r\n",
    "tab\there",
    "café",
    "日本",
    "emoji \U0001F600",
    "\x00\x01\x7f",
    "\x1b[31mred",
    "\x0b\x0c\x08\x07",
    "\\\n  cont",
    "trailing\\",
    "{}[]#=",
    "semi;colon [br] {cu} #hash",
    "# not a comment",
    "'single'",
    "`back`",
    "name=value",
    "where name=x",
    "a b  c",
    "  leading and trailing  ",
    "\\_",
    "\\n",
    "\\$x",
    "]",
    "}",
    ")",
    "[/system reboot]",
    "{/system reboot}",
    "(/system reboot)",
    "x" * 300,
    "".join(chr(c) for c in range(1, 128)),
    "\u00a0\u2028\u2029\ufeff",
    "\x85",
]

FAILURES: list[str] = []
PASSES = 0


def check(cond: bool, what: str) -> bool:
    global PASSES
    if cond:
        PASSES += 1
    else:
        FAILURES.append(what)
    return cond


def doc_of(script: str | bytes, **kw) -> dict:
    return list_commands(script.encode("utf-8") if isinstance(script, str) else script, **kw)


def identity_line(quoted: str) -> str:
    return f"/system identity set name={quoted}"


# ----------------------------------------------------------------------------------------------------------------------
# 1. parser behaviour probes


def probes() -> None:
    def one_value(literal: str):
        d = doc_of(f":put {literal}\n")
        return d, (d["commands"][0]["positional"][0] if d["commands"] and d["commands"][0]["positional"] else None)

    table = {
        r'"\""': '"', r'"\\"': "\\", r'"\n"': "\n", r'"\r"': "\r", r'"\t"': "\t", r'"\$"': "$", r'"\?"': "?",
        r'"\_"': " ", r'"\a"': "\x07", r'"\b"': "\b", r'"\f"': "\x0c", r'"\v"': "\x0b", r'"\3F"': "?", r'"\41"': "A",
        r'"\00"': "\x00", r'"\7F"': "\x7f", r'"\C3\A9"': "é", '"é"': "é", r'"\E6\97\A5"': "日", '"a\tb"': "a\tb",
        '"a\nb"': "a\nb", '"a\\\n   b"': "ab", '"a\\\r\n\tb"': "ab", '"[x] {y} ;#="': "[x] {y} ;#=",
    }
    for literal, expected in table.items():
        d, v = one_value(literal)
        check(d["ok"] and v == expected, f"probe: {literal!r} should decode to {expected!r}, got {v!r} {d['diagnostics']}")
    for bad, rule in {r'"\3f"': "syntax/invalid-escape", r'"\q"': "syntax/invalid-escape", '"a$ b"': "syntax/bad-interpolation",
                      '"a$"': "syntax/bad-interpolation", '"open': "syntax/unterminated-string", "é": "syntax/invalid-character",
                      '"x" # c': "syntax/trailing-comment"}.items():
        d, _ = one_value(bad)
        rules = [x["rule"] for x in d["diagnostics"]]
        check(not d["ok"] and rule in rules, f"probe: {bad!r} should fail with {rule}, got {rules}")
    # \XX escapes produce single bytes; a lone \FF is reported as a bytes object, not as text
    d, v = one_value(r'"\FF"')
    check(d["ok"] and v == {"type": "bytes", "hex": "ff", "lossy": "\ufffd"}, f"probe: \\FF should give a bytes value, got {v!r}")
    # interpolation markers
    _, v = one_value('"a$x"')
    check(isinstance(v, dict) and v["type"] == "interpolated" and v["parts"][1]["type"] == "var", f"probe: $x marker {v!r}")
    _, v = one_value('"a$[/system reboot]"')
    check(isinstance(v, dict) and v["parts"][1]["type"] == "subst"
          and v["parts"][1]["commands"][0]["command"] == "/system reboot", f"probe: $[...] marker {v!r}")
    _, v = one_value('"a$(1+2)"')
    check(isinstance(v, dict) and v["parts"][1]["type"] == "expr", f"probe: $(...) marker {v!r}")
    # where-conditions and substitutions are structured
    d = doc_of('/interface sstp-client set [find where name="x"] disabled=no\n')
    c = d["commands"][0]
    check(c["command"] == "/interface sstp-client set" and c["positional"][0]["type"] == "subst"
          and c["positional"][0]["commands"][0]["command"] == "/interface sstp-client find"
          and c["positional"][0]["commands"][0]["where"] == [{"type": "pair", "name": "name", "value": "x"}],
          f"probe: [find where ...] structure {json.dumps(c)[:300]}")
    # v7 slash paths and abbreviations resolve to the same command
    d = doc_of("/interface/sstp-client/add name=a\n/int sstp-c add name=b\n")
    check([c["command"] for c in d["commands"]] == ["/interface sstp-client add"] * 2, "probe: slash path / abbreviation")
    # relative commands after a path line
    d = doc_of("/ip route\nadd dst-address=1.2.3.0/24 gateway=x\n")
    check([(c["command"], c["verb"]) for c in d["commands"]] == [("/ip route", None), ("/ip route add", "add")],
          f"probe: relative path {[c['command'] for c in d['commands']]}")
    # nesting
    d = doc_of('{\n:if (1=1) do={\n/system reboot\n} else={\n:do { /log info "a" } on-error={ :put "b" }\n}\n}\n')
    got = [(c["command"], c["depth"], c["parent"], c["context"]) for c in d["commands"]]
    want = [(":if", 1, None, "block"), ("/system reboot", 2, 0, "do"), (":do", 2, 0, "else"), ("/log info", 3, 2, "command"),
            (":put", 3, 2, "on-error")]
    check(d["ok"] and got == want, f"probe: nesting {got}")
    d = doc_of("/ip { address print }\n")
    check([(c["command"], c["context"]) for c in d["commands"]] == [("/ip", "top"), ("/ip address print", "block")],
          "probe: path block")
    # file-level checks: a BOM fails; bytes that are not UTF-8 are reported (routeros-lsp check refuses such files)
    d = doc_of(b"\xef\xbb\xbf/system reboot\n")
    check(not d["ok"] and d["diagnostics"][0]["rule"] == "syntax/bom" and d["commands"][0]["command"] == "/system reboot",
          "probe: BOM")
    d = doc_of(b':put "\xff"\n')
    check(d["ok"] and not d["utf8_valid"] and not d["ascii_only"]
          and d["commands"][0]["positional"][0] == {"type": "bytes", "hex": "ff", "lossy": "\ufffd"}, "probe: raw 0xFF byte")
    d = doc_of(':put "caf\u00e9"\n')
    check(d["ok"] and d["utf8_valid"] and not d["ascii_only"] and d["commands"][0]["positional"] == ["caf\u00e9"],
          "probe: raw UTF-8")
    # unknown (v6-only or misspelled) menus fall back to "last leading word is the verb"
    d = doc_of("/foo bar add x=1\n")
    c = d["commands"][0]
    check((c["command"], c["resolved"], c["args"]) == ("/foo bar add", False, {"x": "1"}), f"probe: fallback {c['command']}")
    # standard input through the CLI
    r = subprocess.run([sys.executable, os.path.join(HERE, "rsc_commands.py"), "--compact", "-"],
                       input=b'/system identity set name="a\\"b"\n', capture_output=True)
    check(r.returncode == 0 and json.loads(r.stdout)["commands"][0]["args"]["name"] == 'a"b', f"probe: stdin {r.stderr!r}")
    r = subprocess.run([sys.executable, os.path.join(HERE, "rsc_commands.py"), "-"], input=b':put "\\q"\n', capture_output=True)
    check(r.returncode == 1 and b"syntax/invalid-escape" in r.stderr and not json.loads(r.stdout)["ok"],
          f"probe: CLI exit status on error {r.returncode}")


# ----------------------------------------------------------------------------------------------------------------------
# 2. quoter table (routeros.md §3.2)


def quoter_table() -> None:
    table = {
        'a"b': r'"a\"b"', "a\\b": r'"a\\b"', "$x": r'"\$x"', "$(/system reboot)": r'"\$(/system reboot)"',
        "$[/system reset-configuration]": r'"\$[/system reset-configuration]"',
        'x"; /system reboot; :put "': r'"x\"; /system reboot; :put \""', "\n": r'"\n"', "\r": r'"\r"', "\t": r'"\t"',
        "semi;colon [br] {cu} #hash": '"semi;colon [br] {cu} #hash"', "q?": r'"q\3F"', "café": r'"caf\C3\A9"',
        "\x00\x01\x7f": r'"\00\01\7F"', "\\\n  cont": r'"\\\n  cont"', "": '""', "日": r'"\E6\97\A5"',
    }
    for s, expected in table.items():
        got = ros_quote(s)
        check(got == expected, f"quoter: {s!r} -> {got!r}, expected {expected!r}")
    for b in range(256):
        q = ros_quote_bytes(bytes([b]))
        check(q.isascii() and all(0x20 <= ord(c) < 0x7F for c in q), f"quoter: byte {b:#x} gives non-printable output {q!r}")


# ----------------------------------------------------------------------------------------------------------------------
# 3./5. round trips


def assert_single(s: str, label: str) -> bool:
    script = identity_line(ros_quote(s)) + "\n"
    d = doc_of(script)
    cmds = d["commands"]
    ok = check(d["ok"] and not d["diagnostics"], f"{label}: {s!r}: diagnostics {d['diagnostics']}")
    ok &= check(len(cmds) == 1, f"{label}: {s!r}: expected 1 command, got {[c['command'] for c in cmds]}")
    if cmds:
        c = cmds[0]
        ok &= check(c["command"] == "/system identity set", f"{label}: {s!r}: command {c['command']}")
        ok &= check(c["args"].get("name") == s, f"{label}: {s!r}: decoded {c['args'].get('name')!r}")
        ok &= check(c["non_literal_args"] == [] and c["positional"] == [], f"{label}: {s!r}: non-literal {c['non_literal_args']}")
        ok &= check(c["raw"].get("name") == ros_quote(s), f"{label}: {s!r}: raw {c['raw'].get('name')!r}")
    ok &= check(d["ascii_only"], f"{label}: {s!r}: output not ASCII")
    return ok


def round_trips() -> None:
    for s in HOSTILE:
        assert_single(s, "round-trip")

    n = len(HOSTILE)
    lines = [identity_line(ros_quote(s)) for s in HOSTILE]
    layouts = {
        "plain lines": "\n".join(lines) + "\n",
        "CRLF lines": "\r\n".join(lines) + "\r\n",
        "{ } wrapper": "# fabric test\n{\n" + "\n".join("  " + x for x in lines) + "\n}\n",
        "one line with ;": "; ".join(lines) + "\n",
        "continued lines": "\n".join(x.replace(" name=", " \\\n    name=") for x in lines) + "\n",
        ":if do/else": "{\n:if ([:len [/system identity get name]] = 0) do={\n" + "\n".join(lines) + "\n} else={\n"
        + "\n".join(lines) + "\n}\n}\n",
    }
    for layout, script in layouts.items():
        d = doc_of(script)
        cmds = [c for c in d["commands"] if c["command"] == "/system identity set"]
        expected = HOSTILE * 2 if layout == ":if do/else" else HOSTILE
        check(d["ok"] and not d["diagnostics"], f"file ({layout}): diagnostics {d['diagnostics'][:3]}")
        others = [c["command"] for c in d["commands"] if c["command"] != "/system identity set"]
        check(others == ([":if"] if layout == ":if do/else" else []), f"file ({layout}): unexpected commands {others}")
        check(len(cmds) == len(expected), f"file ({layout}): {len(cmds)} commands, expected {len(expected)}")
        check([c["args"].get("name") for c in cmds] == expected, f"file ({layout}): values differ")
        if layout == ":if do/else":
            check([c["context"] for c in cmds] == ["do"] * n + ["else"] * n and all(c["depth"] == 2 for c in cmds),
                  f"file ({layout}): nesting marks")

    # the same file through both CLIs (routeros-lsp's own, and ours)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hostile.rsc")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(layouts["{ } wrapper"])
        exe = shutil.which("routeros-lsp")
        if check(exe is not None, "routeros-lsp CLI not on PATH"):
            r = subprocess.run([exe, "check", "--format", "json", path], capture_output=True, text=True)
            findings = json.loads(r.stdout or "[]")
            check(r.returncode == 0 and not findings, f"routeros-lsp check: rc={r.returncode} {findings[:3]}")
        r = subprocess.run([sys.executable, os.path.join(HERE, "rsc_commands.py"), "--check", "--strict", path],
                           capture_output=True)
        ok = check(r.returncode == 0, f"rsc_commands.py CLI rc={r.returncode} {r.stderr[:500]!r}")
        if ok:
            d = json.loads(r.stdout)
            check([c["args"]["name"] for c in d["commands"]] == HOSTILE, "rsc_commands.py CLI: values differ")


def nested_scripts() -> None:
    for s in HOSTILE:
        inner = f"/log warning {ros_quote(s)}"
        outer = f"/tool netwatch add host=10.0.0.1 comment={ros_quote('fabric:nw')} down-script={ros_quote(inner)}\n"
        d = doc_of(outer)
        if not check(d["ok"] and len(d["commands"]) == 1, f"nested: {s!r}: outer {d['diagnostics']}"):
            continue
        c = d["commands"][0]
        check(c["args"].get("down-script") == inner and not c["non_literal_args"], f"nested: {s!r}: outer value differs")
        d2 = doc_of(c["args"]["down-script"])
        ok = check(d2["ok"] and len(d2["commands"]) == 1, f"nested: {s!r}: inner parse {d2['diagnostics']}")
        if ok:
            c2 = d2["commands"][0]
            check(c2["command"] == "/log warning" and c2["positional"] == [s], f"nested: {s!r}: inner {c2['positional']!r}")


def fuzz(count: int = 3000, seed: int = 20250611) -> None:
    rng = random.Random(seed)
    alphabet = list('"\\$?;[]{}()#=\'`:/ \n\r\t\x00\x7f') + list("abcxyz019") + ["é", "日", "\U0001F600", "\x85", "\u2028"]
    bad = 0
    for i in range(count):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        if not assert_single(s, f"fuzz#{i}"):
            bad += 1
            if bad > 5:
                break
    # one big file of them
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(500)]
    d = doc_of("{\n" + "\n".join(identity_line(ros_quote(s)) for s in strings) + "\n}\n")
    check(d["ok"] and [c["args"]["name"] for c in d["commands"]] == strings, "fuzz: 500-line file")


# ----------------------------------------------------------------------------------------------------------------------
# 6. detection of bad quoting


def naive(s: str) -> str:
    return '"' + s + '"'


def quotes_only(s: str) -> str:
    """A broken escaper that escapes only the double quote."""
    return '"' + s.replace('"', '\\"') + '"'


def no_dollar(s: str) -> str:
    """A broken escaper that forgets $ (and ?)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def detect(quoted: str, s: str) -> list[str]:
    """Which signals show that ``quoted`` does not carry ``s`` safely. Empty: undetected."""
    d = doc_of(identity_line(quoted) + "\n")
    signals = []
    if not d["ok"]:
        signals.append("error:" + ",".join(sorted({x["rule"] for x in d["diagnostics"]})))
    if len(d["commands"]) != 1:
        signals.append(f"commands={[c['command'] for c in d['commands']]}")
    elif d["commands"][0]["non_literal_args"] or d["commands"][0]["positional"]:
        signals.append(f"non-literal={d['commands'][0]['non_literal_args']}+{len(d['commands'][0]['positional'])} positional")
    elif d["commands"][0]["args"].get("name") != s:
        signals.append(f"value={d['commands'][0]['args'].get('name')!r}")
    return signals


def detection(verbose: bool) -> None:
    must = {
        # payload -> the signal that must appear for naive quoting
        'x"; /system reboot; :put "': "commands=",  # parses cleanly into 3 commands: the classic injection
        'x"; /system reboot': "error",  # the brief's example: /system reboot" leaves an unterminated string
        "$(/system reboot)": "non-literal",
        "$[/system reset-configuration]": "non-literal",
        "$x": "non-literal",
        "$": "error",
        "\\": "error",
        "\\3f": "error",
        "trailing\\": "error",
        "\\n": "value=",
        "\\\n  cont": "value=",
        "]": None, "{}[]#=": None,  # plain text inside quotes: naive quoting is harmless (no signal expected)
    }
    for s, signal in must.items():
        sig = detect(naive(s), s)
        if signal is None:
            check(sig == [], f"detect: naive {s!r} should be harmless, got {sig}")
        else:
            check(any(x.startswith(signal) for x in sig), f"detect: naive {s!r} should give {signal!r}, got {sig}")
    # the injected command itself is visible
    d = doc_of(identity_line(naive('x"; /system reboot; :put "')) + "\n")
    check([c["command"] for c in d["commands"]] == ["/system identity set", "/system reboot", ":put"] and d["ok"],
          f"detect: injected /system reboot not listed: {[c['command'] for c in d['commands']]}")
    # broken escapers
    s = 'x\\"; /system reboot; :put \\"'
    sig = detect(quotes_only(s), s)
    check(any(x.startswith("commands=") for x in sig), f"detect: quotes-only escaper vs {s!r}: {sig}")
    s = "$[/system reset-configuration]"
    sig = detect(no_dollar(s), s)
    check(any(x.startswith("non-literal") for x in sig), f"detect: no-$ escaper vs {s!r}: {sig}")
    # every hostile string that naive quoting changes, and what the tool saw (informational, plus: the correct quoter is
    # never flagged)
    undetected = []
    for s in HOSTILE:
        check(detect(ros_quote(s), s) == [], f"detect: ros_quote({s!r}) flagged")
        if naive(s) != ros_quote(s):
            sig = detect(naive(s), s)
            if verbose:
                print(f"  naive {s!r:45.45} -> {'; '.join(sig) or 'UNDETECTED'}")
            if not sig:
                undetected.append(s)
    # what the parser cannot see: raw control characters, '?' and non-ASCII are legal inside quotes
    allowed_undetected = {s for s in HOSTILE if all(c not in s for c in '"\\$')}
    check(set(undetected) <= allowed_undetected, f"detect: naive quoting undetected for {set(undetected) - allowed_undetected}")


def main() -> int:
    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    for name, fn in [("parser probes", probes), ("quoter table", quoter_table), ("round trips", round_trips),
                     ("nested scripts", nested_scripts), ("fuzz", fuzz), ("detection", lambda: detection(verbose))]:
        before = len(FAILURES)
        try:
            fn()
        except Exception:  # a crash is a failure, and the others still run
            FAILURES.append(f"{name}: crashed\n{traceback.format_exc()}")
        print(f"{name}: {'ok' if len(FAILURES) == before else f'{len(FAILURES) - before} FAILED'}")
    for f in FAILURES[:40]:
        print("FAIL", f)
    print(f"{PASSES} checks passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

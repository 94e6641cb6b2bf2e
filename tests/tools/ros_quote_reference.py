#!/usr/bin/env python3
"""Reference RouterOS string quoter (shared/notes/routeros.md §3.1/§3.2), to test fabric's Rust ``ros_quote`` against.

``ros_quote(s)`` returns ``s`` as a double-quoted RouterOS string literal, surrounding quotes included. The text is encoded as
UTF-8 and handled one byte at a time:

    "  -> \\"        \\  -> \\\\        $  -> \\$        ?  -> \\3F   (not \\?: removed in 7.1rc2, still accepted by 7.21.4)
    LF -> \\n        CR -> \\r        TAB -> \\t
    any other byte < 0x20, 0x7F, and every byte >= 0x80  -> \\XX  (two UPPERCASE hex digits)
    everything else (printable ASCII, including ; [ ] { } # = ' and space) is kept as is

The output is pure ASCII, so no raw UTF-8 ever reaches the router. Example: ros_quote('café') == '"caf\\\\C3\\\\A9"'.

CLI: ``python3 tests/tools/ros_quote_reference.py STRING...`` prints one quoted literal per argument (for comparing with the
Rust implementation by hand). No dependencies.
"""

from __future__ import annotations

import os
import sys

_SIMPLE = {
    0x22: '\\"',  # "
    0x5C: "\\\\",  # \
    0x24: "\\$",  # $
    0x3F: "\\3F",  # ?
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}


def ros_quote_bytes(data: bytes) -> str:
    """Quote a byte string (RouterOS strings are byte strings)."""
    out = ['"']
    for b in data:
        simple = _SIMPLE.get(b)
        if simple is not None:
            out.append(simple)
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:02X}")
        else:
            out.append(chr(b))
    out.append('"')
    return "".join(out)


def ros_quote(s: str) -> str:
    """Quote a text value: its UTF-8 bytes, escaped as above, inside double quotes."""
    return ros_quote_bytes(s.encode("utf-8"))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(ros_quote_bytes(os.fsencode(arg)))

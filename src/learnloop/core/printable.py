"""Text from data or clients made safe to print: control characters shown, never sent.

An ESC from a column name would move a terminal's cursor or change its colours, a NUL
ends strings in some viewers; both reach messages and reports through data learnloop
does not control. :func:`printable` writes each such character as its escape (``\\x1b``),
so what the data holds is still visible.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, the C1 controls, and the Unicode line and
# paragraph separators and bidirectional overrides that reorder what a reader sees
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, newlines: bool = True) -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\u202e``).

    With ``newlines=False`` line breaks and tabs are escaped too (for one-line messages).
    """
    pattern = _CONTROL if newlines else _ONE_LINE
    return pattern.sub(_escape, text)


_ONE_LINE = re.compile(_CONTROL.pattern[:-1] + "\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

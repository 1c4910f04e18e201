"""Untrusted text in reports: policy text, Sids, messages and suppression reasons.

Anything a bucket owner (or a suppression file's author) wrote can reach a
report. Terminal control sequences in it would drive the reader's terminal (move
the cursor, rewrite earlier lines, set the title) and raw HTML would render in a
pull-request comment; XML 1.0 cannot carry most control characters at all. Each
format passes such text through the function here that fits it.
"""

from __future__ import annotations

import re

__all__ = ["printable", "xml_text"]

# C0 controls (tab, newline and carriage return included: a cell is one line),
# DEL, C1 controls (a lone 0x9b is a CSI on many terminals), and the Unicode
# bidirectional overrides and isolates that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# What XML 1.0 cannot carry: C0 controls but tab, newline and CR; surrogates; FFFE/FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control and bidi character shown as a ``\\xNN`` escape."""
    return _CONTROL.sub(_escape, text)


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids shown as ``\\xNN`` escapes."""
    return _NOT_XML.sub(_escape, text)

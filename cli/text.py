"""Text from the network made safe for a terminal.

Object keys, metadata, message headers and servers' error texts are written by
whoever can write to a bucket (or answer as an endpoint). Printed raw, they can
carry terminal escape sequences (rewrite the screen, set the window title,
fake a prompt), carriage returns that hide what came before, or bidirectional
overrides (U+202E) that make one name read as another. Every character that
:meth:`str.isprintable` rejects (controls, format characters such as bidi
overrides, unassigned code points, surrogates, separators other than the ASCII
space) is printed as a backslash escape, and a backslash as ``\\\\``, so that an
escaped text cannot pass for another. JSON output needs none of this:
``json.dumps`` escapes every non-ASCII and control character.
"""

from __future__ import annotations

__all__ = ["printable"]

_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every non-printable character (and backslash) escaped."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(char) for char in text)

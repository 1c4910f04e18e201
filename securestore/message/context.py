"""Encryption context: validation and canonical serialization (docs/format.md, "Context").

The serialization is a two-byte pair count followed by each pair as a two-byte
length and UTF-8 bytes for the key, then the same for the value, sorted by the
UTF-8 bytes of the key. An empty context serializes to no bytes at all.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from securestore.errors import ConfigurationError, FormatError

__all__ = [
    "PUBLIC_KEY_CONTEXT_KEY",
    "RESERVED_PREFIX",
    "parse_context",
    "serialize_context",
    "validate_user_context",
]

RESERVED_PREFIX = "aws-crypto-"
PUBLIC_KEY_CONTEXT_KEY = "aws-crypto-public-key"
_MAX_FIELD = 0xFFFF


def validate_user_context(context: Mapping[str, str]) -> dict[str, str]:
    """Check a caller-supplied context and return a plain copy.

    Keys and values must be strings; keys must be non-empty and must not use the
    reserved ``aws-crypto-`` prefix. Raises :class:`ConfigurationError`.
    """
    result: dict[str, str] = {}
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigurationError("encryption context keys and values must be strings")
        if not key:
            raise ConfigurationError("encryption context keys must not be empty")
        if key.startswith(RESERVED_PREFIX):
            raise ConfigurationError(
                f"encryption context key {key!r} uses the reserved prefix {RESERVED_PREFIX!r}"
            )
        result[key] = value
    serialize_context(result)
    return result


def serialize_context(context: Mapping[str, str]) -> bytes:
    """Serialize a context canonically; raise :class:`ConfigurationError` if it cannot fit."""
    if not context:
        return b""
    encoded = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    if len(encoded) > _MAX_FIELD:
        raise ConfigurationError("encryption context has more than 65535 entries")
    parts = [struct.pack(">H", len(encoded))]
    for key, value in encoded:
        if len(key) > _MAX_FIELD or len(value) > _MAX_FIELD:
            raise ConfigurationError("an encryption context key or value exceeds 65535 bytes")
        parts += [struct.pack(">H", len(key)), key, struct.pack(">H", len(value)), value]
    out = b"".join(parts)
    if len(out) > _MAX_FIELD:
        raise ConfigurationError("the serialized encryption context exceeds 65535 bytes")
    return out


def parse_context(data: bytes | memoryview) -> dict[str, str]:
    """Parse serialized key-value pairs (the exact bytes, no outer length).

    Raises :class:`FormatError` for a zero count, a length that runs past the end,
    left-over bytes, invalid UTF-8 or a duplicate key. Order is not enforced: the
    header authentication covers the bytes as written.
    """
    view = memoryview(data)
    if len(view) == 0:
        return {}
    if len(view) < 2:
        raise FormatError("encryption context: truncated pair count")
    (count,) = struct.unpack_from(">H", view, 0)
    if count == 0:
        raise FormatError("encryption context: pair count is zero but pairs are present")
    pos = 2
    result: dict[str, str] = {}
    for index in range(count):
        fields: list[str] = []
        for what in ("key", "value"):
            if pos + 2 > len(view):
                raise FormatError(f"encryption context: truncated {what} length in pair {index}")
            (length,) = struct.unpack_from(">H", view, pos)
            pos += 2
            if pos + length > len(view):
                raise FormatError(f"encryption context: {what} of pair {index} runs past its end")
            try:
                fields.append(bytes(view[pos : pos + length]).decode("utf-8"))
            except UnicodeDecodeError:
                raise FormatError(
                    f"encryption context: {what} of pair {index} is not UTF-8"
                ) from None
            pos += length
        key, value = fields
        if key in result:
            raise FormatError(f"encryption context: duplicate key {key!r}")
        result[key] = value
    if pos != len(view):
        raise FormatError("encryption context: bytes left after the last pair")
    return result

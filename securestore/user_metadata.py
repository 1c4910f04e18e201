"""The rules for user metadata: which names and values a write may store.

S3 sends metadata as HTTP headers, so names are ASCII and compared without
case, and values ASCII without control characters; names starting with
``securestore-`` describe how securestore wrote the object and are reserved.
"""

from __future__ import annotations

from collections.abc import Mapping

from securestore.errors import ConfigurationError

__all__ = ["SETTABLE_RESERVED_METADATA", "check_metadata"]

_RESERVED_METADATA_PREFIX = "securestore-"
#: Reserved names a caller may set: facts about the source (tree transfers store the
#: file's mtime), informational like every marker, never trusted for a security decision.
SETTABLE_RESERVED_METADATA = frozenset({"securestore-mtime"})


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user metadata and return it with lower-case names.

    Raises:
        ConfigurationError: a name or value S3 would mangle, or a reserved name.
    """
    if not metadata:
        return {}
    out = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("metadata names and values must be strings")
        if not name or not name.isascii() or not all(c.isalnum() or c in "-_." for c in name):
            raise ConfigurationError(
                f"invalid metadata name {name!r}: use ASCII letters, digits, '-', '_' and '.'"
            )
        if (
            name.lower().startswith(_RESERVED_METADATA_PREFIX)
            and name.lower() not in SETTABLE_RESERVED_METADATA
        ):
            raise ConfigurationError(
                f"metadata name {name!r} is reserved: names starting with "
                f"{_RESERVED_METADATA_PREFIX!r} describe how securestore wrote the object"
            )
        if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ConfigurationError(
                f"metadata value of {name!r} must be ASCII without control characters"
            )
        if name.lower() in out:
            raise ConfigurationError(
                f"metadata names {name!r} and another differ only in case (S3 keeps one)"
            )
        out[name.lower()] = value
    return out

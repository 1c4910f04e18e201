"""Argument checks for the public calls, applied where each call begins.

A wrong type must not surface as an ``AttributeError`` from deep inside a write,
after a multipart upload was created or a partial file was opened: each check
raises :class:`~securestore.errors.ConfigurationError` naming the argument and
what it takes, before anything is sent or created. :func:`checked` applies a table
of checks (parameter name → check) to a function's arguments as given (defaults
are trusted); the facade's table is in :mod:`securestore.store_arguments`.

Pure: no boto3 (the offline calls use these checks too).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import ParamSpec, TypeVar

from securestore.errors import ConfigurationError, InvalidLocationError
from securestore.location import validate_key
from securestore.message.materials import check_keyring
from securestore.modes import EncryptionMode

__all__ = [
    "FLAGS",
    "Check",
    "body",
    "callback",
    "choice",
    "checked",
    "count",
    "flag",
    "instance_of",
    "key",
    "keyring",
    "keyrings",
    "mapping",
    "mode",
    "optional",
    "path",
    "positive",
    "seconds",
    "strings",
    "text",
]

#: A check: ``check(name, value)`` returns if ``value`` is acceptable for ``name``, else raises.
Check = Callable[[str, object], None]

P = ParamSpec("P")
R = TypeVar("R")

_MODES = "SseS3(), SseKms(key_id), DsseKms(key_id) or ClientSide(keyring)"


def _kind(value: object) -> str:
    """How a refused value is named: its type, and for short text the text itself."""
    if isinstance(value, str) and len(value) <= 40:
        return f"the str {value!r}"
    return type(value).__name__


def refuse(name: str, takes: str, value: object, *, hint: str | None = None) -> ConfigurationError:
    """The error for ``name`` given ``value`` where it takes ``takes``."""
    return ConfigurationError(f"{name} must be {takes}, not {_kind(value)}", hint=hint)


def optional(check: Check) -> Check:
    """``check``, letting ``None`` through (the argument's default)."""

    def check_optional(name: str, value: object) -> None:
        if value is not None:
            check(name, value)

    return check_optional


def instance_of(kind: type | tuple[type, ...], takes: str, hint: str | None = None) -> Check:
    """A check that ``value`` is an instance of ``kind`` (described as ``takes``)."""

    def check_instance(name: str, value: object) -> None:
        if not isinstance(value, kind):
            raise refuse(name, takes, value, hint=hint)

    return check_instance


def key(name: str, value: object) -> None:
    """An object key: a ``str`` S3 can store (:func:`~securestore.location.validate_key`)."""
    if not isinstance(value, str):
        raise InvalidLocationError(f"{name} must be an object key (a str), not {_kind(value)}")
    validate_key(value)


def mode(name: str, value: object) -> None:
    """An encryption mode object (a mode's name is a str: refused with the way to build one)."""
    if not isinstance(value, EncryptionMode):
        hint = (
            "build the mode, e.g. SseKms('alias/my-key'); parse_mode(name) turns a CLI "
            "name (s3, kms, dsse-kms) into one"
            if isinstance(value, str)
            else None
        )
        raise refuse(name, f"an encryption mode ({_MODES})", value, hint=hint)


def count(name: str, value: object) -> None:
    """A count of bytes (or anything): an ``int`` (not a ``bool``) that is not negative."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(name, "a non-negative int", value)
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, not {value}")


def positive(name: str, value: object) -> None:
    """An ``int`` (not a ``bool``) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(name, "an int of at least 1", value)
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, not {value}")


def seconds(name: str, value: object) -> None:
    """A time in seconds: a finite number above 0 (0 or inf would never time out, or at once)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(name, "a number of seconds", value)
    if not 0 < value < math.inf:
        raise ConfigurationError(f"{name} must be a finite number of seconds above 0, not {value}")


def choice(*values: str) -> Check:
    """A check that ``value`` is one of ``values``."""
    takes = " or ".join(repr(v) for v in values)

    def check_choice(name: str, value: object) -> None:
        if not isinstance(value, str) or value not in values:
            raise refuse(name, takes, value)

    return check_choice


def flag(name: str, value: object) -> None:
    """A ``bool``: ``allow_plaintext="no"`` is truthy, and would weaken a read."""
    if not isinstance(value, bool):
        raise refuse(name, "True or False", value)


#: The flags of the public calls (several weaken a read: each must be a real bool).
FLAGS = (
    "allow_empty_source",
    "allow_legacy_unauthenticated",
    "allow_plaintext",
    "allow_s3ec",
    "delete",
    "delete_old_versions",
    "dry_run",
    "dryrun",
    "exact_timestamps",
    "force",
    "move",
    "overwrite_readonly",
    "prefixes_first",
    "recursive",
    "relocated",
    "size_only",
)


def path(name: str, value: object) -> None:
    """A local path: ``str`` or :class:`os.PathLike`."""
    if not isinstance(value, str | os.PathLike):
        raise refuse(name, "a path (str or os.PathLike)", value)


def text(name: str, value: object) -> None:
    """A ``str``."""
    if not isinstance(value, str):
        raise refuse(name, "a str", value)


def body(name: str, value: object) -> None:
    """What ``put`` stores: bytes, a binary file object, or an iterable of bytes."""
    if isinstance(value, bytes | bytearray | memoryview) or callable(getattr(value, "read", None)):
        return
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise refuse(name, "bytes, a binary file object or an iterable of bytes", value)


def callback(name: str, value: object) -> None:
    """Something callable (a progress callback, a handler)."""
    if not callable(value):
        raise refuse(name, "callable", value)


def mapping(name: str, value: object) -> None:
    """A mapping (its items are checked where they are used)."""
    if not isinstance(value, Mapping):
        raise refuse(name, "a mapping of str to str", value)


def keyring(name: str, value: object) -> None:
    """A keyring: something with ``wrap`` and ``unwrap``."""
    check_keyring(value, name)


def _items(name: str, value: object, takes: str) -> Iterable[object]:
    # A str is an iterable of one-letter strings: never what a caller meant.
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise refuse(name, takes, value)
    return value


def strings(name: str, value: object) -> None:
    """An iterable of ``str`` (a list, a tuple), not one ``str`` (which iterates letters).

    Only the container is checked: its items may be a generator's, which are
    checked where they are consumed.
    """
    _items(name, value, "an iterable of str (a list, not one str)")


def keyrings(name: str, value: object) -> None:
    """An iterable of keyrings (not one keyring)."""
    if callable(getattr(value, "wrap", None)):
        raise refuse(name, "an iterable of keyrings (a list, not one keyring)", value)
    _items(name, value, "an iterable of keyrings")


def checked(checks: Mapping[str, Check]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check the arguments a call is given whose parameters ``checks`` names.

    Parameters the function lacks are ignored, so one table serves many
    functions; arguments left at their defaults are not checked. A generator
    function's arguments are thus checked when it is called, not at its first
    ``next()``.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)
        mine = {name: check for name, check in checks.items() if name in signature.parameters}

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            given = signature.bind(*args, **kwargs).arguments
            for name, check in mine.items():
                if name in given:
                    check(name, given[name])
            return function(*args, **kwargs)

        return call

    return decorate

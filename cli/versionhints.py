"""get/head errors about ``--version-id`` that say so (split from cli/commands.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from securestore.errors import NotFoundError, SecureStoreError, StorageError

__all__ = ["names_the_version", "version_error"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def version_error(error: SecureStoreError, version_id: str) -> None:
    """Reword ``error`` (in place, type kept) when it is about ``version_id``, not the key.

    S3 answers a version id that names nothing with NoSuchVersion (404, no code for
    HEAD), a delete marker's with MethodNotAllowed (405) and a malformed one with
    InvalidArgument (400); the translation says "no such object" or quotes the code,
    and knows no version id.
    """
    code = getattr(error, "code", None)
    hint = "list the key's versions with `securestore ls s3://BUCKET/KEY --versions`"
    if isinstance(error, NotFoundError) and code not in ("NoSuchKey", "NoSuchBucket"):
        what = error.message.partition(":")[0]
        sure = code == "NoSuchVersion"  # a bare 404 could also be a missing key
        tail = "" if sure else " (or no such object)"
        error.message = f"{what}: no such version {version_id!r}{tail}"
    elif isinstance(error, StorageError) and code in ("MethodNotAllowed", "405"):
        # S3's answer to GET/HEAD of a delete marker's version id (no body to read).
        what = error.message.partition(":")[0]
        error.message = f"{what}: version {version_id!r} is a delete marker: it has no content"
    elif "InvalidArgument" in error.message or (isinstance(error, StorageError) and code == "400"):
        error.message = f"{error.message} (is the version id {version_id!r} malformed?)"
    else:
        return
    error.args = (error.message,)
    error.hint = hint


def names_the_version(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Let get/head errors about ``--version-id`` say so (see :func:`version_error`)."""

    @functools.wraps(command)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return command(*args, **kwargs)
        except SecureStoreError as exc:
            version_id = kwargs.get("version_id")
            if isinstance(version_id, str):
                version_error(exc, version_id)
            raise

    return wrapper

"""Uploading local files: regular files only, never blocking on the open, never torn.

A FIFO or device cannot be uploaded by path (its size is unknown and opening a
FIFO without a writer blocks forever); such sources go through
:meth:`~securestore.store.SecureStore.put` as a file object instead.
:func:`upload_file` sends an opened file through the write path
(:class:`~securestore.writing.WritePath`), checking before it commits that the
file did not change while it was read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from securestore.chunking import file_parts
from securestore.errors import FileChangedError, LocalFileError
from securestore.location import refuse_folder_key
from securestore.user_metadata import check_metadata

if TYPE_CHECKING:
    from securestore.attributes import ObjectAttributes
    from securestore.modes import EncryptionMode
    from securestore.objects import ObjectInfo
    from securestore.transfer import ProgressCallback
    from securestore.writing import WritePath

__all__ = ["open_source", "unchanged_check", "upload_file"]


def upload_file(
    writes: WritePath,
    path: Path,
    key: str,
    mode: EncryptionMode,
    metadata: Mapping[str, str] | None,
    *,
    content_type: str | None,
    progress: ProgressCallback | None,
    attributes: ObjectAttributes | None,
) -> ObjectInfo:
    """Upload the regular file ``path`` under ``key`` through ``writes``.

    See :meth:`securestore.store.SecureStore.upload_file`; ``mode`` is already resolved.
    """
    refuse_folder_key(key)
    handle, size = open_source(path, bucket=writes.bucket, key=key)
    with handle:
        meta = check_metadata(metadata)
        with writes.access.boundary("upload", key):
            plan = writes.plan(key, mode, size, meta, attributes=attributes)
            parts = file_parts(handle.fileno(), size, plan.part_size)
            return writes.upload(
                key,
                parts,
                mode,
                plan,
                content_type,
                progress,
                before_commit=unchanged_check(handle, path),
            )


def open_source(source: Path, *, bucket: str, key: str) -> tuple[BinaryIO, int]:
    """Open the regular file ``source`` for reading; return it and its size.

    Raises:
        LocalFileError: ``source`` cannot be read or is not a regular file.
    """
    try:
        # Checked before opening: opening a FIFO without a writer blocks forever.
        if not stat.S_ISREG(os.stat(source).st_mode):
            raise _not_regular(source)
        # O_NONBLOCK: a FIFO swapped in after the check cannot block the open either.
        handle = os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    except OSError as exc:
        raise LocalFileError(
            f"cannot read {source}: {exc.strerror or exc}", bucket=bucket, key=key
        ) from exc
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        raise _not_regular(source)
    return handle, info.st_size


def _not_regular(source: Path) -> LocalFileError:
    return LocalFileError(
        f"not a regular file: {source}",
        # CLI wording first: cli/errors.py drops the library aside, the other way round
        # "pass ... to put() (CLI: ...)" kept the library words on the terminal.
        hint="to upload from a pipe or device, read it from standard input: securestore put - "
        "s3://BUCKET/KEY < SOURCE (library: give SecureStore.put an open binary file)",
    )


def unchanged_check(handle: BinaryIO, source: Path) -> Callable[[], None]:
    """A check to run once the open file ``handle`` has been read, before the object is
    committed: it raises :class:`FileChangedError` if the file's size, mtime or ctime
    moved since now (bytes written while it was read would be stored torn; ctime
    catches a writer that puts the mtime back)."""
    first = _identity(os.fstat(handle.fileno()))

    def check() -> None:
        if _identity(os.fstat(handle.fileno())) != first:
            raise FileChangedError(
                f"{source} changed while it was being uploaded: nothing was stored",
                hint="upload it again once it is no longer being written "
                "(or upload a copy or a snapshot of it)",
            )

    return check


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns

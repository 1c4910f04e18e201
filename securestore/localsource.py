"""Opening local files for upload: regular files only, and never blocking on the open.

A FIFO or device cannot be uploaded by path (its size is unknown and opening a
FIFO without a writer blocks forever); such sources go through
:meth:`~securestore.store.SecureStore.put` as a file object instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from securestore.errors import LocalFileError

__all__ = ["open_source"]


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
        hint="to upload from a pipe or device, pass a file object to put() (CLI: put - < SOURCE)",
    )

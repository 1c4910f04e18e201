"""Writing downloads to local files: all-or-nothing replacement of the destination."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from securestore.errors import LocalFileError

__all__ = ["AtomicFile", "pwrite_all"]


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class AtomicFile:
    """A temporary file beside ``path`` that replaces ``path`` only on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1
        self.tmp = ""

    def __enter__(self) -> AtomicFile:
        folder = self.path.parent
        if self.path.is_dir():
            raise LocalFileError(f"destination is a directory: {self.path}")
        try:
            self.fd, self.tmp = tempfile.mkstemp(
                dir=folder, prefix=f".{self.path.name}.", suffix=".securestore-partial"
            )
        except OSError as exc:
            raise LocalFileError(
                f"cannot write to {folder}: {exc.strerror or exc}",
                hint="choose a destination in an existing, writable folder",
            ) from exc
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                os.fsync(self.fd)
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(self.fd, 0o666 & ~umask)
        except OSError as error:
            os.close(self.fd)
            os.unlink(self.tmp)
            raise LocalFileError(f"cannot write {self.path}: {error.strerror}") from error
        os.close(self.fd)
        if exc_type is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
            return
        try:
            os.replace(self.tmp, self.path)
        except OSError as error:
            os.unlink(self.tmp)
            raise LocalFileError(f"cannot write {self.path}: {error.strerror}") from error

"""Writing downloads to local destinations (and creating their missing folders).

A destination is one of:

* a **regular file, or a new one**: data goes to a hidden partial file beside it
  that replaces it (``rename``) only when complete, so a failure leaves the
  destination untouched. A replaced file keeps its permission bits (and, where
  the caller may set them, its owner and group); a new file gets the mode the
  caller asks for, minus the umask. A destination without write permission for
  the caller is refused unless ``overwrite_readonly`` is set, as ``cp`` does
  (root, whom permissions do not stop, is refused when the file has no write bit
  at all).
* a **symbolic link**: it is followed; the file it points to is replaced
  atomically beside itself and the link stays a link. A dangling link is refused
  (like ``cp``): it would create a file wherever the link points.
* **anything else** that can be opened for writing (``/dev/null``, a FIFO with a
  reader, a terminal): written to in order, never renamed over. ``/dev/stdout``,
  ``/dev/stderr`` and ``/dev/fd/N`` are written through the descriptor itself, so
  that ``>> log`` appends as with ``-``.
  Such a destination cannot be all-or-nothing: on failure it has received a prefix.

Partial files are named and reaped as :mod:`securestore.partials` describes.

A tree download places its file (:mod:`securestore.placement`, :mod:`securestore.confine`):
then every step (examining the destination, reaping, creating the partial file,
the rename, the cleanup) is made relative to the open folder's descriptor, and a
link at the destination is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from securestore.errors import LocalFileError
from securestore.partials import (
    NAME_BYTES,
    PARTIAL_SUFFIX,
    STALE_AFTER,
    is_partial_name,
    partial_prefix,
    reap_stale_partials,
)
from securestore.placement import Placement, examine_at, placed_folder, placement_for

__all__ = [
    "NAME_BYTES",
    "PARTIAL_SUFFIX",
    "STALE_AFTER",
    "AtomicFile",
    "created_folders",
    "is_partial_name",
    "pwrite_all",
]

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class _WriteError(LocalFileError):
    """A write to an open destination failed; :class:`AtomicFile` names the path."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"write failed: {error.strerror or error}")
        self.error = error


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked).

    Raises:
        LocalFileError: the write failed (disk full, I/O error, ...).
    """
    view = memoryview(data)
    while view:
        try:
            written = os.pwrite(fd, view, offset)
        except OSError as exc:
            raise _WriteError(exc) from exc
        view = view[written:]
        offset += written


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as exc:
            raise _WriteError(exc) from exc
        view = view[written:]


def _failure_hint(error: OSError) -> str | None:
    if error.errno in _NO_SPACE:
        return "free space on the destination's file system (the destination was not changed)"
    if error.errno == errno.EFBIG:  # RLIMIT_FSIZE: freeing space would not help
        return (
            "the file is larger than your file size limit (`ulimit -f`): raise it "
            "(the destination was not changed)"
        )
    return None


_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask.

    ``os.umask`` can only be read by setting it. Two threads doing that at once
    (a tree download completes files in parallel) could each restore the other's
    temporary mask: the process kept a umask of 0 and files were created
    world-writable. So the set-and-restore is serialized, and the temporary mask
    is the most restrictive one: a file another thread creates in that instant
    is private rather than open. (Linux's ``/proc/self/status`` also reports the
    umask, but reading it costs a hundred times more per file.)
    """
    with _umask_lock:
        mask = os.umask(0o777)
        os.umask(mask)
    return mask


_FD_PATH = re.compile(r"/(?:dev/fd|proc/self/fd)/([0-9]+)")
_STANDARD = {"/dev/stdout": 1, "/dev/stderr": 2}


def _standard_fd(path: Path) -> int | None:
    """The descriptor ``path`` names (``/dev/stdout``, ``/dev/fd/N``), or None."""
    text = os.fspath(path)
    if text.startswith("/") and "/dev/" not in text and "/proc/" not in text:
        return None  # the usual file: no component can make it a descriptor's name
    text = os.path.normpath(os.path.abspath(text))
    match = _FD_PATH.fullmatch(text)
    return int(match.group(1)) if match else _STANDARD.get(text)


def _may_write(path: Path, info: os.stat_result) -> bool:
    """Whether the caller may write ``path`` by its permissions (see the module docstring)."""
    if os.geteuid() == 0:
        return bool(info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


class AtomicFile:
    """Where a download goes: see the module docstring for each kind of destination.

    Use it as a context manager; inside, write with :meth:`write_at` (or
    :func:`pwrite_all` on :attr:`fd` when :attr:`stream` is false). Leaving the block
    normally completes the destination; leaving it by an exception removes the
    partial file.

    Args:
        path: the destination.
        create_mode: permission bits of a new file (the umask is applied).
        overwrite_readonly: replace a destination the caller may not write.

    Attributes:
        stream: true for a destination written in order (a device, FIFO, ...);
            then only sequential :meth:`write_at` calls are possible.
        target: the file finally written (``path`` with symbolic links resolved).
    """

    def __init__(
        self, path: Path, *, create_mode: int = 0o666, overwrite_readonly: bool = False
    ) -> None:
        self.path = path
        self.target = path
        self.fd = -1
        self.tmp = ""
        self.stream = False
        self._create_mode = create_mode & 0o777
        self._overwrite_readonly = overwrite_readonly
        self._existing: os.stat_result | None = None
        self._position = 0
        self._at = placement_for(path)

    def __enter__(self) -> AtomicFile:
        if self._at is not None:
            self._enter_at(self._at)
            return self
        number = _standard_fd(self.path)
        if number is not None:
            # Reopening /dev/stdout would drop an O_APPEND and the offset of `>> log`.
            try:
                self.fd = os.dup(number)
            except OSError as exc:
                raise LocalFileError(f"cannot write to {self.path}: {exc.strerror}") from exc
            self.stream = True
            return self
        info = self._examine()
        if info is not None and not stat.S_ISREG(info.st_mode):
            self._open_stream(info)
            return self
        folder = self.target.parent
        prefix = partial_prefix(self.target.name)
        reap_stale_partials(folder, self.target.name, prefix=prefix)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        try:
            # Owner-only until complete: the bytes may be freshly decrypted.
            self._create(lambda: os.open(tmp, flags, 0o600), tmp)
        except OSError as exc:
            raise LocalFileError(
                f"cannot write to {folder}: {exc.strerror or exc}",
                hint="choose a destination in an existing, writable folder",
            ) from exc
        return self

    def _create(self, create: Callable[[], int], tmp: str) -> None:
        """Open the partial file ``tmp`` with ``create``; an interrupt leaves none behind.

        ``__exit__`` does not run when ``__enter__`` fails, so a signal's exception
        arriving just after the file was created (before ``self.fd`` is set) removes it here.
        """
        try:
            self.fd = create()
        except OSError:
            raise  # not created (a name taken is another's: O_EXCL)
        except BaseException:
            self.tmp = tmp
            self._discard()
            raise
        self.tmp = tmp

    def _enter_at(self, at: Placement) -> None:
        """:meth:`__enter__` of a placed file: all through ``at.dir_fd``, no link followed."""
        # A regular file or nothing: a FIFO or device at a name a key gave is refused.
        self._existing = examine_at(at, self.path, overwrite_readonly=self._overwrite_readonly)
        prefix = partial_prefix(at.name)
        reap_stale_partials(self.path.parent, at.name, prefix=prefix, dir_fd=at.dir_fd)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        tmp = f"{prefix}{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
        try:
            self._create(lambda: os.open(tmp, flags, 0o600, dir_fd=at.dir_fd), tmp)  # in dir_fd
        except OSError as exc:
            raise LocalFileError(
                f"cannot write to {self.path.parent}: {exc.strerror or exc}",
                hint="choose a destination in an existing, writable folder",
            ) from exc

    def _examine(self) -> os.stat_result | None:
        """Resolve links, refuse what cannot be written; the destination's status or None."""
        path = self.path
        # One lstat tells a missing destination, a link and a plain file apart (a stat,
        # then an lstat to find the links, was two calls and often an exception).
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):  # creating it says what is wrong
            return None
        except OSError as exc:
            raise LocalFileError(f"cannot use {path}: {exc.strerror or exc}") from exc
        link = stat.S_ISLNK(info.st_mode)
        if link:
            try:
                info = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise LocalFileError(
                    f"not writing through a dangling symbolic link: {path}",
                    hint="remove the link, or create the file it points to first",
                ) from None
            except OSError as exc:
                raise LocalFileError(f"cannot use {path}: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(info.st_mode):
            raise LocalFileError(f"destination is a directory: {path}")
        if not stat.S_ISREG(info.st_mode):
            return info
        if link:
            self.target = Path(os.path.realpath(path))
        if not self._overwrite_readonly and not _may_write(self.target, info):
            raise LocalFileError(
                f"destination is read-only: {path}",
                hint="make it writable, or replace it anyway with --force "
                "(library: overwrite_readonly=True)",
            )
        self._existing = info
        return info

    def _open_stream(self, info: os.stat_result, at: Placement | None = None) -> None:
        flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY
        fifo = stat.S_ISFIFO(info.st_mode)
        if fifo:
            flags |= os.O_NONBLOCK  # a FIFO without a reader would block this open forever
        try:
            if at is not None:
                self.fd = os.open(at.name, flags | os.O_NOFOLLOW, dir_fd=at.dir_fd)
            else:
                self.fd = os.open(self.path, flags)
        except OSError as exc:
            if fifo and exc.errno == errno.ENXIO:
                raise LocalFileError(
                    f"no process is reading the FIFO {self.path}",
                    hint="start the reader first",
                ) from exc
            raise LocalFileError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        if fifo:
            fcntl.fcntl(
                self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_NONBLOCK
            )
        self.stream = True

    def write_at(self, data: bytes | bytearray | memoryview, offset: int) -> None:
        """Write ``data`` at ``offset``; for a stream, ``offset`` must be where the last ended."""
        if not self.stream:
            pwrite_all(self.fd, data, offset)
            return
        if offset != self._position:
            raise LocalFileError(f"{self.path} can only be written in order")
        _write_all(self.fd, data)
        self._position += len(data)

    def _failed(self, error: OSError) -> LocalFileError:
        return LocalFileError(
            f"cannot write {self.path}: {error.strerror or error}", hint=_failure_hint(error)
        )

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.stream:
            self._exit_stream(exc)
            return
        if exc is not None:
            self._discard()
            if isinstance(exc, _WriteError):
                raise self._failed(exc.error) from exc
            return
        try:
            try:
                os.fsync(self.fd)
                self._set_mode()
                fd, self.fd = self.fd, -1  # never closed twice: the number may be reused
                os.close(fd)
            except OSError as error:
                raise self._failed(error) from error
            try:
                self._replace()
            except OSError as error:
                raise self._failed(error) from error
        except BaseException:
            # Also a Ctrl-C or SIGTERM in the fsync (a large file, a slow disk): no partial
            # file stays, and it may hold plaintext.
            self._discard()
            raise

    def _exit_stream(self, exc: object) -> None:
        fd, self.fd = self.fd, -1
        try:
            os.close(fd)
        except OSError as error:
            if exc is None:
                raise self._failed(error) from error
        if isinstance(exc, _WriteError):
            if isinstance(exc.error, BrokenPipeError):
                raise LocalFileError(
                    f"the reader of {self.path} went away before the end", hint=None
                ) from exc
            raise self._failed(exc.error) from exc

    def _set_mode(self) -> None:
        existing = self._existing
        if existing is None:
            if self._create_mode == 0o600:
                return  # created so (umask applied): a client-side download's new file
            at = self._at
            mask = at.umask if at is not None and at.umask is not None else current_umask()
            os.fchmod(self.fd, self._create_mode & ~mask)
            return
        # Keep the owner and group where allowed (root; a group the caller belongs to).
        if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(self.fd, existing.st_uid, existing.st_gid)
            except PermissionError:
                with contextlib.suppress(PermissionError):
                    os.fchown(self.fd, -1, existing.st_gid)
        # Set after chown, which clears set-id bits; those are never carried over.
        os.fchmod(self.fd, stat.S_IMODE(existing.st_mode) & 0o777)

    def _replace(self) -> None:
        """Rename the complete partial file over the destination (placed: in its folder)."""
        at = self._at
        if at is None:
            os.replace(self.tmp, self.target)
            return
        try:
            at.recheck()
        except BaseException:
            self._discard()
            raise
        os.replace(self.tmp, at.name, src_dir_fd=at.dir_fd, dst_dir_fd=at.dir_fd)

    def _discard(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp, dir_fd=None if self._at is None else self._at.dir_fd)


@contextlib.contextmanager
def created_folders(folder: Path) -> Iterator[None]:
    """Create ``folder`` and its missing parents (as aws-cli does) for the block.

    On any failure inside the block, the folders created here are removed again
    (those still empty); a folder made meanwhile by someone else is not ours.
    The folder of a placed download (:func:`placed`) is left alone: it was opened,
    and made where missing, without following a link; by path it may be one now.

    Raises:
        LocalFileError: a folder cannot be created.
    """
    if placed_folder(folder):
        yield
        return
    created = make_folders(folder)
    try:
        yield
    except BaseException:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def make_folders(folder: Path, mode: int = 0o777) -> list[Path]:
    """Create ``folder`` and missing parents; return those created, outermost first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for each in reversed(missing):
        try:
            each.mkdir(mode)
        except FileExistsError:
            continue  # made meanwhile by someone else (a parallel download): not ours
        except OSError as exc:
            for made in reversed(created):
                with contextlib.suppress(OSError):
                    made.rmdir()
            raise LocalFileError(
                f"cannot write to {each}: {exc.strerror or exc}",
                hint="choose a destination in a writable folder",
            ) from exc
        created.append(each)
    return created

"""A download placed in an open folder: AtomicFile then works relative to its descriptor.

:mod:`securestore.confine` opens a tree download's folder from the destination
root without following a link, then runs the download inside :func:`placed`: the
:class:`~securestore.localfile.AtomicFile` of that path examines, creates,
renames and removes its files relative to the folder's descriptor (``dir_fd``),
so a folder swapped for a link meanwhile cannot lead it elsewhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from securestore.errors import LocalFileError, PolicyError

__all__ = [
    "Placement",
    "examine_at",
    "link_refused",
    "placed",
    "placed_folder",
    "placement_for",
    "special_file_refused",
]


@dataclass(frozen=True)
class Placement:
    """Where a confined download goes: the file ``name`` in the open folder ``dir_fd``.

    Made by :mod:`securestore.confine`, which owns ``dir_fd`` (the folder was
    reached from the destination root without following a link).

    Attributes:
        path: the destination as the download names it (an ``AtomicFile`` of
            another path is not placed).
        dir_fd: the folder, open (``O_DIRECTORY``).
        name: the file's name in it.
        recheck: called just before the rename: raises (:class:`PolicyError`) when
            ``path`` no longer leads to that folder (a link swapped in meanwhile).
        umask: the process's umask as the job read it once (reading it costs two
            system calls and a lock per file); ``None``: read it for this file.
    """

    path: str
    dir_fd: int
    name: str
    recheck: Callable[[], None]
    umask: int | None = None


_placement: contextvars.ContextVar[Placement | None] = contextvars.ContextVar(
    "securestore_placement", default=None
)


@contextlib.contextmanager
def placed(placement: Placement) -> Iterator[None]:
    """Inside the block, an ``AtomicFile`` of ``placement.path`` works through its folder.

    A context variable rather than an argument: the download goes through the
    store's public ``download_file``, whose signature does not carry it.
    """
    token = _placement.set(placement)
    try:
        yield
    finally:
        _placement.reset(token)


def placement_for(path: Path) -> Placement | None:
    """The placement of ``path`` in the current context, if any."""
    placement = _placement.get()
    return placement if placement is not None and placement.path == os.fspath(path) else None


def placed_folder(folder: Path) -> bool:
    """Whether ``folder`` is the current placement's folder (open already: never made by path)."""
    placement = _placement.get()
    return placement is not None and os.path.dirname(placement.path) == os.fspath(folder)


def examine_at(at: Placement, path: Path, *, overwrite_readonly: bool) -> os.stat_result | None:
    """What ``AtomicFile`` finds at a placed destination ``path``: its status, or None if missing.

    As for a destination by path, except that a link is refused, never followed
    (the walk refused one already: this one was put there since).

    Raises:
        PolicyError: the destination is a symbolic link, a FIFO, a device or a socket.
        LocalFileError: a directory, a read-only file (without ``overwrite_readonly``),
            or it cannot be examined.
    """
    try:
        info = os.stat(at.name, dir_fd=at.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError(f"cannot use {path}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise link_refused(path)
    if stat.S_ISDIR(info.st_mode):
        raise LocalFileError(f"destination is a directory: {path}")
    if not stat.S_ISREG(info.st_mode):
        raise special_file_refused(path)
    if os.geteuid() == 0:  # as localfile._may_write: root is stopped only by no write bit
        writable = bool(info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    else:
        effective = os.access in os.supports_effective_ids
        writable = os.access(at.name, os.W_OK, dir_fd=at.dir_fd, effective_ids=effective)
    if not overwrite_readonly and not writable:
        raise LocalFileError(
            f"destination is read-only: {path}",
            hint="make it writable, or replace it anyway with --force "
            "(library: overwrite_readonly=True)",
        )
    return info


def link_refused(path: Path) -> PolicyError:
    """The error for a symbolic link at a name a download would write."""
    return PolicyError(
        f"refusing to write through the symbolic link {path}",
        hint="a download never replaces a link or the file it points to: "
        "remove the link, or download to another folder",
    )


def special_file_refused(path: Path) -> PolicyError:
    """The error for a FIFO, device or socket at a name a key gave: another local user
    may have put it there to receive the plaintext (only a path the caller names, such
    as ``/dev/stdout``, is written through)."""
    return PolicyError(
        f"refusing to write into {path}: it is not a regular file (a FIFO, device or socket)",
        hint="a download into a folder replaces only regular files: remove it, or name "
        "the destination itself to write through it",
    )

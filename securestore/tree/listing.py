"""Streaming listings of both sides, in one order: UTF-8 byte order of the relative path.

S3's ListObjectsV2 returns keys in UTF-8 binary order. The local walk yields
files in the same order (a directory sorts as its name plus ``/``), one
directory listing at a time, so that a sync can merge-join the two sides
without holding either tree in memory.
"""

from __future__ import annotations

import datetime
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from securestore.partials import is_partial_name
from securestore.store import SecureStore

__all__ = ["NOT_UTF8", "Entry", "Problem", "list_prefix", "sort_key", "valid_utf8", "walk_local"]


@dataclass(frozen=True)
class Entry:
    """One file or object below a root.

    ``size`` is what the listing says (for an S3 object: the stored size, which
    for a client-side object is the ciphertext's); ``mtime`` is seconds since the
    epoch (an object's LastModified).
    """

    relative: str
    size: int
    mtime: float
    #: A local file's ctime (when its data or attributes last changed); None for objects.
    changed: float | None = None
    #: A symbolic link itself (a walk that does not follow links: a destination's).
    link: bool = False


@dataclass(frozen=True)
class Problem:
    """A path the walk could not use, and why (reported as skipped or failed)."""

    relative: str
    reason: str
    fatal: bool
    #: A path that should have been transferred and cannot be (a name S3 cannot
    #: store): skipped like the others, but the job does not count as a success.
    refused: bool = False


def sort_key(relative: str) -> bytes:
    """The order both listings share (S3's: UTF-8 bytes)."""
    return relative.encode("utf-8", "surrogateescape")


def walk_local(
    root: Path,
    report: Callable[[Problem], None],
    *,
    follow_symlinks: bool = True,
    utf8_names: bool = False,
) -> Iterator[Entry]:
    """Yield the regular files below ``root`` in :func:`sort_key` order.

    Problems do not stop the walk: a file that vanished between the listing and
    its ``stat`` is reported as skipped (not fatal), as are sockets, FIFOs and
    devices (never opened: opening a FIFO blocks) and broken symbolic links; an
    unreadable directory is reported as fatal (its files cannot be accounted
    for). Symbolic links are followed, except into a directory already on the
    current path (a loop). Without ``follow_symlinks`` (a destination's walk) a
    link, to a file or a folder, is one entry with ``link`` set, never entered,
    so that nothing below a link is replaced or deleted. Our own partial files
    (a download in progress, or killed) are reported as skipped, never yielded.
    With ``utf8_names`` (a tree job: S3 keys are UTF-8),
    a file or folder whose name is not valid UTF-8 (bytes Python decoded with
    ``surrogateescape``) is reported as skipped and ``refused``, never yielded.
    """
    yield from _walk(root, "", report, follow_symlinks, _chain(root), utf8_names)


def _chain(path: Path) -> frozenset[tuple[int, int]]:
    try:
        info = os.stat(path)
    except OSError:
        return frozenset()
    return frozenset({(info.st_dev, info.st_ino)})


def _walk(
    folder: Path,
    base: str,
    report: Callable[[Problem], None],
    follow: bool,
    chain: frozenset[tuple[int, int]],
    utf8: bool,
) -> Iterator[Entry]:
    try:
        with os.scandir(folder) as scan:
            names = [entry.name for entry in scan]
    except OSError as exc:
        report(Problem(base or ".", f"cannot list directory: {exc.strerror or exc}", True))
        return
    kinds: list[tuple[bytes, str, os.stat_result | None]] = []
    for name in names:
        relative = base + name
        path = folder / name
        if utf8 and not valid_utf8(name):
            report(Problem(relative, NOT_UTF8, False, refused=True))
            continue
        if is_partial_name(name):
            report(Problem(relative, PARTIAL, False))
            continue
        try:
            info = os.stat(path, follow_symlinks=follow)
        except FileNotFoundError:
            if os.path.lexists(path):
                report(Problem(relative, "broken symbolic link", False))
            else:
                report(Problem(relative, "vanished while the tree was walked", False))
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # links that point at each other: nothing to read
                report(Problem(relative, "symbolic link loop", False))
            else:
                report(Problem(relative, f"cannot stat: {exc.strerror or exc}", True))
            continue
        if stat.S_ISDIR(info.st_mode):
            kinds.append((sort_key(relative + "/"), name, None))
        elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):  # a link: not followed
            kinds.append((sort_key(relative), name, info))
        else:
            report(Problem(relative, "not a regular file", False))
    del names
    kinds.sort(key=lambda item: item[0])
    for _order, name, found in kinds:
        relative = base + name
        if found is not None:
            link = stat.S_ISLNK(found.st_mode)
            yield Entry(relative, found.st_size, found.st_mtime, found.st_ctime, link=link)
            continue
        path = folder / name
        try:
            here = os.stat(path)
        except OSError:
            report(Problem(relative, "vanished while the tree was walked", False))
            continue
        identity = (here.st_dev, here.st_ino)
        if identity in chain:
            report(Problem(relative, "symbolic link loop", False))
            continue
        yield from _walk(path, relative + "/", report, follow, chain | {identity}, utf8)


#: Why a partial file is left out of a tree (a stale one holds a truncated download).
PARTIAL = (
    "a partial file of an unfinished download (not transferred; the next download "
    "of that file removes it once stale)"
)

#: Why a local name cannot become a key.
NOT_UTF8 = "its name is not valid UTF-8, and S3 keys are (rename it, or check the locale)"


def valid_utf8(name: str) -> bool:
    """Whether ``name`` (a local name, decoded with ``surrogateescape``) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_prefix(store: SecureStore, prefix: str) -> Iterator[Entry]:
    """Yield the objects below ``prefix`` (which ends in ``/`` or is empty), page by page.

    Empty objects whose key ends in ``/`` (folder markers made by consoles) are left
    out, as aws-cli leaves them out; one that holds bytes is data, and is listed (a
    download refuses its name, a copy between prefixes copies it).
    """
    for summary in store.list(prefix):
        relative = summary.key[len(prefix) :]
        if not relative or (relative.endswith("/") and summary.size == 0):
            continue
        yield Entry(relative, summary.size, _timestamp(summary.last_modified))


def _timestamp(when: datetime.datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0

"""The hidden partial files downloads are written to, and the removal of stale ones.

Partial files are named ``.NAME.TAG.PID.RANDOM.securestore-partial``: ``NAME`` is
the destination's name cut to :data:`NAME_BYTES` bytes (so that long names fit in
``NAME_MAX``), ``TAG`` eight hex digits of the SHA-256 of the whole name (to tell
apart names that share the cut), ``PID`` the writing process. Each new write to a
destination first removes that destination's stale partial files: those whose
process is gone, and any not modified for :data:`STALE_AFTER` seconds (a process
id can be reused, and a partial file on a shared file system may come from
another host). Only regular files owned by the caller (any, for root) are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import threading
import time
from pathlib import Path

__all__ = [
    "NAME_BYTES",
    "PARTIAL_SUFFIX",
    "STALE_AFTER",
    "is_partial_name",
    "partial_prefix",
    "reap_stale_partials",
]

PARTIAL_SUFFIX = ".securestore-partial"
#: How much of the destination's name a partial file's name repeats (bytes).
#: Leaves room under the 143-byte limit of eCryptfs, the smallest in common use.
NAME_BYTES = 80
#: A partial file not modified for this long is stale whatever its process id says.
STALE_AFTER = 24 * 3600


def partial_prefix(name: str) -> str:
    """The start of every partial file's name for destination ``name`` (up to the PID)."""
    raw = os.fsencode(name)
    cut = raw[:NAME_BYTES]
    # Never end inside a UTF-8 sequence: back off continuation bytes and their lead byte.
    if len(cut) < len(raw) and cut and raw[len(cut)] & 0xC0 == 0x80:
        while cut and cut[-1] & 0xC0 == 0x80:
            cut = cut[:-1]
        cut = cut[:-1]
    tag = hashlib.sha256(raw).hexdigest()[:8]
    return f".{os.fsdecode(cut)}.{tag}."


#: Every partial file's name (see the module docstring), and the older mkstemp form.
_PARTIAL_NAME = re.compile(
    r"\..+\.(?:[0-9a-f]{8}\.[0-9]+\.[0-9a-f]{8}|[a-z0-9_]{8})" + re.escape(PARTIAL_SUFFIX),
    re.DOTALL,
)


def is_partial_name(name: str) -> bool:
    """Whether ``name`` is one of our partial files (a download in progress or killed).

    Tree walkers skip them: a stale one holds a truncated plaintext that must never
    be uploaded, encrypted as if it were a file, or counted by ``sync --delete``.
    """
    return name.endswith(PARTIAL_SUFFIX) and _PARTIAL_NAME.fullmatch(name) is not None


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def reap_stale_partials(
    folder: Path,
    name: str,
    *,
    now: float | None = None,
    prefix: str | None = None,
    dir_fd: int | None = None,
) -> list[str]:
    """Remove stale partial files of destination ``name`` in ``folder``; return their names.

    Best effort: a file that cannot be examined or removed is left alone.
    ``prefix``: :func:`partial_prefix` of ``name``, when the caller has it already.
    ``dir_fd``: ``folder`` open; then it is read, and files removed, through it only.
    """
    prefix = partial_prefix(name) if prefix is None else prefix
    legacy_prefix = f".{name}."
    candidates = [
        n
        for n in _partial_names(folder, dir_fd)
        if n.startswith(prefix) or n.startswith(legacy_prefix)
    ]
    if not candidates:
        # The usual case. Each destination's patterns are new to re's cache: compiling
        # them was a tenth of the CPU of a small file's download in a tree transfer.
        return []
    ours = re.compile(re.escape(prefix) + r"([0-9]+)\.[0-9a-f]{8}" + re.escape(PARTIAL_SUFFIX))
    # Names written before the PID was part of them (tempfile.mkstemp's 8 random characters):
    # only their age can tell that they are stale.
    legacy = re.compile(re.escape(legacy_prefix) + r"[a-z0-9_]{8}" + re.escape(PARTIAL_SUFFIX))
    now = time.time() if now is None else now
    euid = os.geteuid()
    removed: list[str] = []
    for entry_name in candidates:
        match = ours.fullmatch(entry_name)
        if match is None and legacy.fullmatch(entry_name) is None:
            continue
        path = entry_name if dir_fd is not None else os.path.join(folder, entry_name)
        try:
            info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or (euid != 0 and info.st_uid != euid):
            continue
        old = now - info.st_mtime > STALE_AFTER
        orphan = match is not None and not _process_alive(int(match.group(1)))
        if old or orphan:
            with contextlib.suppress(OSError):
                os.unlink(path, dir_fd=dir_fd)
                removed.append(entry_name)
    return removed


#: Seconds a folder's list of partial-file names is reused before the folder is read again.
_SCAN_REUSE = 30.0
_scans: dict[tuple[str, int, int], tuple[float, list[str]]] = {}
_scans_lock = threading.Lock()


def _partial_names(folder: Path, dir_fd: int | None = None) -> list[str]:
    """The names in ``folder`` that end like partial files, from a scan at most 30 s old.

    Reading the whole folder before every download made a sync into one folder of
    n files cost O(n²) (40-60 ms per download at 10,000 files); one scan per folder
    and half-minute serves every download of a tree job. Best effort, like the
    reaping: a partial file that appears after the scan waits for the next one.
    """
    try:
        where = os.stat(folder if dir_fd is None else dir_fd)
    except OSError:
        return []
    key = (os.fspath(folder), where.st_dev, where.st_ino)
    now = time.monotonic()
    with _scans_lock:
        cached = _scans.get(key)
        if cached is not None and now - cached[0] < _SCAN_REUSE:
            return cached[1]
    try:
        # Most names in a folder are not partial files: a string test keeps the list short.
        with os.scandir(folder if dir_fd is None else dir_fd) as entries:  # a fd: read via a dup
            names = [e.name for e in entries if e.name.endswith(PARTIAL_SUFFIX)]
    except OSError:
        return []
    with _scans_lock:
        if len(_scans) > 4096:  # a bound: one entry per folder a process wrote into
            _scans.clear()
        _scans[key] = (now, names)
    return names

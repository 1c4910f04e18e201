"""Confinement by path: :func:`confined_target` and the name check :func:`control_characters`.

Split from :mod:`securestore.confine`, whose :class:`~securestore.confine.Destination`
walks by descriptor: this is the fallback where descriptors cannot be used, and
the by-path writer of ``decrypt -r``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from securestore.errors import LocalFileError, PolicyError
from securestore.localfile import make_folders
from securestore.placement import link_refused, special_file_refused

__all__ = ["confined_target", "control_characters", "inside"]


def inside(real: str, base: str) -> bool:
    """Whether the resolved path ``real`` is ``base`` or below it."""
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def confined_target(
    root: Path, relative: str, *, mode: int = 0o777, real_root: str | None = None
) -> tuple[Path, list[Path]]:
    """The file ``root``/``relative`` a tree job may write; its missing folders are created.

    ``relative`` comes from the other side of the job (an S3 key, another tree): it
    must not lead outside ``root`` through a symbolic link an attacker (or anyone)
    placed in the destination. Each folder below ``root`` is examined with ``lstat``
    and created with ``mkdir`` (which never follows a link); a link among them is
    allowed only if it resolves inside ``root`` (resolved). The final component must
    not be a symbolic link: AtomicFile would replace the file it points to.

    Returns the target and the folders created (outermost first; ``root`` included
    when it was missing). ``mode``: permission bits of created folders (umask applied).
    ``real_root``: ``os.path.realpath(root)``, when the caller keeps it for a whole tree.

    By path, for the writers that open their file by path (``decrypt -r``), and
    where :data:`~securestore.confine.DESCRIPTORS` is false
    (:class:`~securestore.confine.Destination` uses it there).
    Remaining window: a local user who can write inside the destination may swap a
    checked folder for a link between this check and the write's rename (the
    partial file is opened, and renamed, by path): use
    :class:`~securestore.confine.Destination`, which
    closes it. Against keys chosen by a bucket writer the check is complete: a key
    cannot change the local tree.

    Raises:
        PolicyError: a folder leads outside ``root``, or the file is a symbolic link,
            a FIFO, a device or a socket.
        LocalFileError: a folder cannot be created, or a file is where one should be.
    """
    created: list[Path] = []
    try:
        if not os.path.isdir(root):  # the root the caller named: links in it are theirs
            created.extend(make_folders(root, mode))
        base = os.path.realpath(root) if real_root is None else real_root
        parts = relative.split("/")
        folder = root
        for part in parts[:-1]:
            folder = folder / part
            if _confined_folder(folder, base, mode):
                created.append(folder)
        target = folder / parts[-1]
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return target, created
        except OSError as exc:
            raise LocalFileError(f"cannot use {target}: {exc.strerror or exc}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise link_refused(target)
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise special_file_refused(target)
        return target, created
    except BaseException:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def _confined_folder(folder: Path, base: str, mode: int) -> bool:
    """Make sure ``folder`` is a directory inside ``base``; whether it was created here."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        try:
            os.mkdir(folder, mode)  # mkdir never follows a link at the last component
            return True
        except FileExistsError:  # made meanwhile (a parallel download): examine it
            info = os.lstat(folder)
        except OSError as exc:
            raise LocalFileError(
                f"cannot create {folder}: {exc.strerror or exc}",
                hint="choose a destination in a writable folder",
            ) from exc
    except OSError as exc:
        raise LocalFileError(f"cannot use {folder}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        if not inside(os.path.realpath(folder), base):
            raise PolicyError(
                f"refusing to write through the symbolic link {folder}: "
                "it leads outside the destination",
                hint="a download writes only below its destination: remove the link, "
                "or download to another folder",
            )
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise LocalFileError(f"cannot create {folder}: a file of that name exists")
    return False


#: Characters no local name made from a key may hold: C0 controls, DEL, C1 controls
#: (U+009B is CSI in terminals that honour UTF-8 C1), the bidirectional controls that
#: make one name read as another (``b\u202eTXT.exe`` shows as ``bexe.TXT``), and the
#: line and paragraph separators.
_UNSAFE_IN_NAMES = frozenset(
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u061c\u200e\u200f\u2028\u2029")
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


def control_characters(relative: str) -> bool:
    """Whether ``relative`` (from a key) holds a control character: C0, DEL, C1, a
    bidirectional control or a line/paragraph separator.

    A local file of such a name carries the key's escape sequences to every
    terminal that later lists the folder (``ls``, a shell's completion), where
    securestore's own output escapes them, or spoofs its extension: tree
    downloads and ``decrypt_tree`` skip such names.
    """
    return not _UNSAFE_IN_NAMES.isdisjoint(relative)

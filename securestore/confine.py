"""Where a tree job may write below a local destination root: never through a link out of it.

Split from :mod:`securestore.localfile`, which writes each file once its path is settled.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from securestore.errors import LocalFileError, PolicyError
from securestore.localfile import make_folders

__all__ = ["confined_target"]


def _inside(real: str, base: str) -> bool:
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

    Remaining window: a local user who can write inside the destination may swap a
    checked folder for a link between this check and the download's rename (the
    partial file is opened, and renamed, by path). Closing it would need every step
    of AtomicFile done relative to directory descriptors (``dir_fd``); it is not.
    Against keys chosen by a bucket writer, which is the threat here, the check is
    complete: the key cannot change the local tree.

    Raises:
        PolicyError: a folder leads outside ``root``, or the file is a symbolic link.
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
            raise PolicyError(
                f"refusing to write through the symbolic link {target}",
                hint="a download never replaces a link or the file it points to: "
                "remove the link, or download to another folder",
            )
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
        if not _inside(os.path.realpath(folder), base):
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

"""What a tree job checks before it deletes: a move's copy, a moved source, a local path.

Split from :mod:`securestore.tree.planner`: every delete a tree job makes goes
through here, so the rules that keep data (sizes match, the source is still the
version copied, no link leads to a local file) sit in one room.

A local file is deleted (:func:`delete_local`) relative to its folder's descriptor
where :data:`securestore.confine.DESCRIPTORS` holds: the folders are opened from
the tree's root without following a link, the file is examined there with
``stat(follow_symlinks=False)`` and unlinked there, so a folder swapped for a link
after the walk listed it cannot lead the delete out of the tree. Elsewhere the
check is by path (:func:`check_local_delete`), which leaves a window between the
check and the unlink.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from securestore.confine import DESCRIPTORS, LinkFoundError, open_folder
from securestore.errors import IntegrityError, LocalFileError, PolicyError, PreconditionFailedError
from securestore.objects import ObjectInfo

from .paths import Local, Remote

__all__ = [
    "check_local_delete",
    "delete_local",
    "delete_moved",
    "delete_side",
    "verify_local",
    "verify_size",
]


def verify_size(size: int | None, expected: int, where: str) -> None:
    """Refuse a move whose copy at ``where`` does not hold ``expected`` plaintext bytes."""
    if size is not None and size != expected:
        raise IntegrityError(
            f"{where} holds {size} bytes after the transfer, expected {expected}: "
            "the source was not deleted"
        )


def verify_local(written: int, expected: int | None, info: ObjectInfo, where: str) -> None:
    """Refuse a move whose downloaded file does not hold the object's plaintext length."""
    if expected is not None and written != expected:
        raise IntegrityError(
            f"{where} holds {written} bytes, expected {expected}: s3://{info.bucket}/{info.key} "
            "was not deleted"
        )


def delete_moved(src: Remote, copied: ObjectInfo) -> None:
    """Delete a moved object, unless it is no longer the version that was copied.

    Another writer's object written since the copy read it would be lost: the
    source must still show the copied ETag, and VersionId when S3 gave one.
    """
    now = src.store.head(src.prefix)
    if now.etag != copied.etag or (copied.version_id and now.version_id != copied.version_id):
        raise PreconditionFailedError(
            f"{src.describe()} changed after it was copied (another writer?): not deleted",
            hint="compare the source with its copy, then delete the one you do not need",
        )
    src.store.delete(src.prefix)


def check_local_delete(root: Local, relative: str) -> None:
    """Refuse to delete a destination file through a link (the walk listed none: a race)."""
    path = root.path / relative
    folder = os.path.realpath(path.parent)
    walked = os.path.join(os.path.realpath(root.path), *relative.split("/")[:-1])
    if folder != walked or os.path.islink(path):
        raise PolicyError(
            f"not deleting {path}: a symbolic link leads to it",
            hint="--delete never deletes through a link or a link's target",
        )


def _through_link(path: object, hint: str) -> PolicyError:
    return PolicyError(f"not deleting {path}: a symbolic link leads to it", hint=hint)


_DELETE_HINT = "--delete never deletes through a link or a link's target"
_MOVE_HINT = "a move deletes only the files of its own tree, never through a link"


def delete_local(root: Local, relative: str, *, link: bool = False) -> None:
    """Delete ``root``/``relative``, never through a folder that is a link (a race).

    ``link``: a final component that is a link may go (a move's own entry: the
    link, never its target); without it a link is refused (``sync --delete``).
    A file already gone is not an error for ``sync --delete`` (``link`` false),
    and is for a move (its upload just read it).

    Raises:
        PolicyError: a folder on the way, or the file itself (without ``link``),
            is a symbolic link.
        OSError: the file cannot be deleted.
    """
    path = root.path / relative
    hint = _MOVE_HINT if link else _DELETE_HINT
    if not DESCRIPTORS:
        if not link:
            check_local_delete(root, relative)
            delete_side(Local(path))
            return
        _check_folder(root, relative, hint)
        os.unlink(path)
        return
    parts = relative.split("/")
    try:
        fd = os.open(root.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise LocalFileError(f"cannot use {root.path}: {exc.strerror or exc}") from exc
    try:
        for name in parts[:-1]:
            try:
                child, _ = open_folder(fd, name)
            except LinkFoundError:
                raise _through_link(path, hint) from None
            except FileNotFoundError:
                if link:
                    raise
                return  # gone with its folder
            os.close(fd)
            fd = child
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            if link:
                raise
            return
        if stat.S_ISLNK(info.st_mode) and not link:
            raise _through_link(path, hint)
        # Between this look and the unlink only this folder's entry can change: an
        # unlink never follows a link, so nothing outside the tree can go.
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            if link:
                raise
    finally:
        os.close(fd)


def _check_folder(root: Local, relative: str, hint: str = _MOVE_HINT) -> None:
    """Refuse to delete ``root``/``relative`` when a folder on its way resolves elsewhere."""
    path = root.path / relative
    folder = os.path.realpath(path.parent)
    walked = os.path.join(os.path.realpath(root.path), *relative.split("/")[:-1])
    if folder != walked:
        raise _through_link(path, hint)


def delete_side(side: Local | Remote) -> None:
    """Delete the object or file (a file already gone is not an error)."""
    if isinstance(side, Remote):
        side.store.delete(side.prefix)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(side.path)


def check_local_root(root: Path) -> None:
    """Refuse, before any object is tried, a local tree destination no file can go into:
    ``root`` (or the nearest part of it that exists) is not a directory, or cannot be
    written (a read-only file system or folder). Else every object would fail alike.

    Raises:
        LocalFileError: with the path that is in the way.
    """
    existing = root
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not os.path.isdir(existing):  # the path the caller named: links in it are theirs
        raise LocalFileError(
            f"the destination is not a directory: {existing}",
            hint="give a folder (it is created if missing), not a file",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LocalFileError(
            f"cannot write into {existing}: "
            + ("read-only file system" if _read_only(existing) else "permission denied"),
            hint="choose a destination folder you may write to",
        )


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False

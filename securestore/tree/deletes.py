"""What a tree job checks before it deletes: a move's copy, a moved source, a local path.

Split from :mod:`securestore.tree.planner`: every delete a tree job makes goes
through here, so the rules that keep data (sizes match, the source is still the
version copied, no link leads to a local file) sit in one room.
"""

from __future__ import annotations

import contextlib
import os

from securestore.bucket import ObjectInfo
from securestore.errors import IntegrityError, PolicyError, PreconditionFailedError

from .paths import Local, Remote

__all__ = ["check_local_delete", "delete_moved", "delete_side", "verify_local", "verify_size"]


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


def delete_side(side: Local | Remote) -> None:
    """Delete the object or file (a file already gone is not an error)."""
    if isinstance(side, Remote):
        side.store.delete(side.prefix)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(side.path)

"""Deciding what a sync transfers: a merge-join of two sorted listings, aws-cli's rules.

A file is transferred when it is missing at the destination, when the sizes
differ, or when the source is newer than the destination (whole seconds: S3's
LastModified has no fractions). ``size_only`` ignores times; ``exact_timestamps``
transfers same-size files whose times differ at all.

Sizes and times of client-side objects: S3's size and ETag are the
ciphertext's, so the comparison uses what the upload stored in the object's
metadata: ``securestore-plaintext-length`` (the plaintext size) and
``securestore-mtime`` (the source file's mtime). These are only known from a
HEAD, which is therefore made, on the pool, for each pair present on both
sides whenever a keyring is in play.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from securestore.bucket import ObjectInfo
from securestore.clientside import FORMAT_METADATA, LENGTH_METADATA

from .listing import Entry, sort_key

__all__ = ["MTIME_METADATA", "Rules", "facts", "merge"]

#: The source file's mtime (seconds since the epoch, decimal), stored by tree uploads.
MTIME_METADATA = "securestore-mtime"


@dataclass(frozen=True)
class Rules:
    """How a sync compares a source file with its destination."""

    size_only: bool = False
    exact_timestamps: bool = False

    def differs(
        self, src_size: int | None, src_time: float, dst_size: int | None, dst_time: float
    ) -> bool:
        """Whether the source must be transferred over the destination (unknown sizes differ)."""
        if src_size is None or dst_size is None or src_size != dst_size:
            return True
        if self.size_only:
            return False
        if self.exact_timestamps:
            return math.floor(src_time) != math.floor(dst_time)
        return math.floor(src_time) > math.floor(dst_time)


def facts(info: ObjectInfo, listed: Entry | None = None) -> tuple[int | None, float]:
    """The (plaintext size, time) a comparison uses for an object.

    For a client-side object: the stored plaintext length (``None`` when the
    upload did not know it) and the stored source mtime, else LastModified.
    """
    when = (
        info.last_modified.timestamp() if info.last_modified else (listed.mtime if listed else 0.0)
    )
    if FORMAT_METADATA not in info.metadata:
        return info.size, when
    size: int | None
    try:
        size = int(info.metadata[LENGTH_METADATA])
    except (KeyError, ValueError):
        size = None
    return size, stored_mtime(info) or when


def stored_mtime(info: ObjectInfo) -> float | None:
    """The ``securestore-mtime`` of an object, if it is a plausible number."""
    try:
        value = float(info.metadata[MTIME_METADATA])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def merge(
    source: Iterator[Entry], destination: Iterator[Entry]
) -> Iterator[tuple[Entry | None, Entry | None]]:
    """Pair entries of two listings sorted by :func:`sort_key` (a merge-join).

    Yields ``(source, destination)`` with ``None`` on the side that lacks the path.
    """
    src = next(source, None)
    dst = next(destination, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and sort_key(src.relative) < sort_key(dst.relative)):
            yield src, None
            src = next(source, None)
        elif src is None or sort_key(dst.relative) < sort_key(src.relative):
            yield None, dst
            dst = next(destination, None)
        else:
            yield src, dst
            src = next(source, None)
            dst = next(destination, None)

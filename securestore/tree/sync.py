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
sides whenever a keyring is in play, except where the listing already decides
an upload (:class:`ListedSizes`): a source file newer than the object's
LastModified is transferred, and once one HEAD has shown the header length of
the job's messages, a listed ciphertext size gives the exact plaintext size of
every object written the same way.

A download sync decides from the listing the same way
(:meth:`ListedSizes.decide_download`): an object written after the local file
last changed (its ctime) is downloaded, and a file whose size is the object's
plaintext size and that changed at least :data:`SETTLE_SECONDS` after the
object was written is left alone. What the listing cannot decide is HEADed.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from securestore.clientside import FORMAT_METADATA, LENGTH_METADATA
from securestore.errors import FormatError
from securestore.message.sizes import body_length, plaintext_length
from securestore.objects import ObjectInfo

from .listing import Entry, sort_key

__all__ = ["MTIME_METADATA", "ListedSizes", "Rules", "facts", "merge"]

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


#: The last second of year 9999: no later time is a file's (nor a datetime's).
_LATEST_MTIME = 253402300799.0


def stored_mtime(info: ObjectInfo) -> float | None:
    """The ``securestore-mtime`` of an object, if it is a plausible number.

    Anyone who can write the object sets it: a time no file can be given (negative,
    past year 9999, not finite) counts as none.
    """
    try:
        value = float(info.metadata[MTIME_METADATA])
    except (KeyError, ValueError):
        return None
    return value if 0 <= value <= _LATEST_MTIME else None


#: Seconds a source file must be older than its object's LastModified for the listing
#: alone to call it unchanged: a file written while (or just before) its upload was
#: sent may differ from what was stored, and only the stored mtime (a HEAD) tells.
SETTLE_SECONDS = 2.0


class ListedSizes:
    """Upload decisions a sync can take from the destination's listing alone.

    Our client-side messages (unsigned suite) are exactly ``header + body``, the
    body's length a strictly increasing function of the plaintext length and the
    frame length, and the header's length the same for every object written the
    same way (keyring, data keys, context) except for the object's key, which the
    context holds once. One HEAD of such an object (its ciphertext size, stored
    plaintext length and key) gives that header length; from then on a listed
    ciphertext size maps to exactly one plaintext size. An object written another
    way (another keyring, frame length or writer) maps to no size or to another
    one, and is decided by a HEAD as before. The most common header length seen
    is the one used. Thread-safe: HEADs run on the pool.
    """

    def __init__(self, frame_length: int, rules: Rules) -> None:
        self._frame_length = frame_length
        self._rules = rules
        self._lock = threading.Lock()
        self._seen: Counter[int] = Counter()

    def learn(self, key: str, info: ObjectInfo) -> None:
        """Record the header length of ``info`` (a HEAD of the object at ``key``)."""
        if FORMAT_METADATA not in info.metadata:
            return
        try:
            stored = int(info.metadata[LENGTH_METADATA])
        except (KeyError, ValueError):
            return
        if stored < 0:
            return
        rest = info.size - body_length(stored, self._frame_length) - _key_length(key)
        if rest > 0:
            with self._lock:
                self._seen[rest] += 1

    def plaintext_size(self, key: str, ciphertext_size: int) -> int | None:
        """The plaintext size a listed object of our usual header would hold, if any."""
        with self._lock:
            common = self._seen.most_common(1)
        if not common:
            return None
        header = common[0][0] + _key_length(key)
        try:
            return plaintext_length(ciphertext_size, self._frame_length, header)
        except FormatError:
            return None

    def decide(self, key: str, source: Entry, listed: Entry) -> bool | None:
        """Whether the local ``source`` must be uploaded over ``listed``; ``None``: HEAD it.

        ``True`` when the file is newer than the object's LastModified (which is
        never earlier than the mtime stored at upload), ``False`` when the
        listing shows the same plaintext size and the file is older than the
        upload by :data:`SETTLE_SECONDS`.
        """
        if self._rules.exact_timestamps:
            return None  # needs the stored mtime itself
        newer = math.floor(source.mtime) > math.floor(listed.mtime)
        if newer and not self._rules.size_only:
            return True
        if self.plaintext_size(key, listed.size) != source.size:
            return None
        if self._rules.size_only or source.mtime + SETTLE_SECONDS <= listed.mtime:
            return False
        return None

    def decide_download(self, key: str, remote: Entry, local: Entry) -> bool | None:
        """Whether the object ``remote`` must be downloaded over ``local``; ``None``: HEAD it.

        ``True`` when the object was written after the file last changed (the
        ctime rule of the HEAD comparison, which needs only the listing),
        ``False`` when the listing shows the file's size as the plaintext size
        and the file changed at least :data:`SETTLE_SECONDS` after the object was
        written (a download sets the file's mtime, never its ctime, so the file
        was written or looked at after this version of the object existed; an
        edit after that keeps the file, as its newer mtime would after a HEAD).
        ``exact_timestamps`` needs the stored mtime itself: a HEAD.

        What only a HEAD would catch (as the upload side's margin, bounded by
        :data:`SETTLE_SECONDS`): this machine's clock ahead of S3's by more than
        the margin; an object whose PUT began (S3's LastModified) before the
        download and completed after it; a same-size local file put in place
        after the object with an older mtime (``cp -p`` of an old version),
        which a HEAD would have replaced by the object's newer stored mtime.
        """
        changed = local.changed
        if changed is None:
            return None
        if not self._rules.size_only and math.floor(remote.mtime) > math.floor(changed):
            return True
        if self._rules.exact_timestamps:
            return None
        if self.plaintext_size(key, remote.size) != local.size:
            return None  # not sized yet, another writer, or not a message (SSE): a HEAD
        if self._rules.size_only or remote.mtime + SETTLE_SECONDS <= changed:
            return False
        return None


def _key_length(key: str) -> int:
    return len(key.encode("utf-8", "surrogateescape"))


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

"""The sampled object scan: a bounded listing, a deterministic spread, a shared budget.

``securestore audit --sample-objects N`` lists each bucket page by page (up to
``AuditOptions.max_listed_keys`` keys), keeps an evenly spread subset of what it
saw (:class:`Spread`: every k-th key, k doubling as the listing grows, so memory
stays bounded and the same bucket gives the same sample) and inspects N of them
(:func:`inspect_object`). An :class:`ObjectBudget` shared by every bucket of the
audit bounds the objects inspected and the time spent; when it runs out the
bucket's :class:`~securestore.audit.samples.ObjectCoverage` says so, and the
checks report partial coverage instead of a pass.

Every call goes through the collector's recording call, so a failure is this
object's recorded error, never an exception; botocore's timeouts bound each wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from securestore.audit.collected import Collected, CollectionError
from securestore.audit.object_format import crypto_metadata, is_instruction_key
from securestore.audit.options import ALGORITHM_RANK
from securestore.audit.samples import ObjectCoverage, ObjectSample
from securestore.errors import ConfigurationError
from securestore.s3ec.metadata import INSTRUCTION_SUFFIX, has_s3ec_metadata, needs_instruction_file

__all__ = ["Call", "ObjectBudget", "Spread", "inspect_object", "sample_bucket"]

#: ``call(operation, method, **kwargs)``: one recorded call (never raises).
Call = Callable[..., Collected[Any]]

#: Bytes of an object's body read when its encryption must be told from them.
HEAD_BYTES = 8
#: The largest instruction file read (``securestore.s3ec.metadata`` refuses larger).
_INSTRUCTION_BYTES = 64 * 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PAGE = 1000


class ObjectBudget:
    """How many objects the whole audit may inspect, and for how long (thread-safe).

    ``max_objects`` counts inspected objects (each costs a HEAD, plus a ranged GET
    of its first bytes or of its instruction file when needed); ``max_seconds``
    starts at the first use. ``None`` means unbounded.
    """

    def __init__(
        self,
        max_objects: int | None = None,
        max_seconds: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_objects is not None and max_objects < 0:
            raise ConfigurationError("the object budget must not be negative")
        if max_seconds is not None and max_seconds <= 0:
            raise ConfigurationError("the object time budget must be positive")
        self._left = max_objects
        self._seconds = max_seconds
        self._clock = clock
        self._deadline: float | None = None
        self._lock = threading.Lock()

    def _out_of_time(self) -> bool:
        if self._seconds is None:
            return False
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self._seconds
        return now >= self._deadline

    def exhausted(self) -> str | None:
        """What ran out (``time-budget``, ``object-budget``) without spending anything:
        a bucket is not even listed once nothing is left to inspect its objects."""
        with self._lock:
            if self._out_of_time():
                return "time-budget"
            return "object-budget" if self._left is not None and self._left <= 0 else None

    def take(self) -> str | None:
        """Spend one object; ``None`` if allowed, else what ran out."""
        with self._lock:
            if self._out_of_time():
                return "time-budget"
            if self._left is None:
                return None
            if self._left <= 0:
                return "object-budget"
            self._left -= 1
            return None


class Spread:
    """An evenly spread, deterministic subset of a listing of unknown length.

    Keeps the keys at positions ``0, k, 2k, ...``; when ``2 * count`` are kept,
    ``k`` doubles and every other kept key goes, so at most ``2 * count`` keys
    are held however long the listing is.
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ConfigurationError("a sample needs at least one object")
        self._count = count
        self._stride = 1
        self._seen = 0
        self._kept: list[str] = []

    @property
    def seen(self) -> int:
        """Keys offered so far."""
        return self._seen

    def offer(self, key: str) -> None:
        """Consider the next key of the listing."""
        if self._seen % self._stride == 0:
            self._kept.append(key)
            if len(self._kept) >= 2 * self._count:
                self._kept = self._kept[::2]
                self._stride *= 2
        self._seen += 1

    def chosen(self) -> list[str]:
        """``count`` keys (all, if fewer were seen), evenly spread over everything seen,
        in listing order: the kept key nearest to each of ``0, seen/count, ...``."""
        kept = self._kept
        if len(kept) <= self._count:
            return list(kept)
        step = self._seen / (self._count * self._stride)
        return [kept[min(len(kept) - 1, math.floor(i * step + 0.5))] for i in range(self._count)]


def sample_bucket(
    call: Call,
    s3: Any,
    bucket: str,
    *,
    count: int,
    require_rank: int,
    budget: ObjectBudget,
    max_listed: int,
    page_size: int = _PAGE,
) -> tuple[Collected[tuple[ObjectSample, ...]], ObjectCoverage]:
    """Sample ``count`` objects spread over (up to ``max_listed`` keys of) ``bucket``.

    A listing that fails on its first page fails the field (the checks report
    ERROR); one that fails later, or a budget that runs out, is partial coverage.
    """
    spread = Spread(count)
    # Every listed key (bounded by max_listed): KEY sorts before KEY.instruction, so the
    # listing alone says whether an object has an instruction file and vice versa.
    listed: set[str] = set()
    stopped: str | None = None
    complete = False
    token: str | None = None
    first = True
    while spread.seen < max_listed:
        stopped = budget.exhausted()
        if stopped is not None:
            break
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "MaxKeys": min(page_size, max_listed - spread.seen),
        }
        if token:
            kwargs["ContinuationToken"] = token
        page = call("ListObjectsV2", s3.list_objects_v2, **kwargs)
        if not page.is_ok:
            if first:
                return Collected.failed(page.error), ObjectCoverage(count, 0, False, 0)  # type: ignore[arg-type]
            stopped = f"failed listing ({page.error})"
            break
        first = False
        answer = page.get()
        for item in answer.get("Contents", []):
            spread.offer(str(item["Key"]))
            listed.add(str(item["Key"]))
        token = answer.get("NextContinuationToken")
        if not answer.get("IsTruncated") or not token:
            complete = True
            break
    samples: list[ObjectSample] = []
    last = max(listed, default="")  # S3 lists in UTF-8 byte order, which str order matches
    for key in spread.chosen():
        ran_out = budget.take()
        if ran_out is not None:
            stopped = stopped or ran_out
            break
        instruction_listed = key + INSTRUCTION_SUFFIX in listed
        # Past the end of an incomplete listing nothing is known: look.
        known = complete or (key + INSTRUCTION_SUFFIX) <= last
        parent = key[: -len(INSTRUCTION_SUFFIX)] if key.endswith(INSTRUCTION_SUFFIX) else None
        samples.append(
            inspect_object(
                call,
                s3,
                bucket,
                key,
                require_rank=require_rank,
                instruction_listed=instruction_listed if known else None,
                parent_listed=(parent in listed) if parent is not None else None,
            )
        )
    coverage = ObjectCoverage(
        requested=count,
        listed=spread.seen,
        listing_complete=complete,
        sampled=len(samples),
        stopped_by=stopped,
    )
    return Collected.ok(tuple(samples)), coverage


def inspect_object(
    call: Call,
    s3: Any,
    bucket: str,
    key: str,
    *,
    require_rank: int,
    version_id: str | None = None,
    instruction_listed: bool | None = None,
    parent_listed: bool | None = None,
) -> ObjectSample:
    """HEAD one object and read what its format needs: its first bytes (only when it is
    neither server-side encrypted as required nor S3EC), its instruction file (an S3EC
    object whose data key lives there, or an object without any mapkey whose
    ``KEY.instruction`` exists), or whether the object of an instruction file exists.

    ``version_id`` inspects that version (the instruction file and the parent object
    are the current ones, as S3EC readers use them). ``instruction_listed`` /
    ``parent_listed`` say what the listing showed about ``KEY.instruction`` / the
    object of an instruction file (``None``: unknown, so it is asked): an unlisted
    instruction file is not read; a listed parent is not asked again, an unlisted
    one is confirmed with a HEAD.
    """
    pinned = {"VersionId": version_id} if version_id else {}
    head = call("HeadObject", s3.head_object, Bucket=bucket, Key=key, **pinned)
    if not head.is_ok:
        return ObjectSample(key, error=head.error)
    h = head.get()
    sse = h.get("ServerSideEncryption")
    metadata = {str(k): str(v) for k, v in (h.get("Metadata") or {}).items()}
    crypto = crypto_metadata(metadata)
    first: bytes | None = None
    instruction: Collected[bytes | None] | None = None
    parent: Collected[bool] | None = None
    instruction_key = key + INSTRUCTION_SUFFIX
    if is_instruction_key(key, crypto):
        parent = (
            Collected.ok(True)
            if parent_listed
            else _exists(call, s3, bucket, key[: -len(INSTRUCTION_SUFFIX)])
        )
    elif has_s3ec_metadata(crypto):
        if needs_instruction_file(crypto):
            instruction = _read(call, s3, bucket, instruction_key, _INSTRUCTION_BYTES + 1)
    elif instruction_listed is not False:
        # No mapkey at all: a V1/V2 object whose metadata lives in its instruction file?
        instruction = _read(call, s3, bucket, instruction_key, _INSTRUCTION_BYTES + 1)
    found_instruction = instruction is not None and instruction.value is not None
    if (
        not has_s3ec_metadata(crypto)
        and not found_instruction
        and ALGORITHM_RANK.get(sse or "", 0) < require_rank
        and h.get("ContentLength", 0)
    ):
        got = _read(call, s3, bucket, key, HEAD_BYTES, **pinned)
        if not got.is_ok or got.value is None:
            error = got.error or CollectionError("GetObject", "NoSuchKey", "deleted meanwhile")
            return ObjectSample(key, sse=sse, error=error)
        first = got.value
    return ObjectSample(
        key=key,
        sse=sse,
        kms_key_id=h.get("SSEKMSKeyId"),
        metadata_keys=frozenset(k.lower() for k in metadata),
        head=first,
        crypto_metadata=crypto,
        instruction=instruction,
        parent_exists=parent,
    )


def _read(
    call: Call, s3: Any, bucket: str, key: str, size: int, **pinned: str
) -> Collected[bytes | None]:
    """The first ``size`` bytes of ``key``; ``ok(None)`` when it does not exist."""
    got = call(
        "GetObject", s3.get_object, Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}", **pinned
    )
    if not got.is_ok:
        if got.error is not None and got.error.code in _NOT_FOUND:
            return Collected.ok(None)
        return Collected.failed(got.error)  # type: ignore[arg-type]
    try:
        return Collected.ok(bytes(got.get()["Body"].read(size)))
    except Exception as exc:  # a broken body is this object's error, not a crash
        return Collected.failed(CollectionError("GetObject", type(exc).__name__, str(exc)))


def _exists(call: Call, s3: Any, bucket: str, key: str) -> Collected[bool]:
    head = call("HeadObject", s3.head_object, Bucket=bucket, Key=key)
    if head.is_ok:
        return Collected.ok(True)
    if head.error is not None and head.error.code in _NOT_FOUND:
        return Collected.ok(False)
    return Collected.failed(head.error)  # type: ignore[arg-type]

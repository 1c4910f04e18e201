"""Migrating AWS S3 Encryption Client objects to securestore client-side messages, in place.

:func:`migrate_to_client_side` walks a prefix. Each S3EC object (found by its
metadata, or by its ``KEY.instruction`` in the same listing) is opened through
:func:`securestore.s3ec.read.open_s3ec` (authenticated before any byte is
re-encrypted), then rewritten under the same key as a securestore message with
the target :class:`~securestore.clientside.ClientSide` mode. The write keeps the
user metadata (minus the S3EC mapkeys), the Content-Type and the tags, and is
conditional on the source's ETag (``If-Match`` on PutObject or on
CompleteMultipartUpload), so a concurrent writer is never overwritten silently.
Other objects are skipped. Every object gets one :class:`MigrationEntry`, told to
``on_entry`` as it is decided; one failure never stops the rest. The listing
streams: a key waits only until the listing has passed where its
``KEY.instruction`` would be, and the report counts every entry but keeps only
the first :data:`KEPT` failures and :data:`KEPT` others (a prefix may hold millions).

Migration reads S3EC objects without the ``allow_s3ec`` opt-in a store read needs:
converting them is its job. It converts in place whatever S3EC object it finds at
each key; nothing in one binds it to that key (it could have been moved there), so
the caller vouches for the bucket's content. The messages it writes are bound.
"""

from __future__ import annotations

import heapq
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from securestore.aborting import abort_upload, create_upload, upload_closed
from securestore.bucket import BucketAccess
from securestore.clientside import ClientSide, looks_like_message
from securestore.errors import PolicyError, PreconditionFailedError, SecureStoreError
from securestore.kept import KEPT
from securestore.message.materials import Keyring
from securestore.reader import read_capped
from securestore.s3ec.metadata import (
    INSTRUCTION_SUFFIX,
    MAX_INSTRUCTION_FILE,
    S3EC_MAPKEYS,
    has_s3ec_metadata,
    parse_content_metadata,
    parse_instruction_file,
)
from securestore.s3ec.read import open_s3ec
from securestore.transfer import chunk_stream
from securestore.writing import WritePath

__all__ = ["KEPT", "MigrationEntry", "MigrationReport", "migrate_to_client_side"]


@dataclass(frozen=True)
class MigrationEntry:
    """What happened to one object: ``migrated``, ``would migrate``, ``skipped`` or ``failed``."""

    key: str
    status: str
    source: str = ""
    size: int = 0
    version_id: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "key": self.key,
            "status": self.status,
            "source": self.source,
            "size": self.size,
            "version_id": self.version_id,
            "detail": self.detail,
        }


@dataclass
class MigrationReport:
    """What a migration did: a count of every status, and the first entries.

    ``entries`` holds the first :data:`KEPT` failures and the first :data:`KEPT`
    other entries, in the order they were decided (``on_entry`` is told of all).
    """

    bucket: str
    prefix: str
    dryrun: bool
    entries: list[MigrationEntry] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _kept_failed: int = field(default=0, init=False, repr=False)

    def add(self, entry: MigrationEntry) -> None:
        """Count ``entry``; keep it while fewer than :data:`KEPT` of its kind are kept."""
        self._counts[entry.status] = self._counts.get(entry.status, 0) + 1
        failed = entry.status == "failed"
        kept = self._kept_failed if failed else len(self.entries) - self._kept_failed
        if kept < KEPT:
            self.entries.append(entry)
            self._kept_failed += failed

    def counts(self) -> dict[str, int]:
        """How many objects ended in each status (kept in ``entries`` or not)."""
        if self._counts:
            return dict(self._counts)
        out: dict[str, int] = {}  # a report built by hand: its entries
        for entry in self.entries:
            out[entry.status] = out.get(entry.status, 0) + 1
        return out

    @property
    def total(self) -> int:
        """How many objects the migration looked at."""
        return sum(self.counts().values())

    @property
    def failed(self) -> list[MigrationEntry]:
        """The kept entries that failed (``counts()["failed"]`` counts them all)."""
        return [entry for entry in self.entries if entry.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready report (the kept entries; ``counts`` counts all)."""
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "dryrun": self.dryrun,
            "counts": self.counts(),
            "objects": [entry.to_dict() for entry in self.entries],
        }


#: Bytes of an instruction file read: one more than parse_instruction_file accepts.
_INSTRUCTION_PROBE = MAX_INSTRUCTION_FILE + 1


def _describe(metadata: Mapping[str, str], instruction: Mapping[str, str] | None) -> str:
    parsed = parse_content_metadata(metadata, instruction)
    where = " (instruction file)" if parsed.instruction_file else ""
    return f"S3EC V{parsed.version} {parsed.content_cipher} {parsed.wrap_alg}{where}"


def _listing(access: BucketAccess, prefix: str) -> Iterator[tuple[str, int]]:
    # The checked listing: migrate rewrites what it lists, never a key outside ``prefix``.
    for summary in access.summaries(prefix):
        yield summary.key, summary.size


def _paired(listing: Iterator[tuple[str, int]]) -> Iterator[tuple[str, int, bool, bool]]:
    """``(key, size, has_instruction, is_instruction)`` for each listed key.

    ``has_instruction``: ``KEY.instruction`` is listed too; ``is_instruction``: the key
    is the instruction file of a listed key. The listing comes in S3's order (checked:
    securestore.pagination), in which ``KEY.instruction`` follows ``KEY``, so a key is
    decided once the listing has passed its instruction file's name; only the keys
    in between wait (``KEY-a``, ``KEY.a``...: few in any real prefix).
    """
    waiting: dict[str, list[Any]] = {}  # key -> [size, has_instruction, is_instruction]
    due: list[tuple[str, str]] = []  # (the instruction file's name, key): a heap
    for key, size in listing:
        # Code point order is UTF-8 byte order (S3's).
        while due and due[0][0] < key:
            _, ready = heapq.heappop(due)
            yield (ready, *waiting.pop(ready))
        base = key[: -len(INSTRUCTION_SUFFIX)] if key.endswith(INSTRUCTION_SUFFIX) else None
        instruction = base is not None and base in waiting
        if base is not None and instruction:
            waiting[base][1] = True
        waiting[key] = [size, False, instruction]
        heapq.heappush(due, (key + INSTRUCTION_SUFFIX, key))
    while due:
        _, ready = heapq.heappop(due)
        yield (ready, *waiting.pop(ready))


def migrate_to_client_side(
    access: BucketAccess,
    prefix: str,
    *,
    target: ClientSide,
    unwrap: Keyring,
    context: Mapping[str, str] | None = None,
    allow_legacy_unauthenticated: bool = False,
    dryrun: bool = False,
    on_entry: Callable[[MigrationEntry], None] | None = None,
) -> MigrationReport:
    """Rewrite every S3EC object under ``prefix`` as a securestore message.

    Args:
        access: the bucket.
        prefix: the keys to consider.
        target: the client-side mode of the new messages.
        unwrap: the keyring that unwraps the S3EC data keys.
        context: the S3EC encryption context the objects must carry (``kms+context``).
        allow_legacy_unauthenticated: **weakens the read**: also migrate the
            unauthenticated legacy S3EC modes (see :func:`~securestore.s3ec.read.open_s3ec`).
        dryrun: only classify; write nothing.
        on_entry: told of each object's entry as it is decided.

    Raises:
        StorageError: the listing itself failed (per-object failures are entries).
    """
    report = MigrationReport(access.bucket, prefix, dryrun)
    for key, size, has_instruction, is_instruction in _paired(_listing(access, prefix)):
        if is_instruction:
            entry = MigrationEntry(key, "skipped", size=size, detail="instruction file")
        else:
            try:
                entry = _one(
                    access,
                    key,
                    has_instruction=has_instruction,
                    target=target,
                    unwrap=unwrap,
                    context=context,
                    allow_legacy=allow_legacy_unauthenticated,
                    dryrun=dryrun,
                )
            except SecureStoreError as exc:
                detail = f"{type(exc).__name__}: {exc}"
                entry = MigrationEntry(key, "failed", size=size, detail=detail)
        report.add(entry)
        if on_entry is not None:
            on_entry(entry)
    return report


def _one(
    access: BucketAccess,
    key: str,
    *,
    has_instruction: bool,
    target: ClientSide,
    unwrap: Keyring,
    context: Mapping[str, str] | None,
    allow_legacy: bool,
    dryrun: bool,
) -> MigrationEntry:
    info = access.head(key)
    if not has_s3ec_metadata(info.metadata) and not has_instruction:
        return MigrationEntry(
            key, "skipped", size=info.size, detail="not an S3 Encryption Client object"
        )
    instruction = None
    if has_instruction:
        with access.boundary("read", key + INSTRUCTION_SUFFIX):
            # One byte past the largest instruction file parse accepts, and no more.
            name = key + INSTRUCTION_SUFFIX
            body = access.get_range(name, 0, _INSTRUCTION_PROBE - 1)
            text = read_capped(body["Body"], _INSTRUCTION_PROBE, bucket=access.bucket, key=name)
            instruction = parse_instruction_file(text)
    source = _describe(info.metadata, instruction)
    if dryrun:
        return MigrationEntry(key, "would migrate", source, info.size, info.version_id)
    reader = open_s3ec(
        access,
        key,
        unwrap,
        context=context,
        allow_legacy_unauthenticated=allow_legacy,
        info=info,
    )
    with access.boundary("read", key):
        tags = access.s3.get_object_tagging(Bucket=access.bucket, Key=key).get("TagSet", [])
    metadata = {k: v for k, v in info.metadata.items() if k not in S3EC_MAPKEYS}
    with reader:
        new_etag = _write(access, key, reader, info.etag, target, metadata, info.content_type, tags)
    _verify(access, key, new_etag)
    left = f"; {key}{INSTRUCTION_SUFFIX} left in place" if has_instruction else ""
    return MigrationEntry(
        key, "migrated", source, reader.size, info.version_id, f"rewritten as a message{left}"
    )


def _write(
    access: BucketAccess,
    key: str,
    reader: Any,
    etag: str,
    target: ClientSide,
    metadata: dict[str, str],
    content_type: str | None,
    tags: list[dict[str, str]],
) -> str:
    """Encrypt ``reader`` into ``key`` if it still has ``etag``; the new ETag."""
    plan = WritePath(access).plan(key, target, reader.size, metadata)
    params: dict[str, Any] = {"Bucket": access.bucket, "Key": key, **target.request_params()}
    params["Metadata"] = plan.metadata
    if content_type:
        params["ContentType"] = content_type
    if tags:
        params["Tagging"] = urllib.parse.urlencode({t["Key"]: t["Value"] for t in tags})
    parts = chunk_stream(reader, plan.part_size)
    first = next(parts)
    s3 = access.s3
    with access.boundary("migrate", key):
        if first.last:
            response = s3.put_object(Body=bytes(plan.body(first)), IfMatch=etag, **params)
            return str(response.get("ETag", ""))
        upload_id = create_upload(s3.create_multipart_upload, params)["UploadId"]
        committing = False
        try:
            done = []
            for part in (first, *parts):
                answer = s3.upload_part(
                    Bucket=access.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part.number,
                    Body=bytes(plan.body(part)),
                )
                done.append({"PartNumber": part.number, "ETag": answer["ETag"]})
            # Some servers ignore If-Match on the completion: look once more first.
            if access.head(key).etag != etag:
                raise PreconditionFailedError(
                    "the object changed while it was being migrated",
                    bucket=access.bucket,
                    key=key,
                    code="PreconditionFailed",
                    hint="migrate it again once nobody writes to it",
                )
            committing = True
            completed = s3.complete_multipart_upload(
                Bucket=access.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
                IfMatch=etag,
            )
        except BaseException as exc:
            abort_upload(
                s3,
                access.bucket,
                key,
                upload_id,
                interrupted=not isinstance(exc, Exception),
                committing=committing,
            )
            raise
        upload_closed(access.bucket, key, upload_id)
        return str(completed.get("ETag", ""))


def _verify(access: BucketAccess, key: str, etag: str) -> None:
    """The object now under ``key`` is the message just written (a server may ignore If-Match)."""
    info = access.head(key)
    if info.etag != etag:
        raise PreconditionFailedError(
            "the object changed while it was being migrated; it holds another writer's version",
            bucket=access.bucket,
            key=key,
            hint="migrate it again once nobody writes to it",
        )
    with access.boundary("read", key):
        first = access.get_range(key, 0, 63, etag=etag)
        probe = read_capped(first["Body"], 64)
    if not looks_like_message(probe, info.size):
        raise PolicyError(
            "the migrated object does not begin like a message", bucket=access.bucket, key=key
        )

"""Server-side objects copied by S3 itself (:mod:`securestore.copying`).

Up to :attr:`CopyLimits.multipart_threshold` one ``CopyObject``, above it a
multipart upload of ``UploadPartCopy`` ranges, every request pinned to the
source ETag (``CopySourceIfMatch``) and the source checked unchanged afterwards
for servers that ignore the condition. A server that answers ``UploadPartCopy``
without the part's ETag raises :class:`NoCopyPartEtagError`, and the caller
streams the copy instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from securestore.aborting import abort_upload, create_upload, upload_closed
from securestore.attributes import CONTENT_HEADERS
from securestore.errors import ConfigurationError, PreconditionFailedError
from securestore.transfer import MiB, run_bounded

if TYPE_CHECKING:
    from securestore.copying import _Copy

__all__ = ["MAX_COPY_OBJECT", "CopyLimits", "NoCopyPartEtagError", "copy_in_parts", "copy_whole"]

GiB = 1024 * MiB
#: The largest object one ``CopyObject`` copies, and the largest ``UploadPartCopy`` part.
MAX_COPY_OBJECT = 5 * GiB
_MIN_PART = 5 * MiB
_MAX_PARTS = 10_000
#: What ``MetadataDirective=COPY`` keeps of the source by itself.
_COPIED_BY_S3 = ("Metadata", *CONTENT_HEADERS)


@dataclass(frozen=True, kw_only=True)
class CopyLimits:
    """Where a server-side copy switches to multipart, and how large its parts are.

    Args:
        multipart_threshold: objects larger than this are copied with multipart
            ``UploadPartCopy`` (at most 5 GiB, S3's ``CopyObject`` limit).
        part_size: bytes per ``UploadPartCopy`` part (5 MiB to 5 GiB), grown so
            that an object needs at most 10,000 parts.
    """

    multipart_threshold: int = MAX_COPY_OBJECT
    part_size: int = 512 * MiB

    def __post_init__(self) -> None:
        if not 0 <= self.multipart_threshold <= MAX_COPY_OBJECT:
            raise ConfigurationError("multipart_threshold must be between 0 and 5 GiB")
        if not _MIN_PART <= self.part_size <= MAX_COPY_OBJECT:
            raise ConfigurationError("a copy part must be between 5 MiB and 5 GiB")

    def part_size_for(self, total: int) -> int:
        """The part size for an object of ``total`` bytes (at most 10,000 parts)."""
        size = self.part_size
        while total > size * _MAX_PARTS and size < MAX_COPY_OBJECT:
            size = min(size * 2, MAX_COPY_OBJECT)
        return size


class NoCopyPartEtagError(Exception):
    """Internal: the server answered UploadPartCopy without the part's ETag."""


def copy_whole(
    job: _Copy, params: dict[str, Any], head: Mapping[str, Any], etag: str
) -> Mapping[str, Any]:
    """One ``CopyObject`` of the source version ``etag``; S3's answer, verified."""
    replace = job.metadata is not None or job.content_type is not None or job.attributes.headers_set
    request = dict(params)
    if not replace:  # S3 keeps the source's metadata and content headers itself
        for name in _COPIED_BY_S3:
            request.pop(name, None)
    # CopyObject replaces the destination before its answer can be checked.
    job.dst.confirm_mode(job.dest_key, job.mode, replacing_only=True)
    response = job.s3.copy_object(
        CopySource=job._source_ref(head),
        CopySourceIfMatch=etag,
        MetadataDirective="REPLACE" if replace else "COPY",
        **request,
    )
    flat = {**response, **(response.get("CopyObjectResult") or {})}
    try:
        # Servers that ignore CopySourceIfMatch: the source must still be the version seen.
        job._head_source(etag)
    except PreconditionFailedError as exc:
        if not job.in_place:
            exc.message = "the source changed during the copy" + job._undo(flat)
        raise
    job._check_copy(flat)
    return flat


def copy_in_parts(
    job: _Copy, params: dict[str, Any], head: Mapping[str, Any], etag: str, size: int
) -> Mapping[str, Any]:
    """A multipart upload of ``UploadPartCopy`` ranges; S3's answer, verified.

    Raises:
        NoCopyPartEtagError: the server cannot copy parts (the upload was aborted).
    """
    s3 = job.s3
    created = create_upload(s3.create_multipart_upload, params)
    upload_id = created["UploadId"]
    source = job._source_ref(head)
    part = job.limits.part_size_for(size)
    spans = [
        (number, start, min(start + part, size))
        for number, start in enumerate(range(0, size, part), start=1)
    ]

    def copy_part(span: tuple[int, int, int]) -> dict[str, Any]:
        number, start, end = span
        response = s3.upload_part_copy(
            Bucket=job.dst.bucket,
            Key=job.dest_key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={start}-{end - 1}",
            CopySourceIfMatch=etag,
        )
        part_etag = (response.get("CopyPartResult") or {}).get("ETag")
        if not part_etag:
            raise NoCopyPartEtagError()
        if job.progress:
            job.progress(end - start)
        return {"PartNumber": number, "ETag": part_etag}

    committing = False
    try:
        # Checked before any byte is copied: a refused mode costs nothing.
        job.dst._verify(job.mode, created, job.dest_key, before=True)
        parts = run_bounded(spans, copy_part, concurrency=job.dst.access.transfer.concurrency)
        job._head_source(etag)  # servers that ignore CopySourceIfMatch
        committing = True
        completed = s3.complete_multipart_upload(
            Bucket=job.dst.bucket,
            Key=job.dest_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)
        abort_upload(
            s3,
            job.dst.bucket,
            job.dest_key,
            upload_id,
            interrupted=interrupted,
            committing=committing,
        )
        raise
    upload_closed(job.dst.bucket, job.dest_key, upload_id)
    merged = {**created, **{k: v for k, v in completed.items() if v is not None}}
    job._check_copy(completed)
    return merged

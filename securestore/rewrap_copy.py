"""The write step of a re-wrap: new header + old body, copied by S3, then verified.

See :mod:`securestore.rewrap` for the plan and the concurrency rules. Three
ways to write, chosen by size and by what the server can do:

- body ≤ 5 MiB: one conditional PUT of new header + old body;
- otherwise a multipart upload: part 1 = new header + the first 5 MiB of the
  old body, then ``UploadPartCopy`` ranges (≤ 5 GiB) of the source version;
- if the server answers ``UploadPartCopy`` without ``CopyPartResult.ETag``,
  that upload is aborted and the body is streamed through the client instead.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from securestore.aborting import abort_upload, create_upload, upload_closed
from securestore.errors import PolicyError, PreconditionFailedError
from securestore.message.rewrite import HeaderRewrite
from securestore.transport import translate_error

if TYPE_CHECKING:
    from securestore.rewrap import Rewrapper, RewrapResult, SourceVersion

__all__ = ["Method", "write_rewrapped"]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
FIRST_PART_BODY = 5 * MiB
MAX_COPY_PART = 5 * 1024 * MiB


class Method(enum.Enum):
    """How the body reached the new object."""

    SERVER_SIDE_COPY = "server-side-copy"
    SINGLE_PUT = "single-put"
    STREAMED_COPY = "streamed-copy"


class NoCopyPartEtagError(Exception):
    """Internal: the server answered UploadPartCopy without the part's ETag."""


def write_rewrapped(
    rw: Rewrapper,
    src: SourceVersion,
    rewrite: HeaderRewrite,
    first: bytes,
    result: RewrapResult,
    *,
    in_place: bool,
    delete_old: bool,
    condition: Mapping[str, str] | None = None,
) -> RewrapResult:
    """Write the re-wrapped object described by ``result`` and verify it.

    ``condition`` replaces the default write condition (``If-Match`` of the
    source in place, ``If-None-Match: *`` elsewhere): a copy over an existing
    object passes ``If-Match`` of that object.
    """
    old_length = rewrite.old.length
    body_length = src.size - old_length
    head_end = old_length + min(body_length, FIRST_PART_BODY)
    part1 = rewrite.header_bytes + first[old_length:] + rw.fetch(src, len(first), head_end)
    params = rw.request_params(src, result.bucket, result.key)
    # S3 refuses the write if the source was replaced meanwhile (in place), or if
    # something appeared at a new location; servers that ignore it are checked after.
    if condition is None:
        condition = {"IfMatch": src.etag} if in_place else {"IfNoneMatch": "*"}
    copied = 0
    if body_length <= FIRST_PART_BODY:
        response = rw.call(
            "rewrap",
            result.bucket,
            result.key,
            rw.access.s3.put_object,
            Body=part1,
            **params,
            **condition,
        )
        method, uploaded = Method.SINGLE_PUT, len(part1)
    else:
        writer = _Multipart(rw, src, params, condition)
        try:
            response, uploaded, copied = writer.copy(part1, head_end)
            method = Method.SERVER_SIDE_COPY
        except NoCopyPartEtagError:
            logger.info("no UploadPartCopy ETag from the server: streaming s3://%s", src.key)
            response, uploaded = _Multipart(rw, src, params, condition).stream(part1, head_end)
            method = Method.STREAMED_COPY
    new_version = response.get("VersionId")
    try:
        rw.check_sse(src, response, result.bucket, result.key)
    except PolicyError as exc:
        if _undo(rw, result.bucket, result.key, new_version):
            exc.message += "; the new version was deleted"
        raise
    expected = (rewrite.header_bytes, len(rewrite.header_bytes) + body_length)
    _verify_after(rw, src, response, result.bucket, result.key, expected, in_place=in_place)
    deleted = False
    note = None
    if delete_old and src.versioned:
        rw.call(
            "delete old version",
            src.bucket,
            src.key,
            rw.access.s3.delete_object,
            Bucket=src.bucket,
            Key=src.key,
            VersionId=src.version_id,
        )
        deleted = True
    elif delete_old:
        note = "the bucket is not versioned: the old object was replaced, no version to delete"
    elif in_place and src.versioned:
        note = f"the old version {src.version_id} is kept (it still holds the old data keys)"
    return dataclasses.replace(
        result,
        method=method,
        etag=str(response.get("ETag", "")) or None,
        version_id=new_version,
        bytes_fetched=src.fetched,
        bytes_uploaded=uploaded,
        bytes_copied=copied,
        old_version_deleted=deleted,
        note=note,
    )


class _Multipart:
    """One multipart upload of the re-wrapped object, aborted on any failure."""

    def __init__(
        self,
        rw: Rewrapper,
        src: SourceVersion,
        params: dict[str, Any],
        condition: Mapping[str, str],
    ) -> None:
        self.rw = rw
        self.src = src
        self.params = params
        self.condition = condition
        self.bucket = params["Bucket"]
        self.key = params["Key"]
        self.s3 = rw.access.s3
        #: The CompleteMultipartUpload was sent: the server may have completed it.
        self._committing = False

    def call(self, action: str, fn: Any, **kw: Any) -> Any:
        return self.rw.call(action, self.bucket, self.key, fn, **kw)

    def _begin(self, part1: bytes) -> tuple[str, list[dict[str, Any]]]:
        created = create_upload(
            functools.partial(self.call, "rewrap", self.s3.create_multipart_upload), self.params
        )
        upload_id = str(created["UploadId"])
        try:
            sent = self._upload(upload_id, 1, part1)
        except BaseException as exc:
            self._abort(upload_id, exc)
            raise
        return upload_id, [sent]

    def _upload(self, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self.call(
            "rewrap",
            self.s3.upload_part,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def copy(self, part1: bytes, start: int) -> tuple[Mapping[str, Any], int, int]:
        """Part 1 uploaded, the rest copied by S3; returns (completion, uploaded, copied)."""
        upload_id, parts = self._begin(part1)
        src = self.src
        source: dict[str, str] = {"Bucket": src.bucket, "Key": src.key}
        if src.versioned and src.version_id:
            source["VersionId"] = src.version_id
        copied = 0
        try:
            pos, number = start, 2
            while pos < src.size:
                end = min(src.size, pos + MAX_COPY_PART)
                response = self.call(
                    "rewrap (copy)",
                    self.s3.upload_part_copy,
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={pos}-{end - 1}",
                    CopySourceIfMatch=src.etag,
                )
                etag = (response.get("CopyPartResult") or {}).get("ETag")
                if not etag:
                    raise NoCopyPartEtagError()
                parts.append({"PartNumber": number, "ETag": etag})
                copied += end - pos
                pos, number = end, number + 1
            completed = self._complete(upload_id, parts)
        except BaseException as exc:
            self._abort(upload_id, exc)
            raise
        return completed, len(part1), copied

    def stream(self, part1: bytes, start: int) -> tuple[Mapping[str, Any], int]:
        """Part 1 uploaded, the rest fetched and uploaded by the client, part by part."""
        upload_id, parts = self._begin(part1)
        src = self.src
        step = max(self.rw.access.transfer.part_size, FIRST_PART_BODY)
        uploaded = len(part1)
        try:
            pos, number = start, 2
            while pos < src.size:
                end = min(src.size, pos + step)
                data = self.rw.fetch(src, pos, end)
                parts.append(self._upload(upload_id, number, data))
                uploaded += len(data)
                pos, number = end, number + 1
            completed = self._complete(upload_id, parts)
        except BaseException as exc:
            self._abort(upload_id, exc)
            raise
        return completed, uploaded

    def _complete(self, upload_id: str, parts: list[dict[str, Any]]) -> Mapping[str, Any]:
        # Servers that ignore CopySourceIfMatch or If-Match on the completion are
        # caught here: the source must still be the version the parts came from.
        _check_unchanged(self.rw, self.src)
        self._committing = True
        completed: Mapping[str, Any] = self.call(
            "rewrap (complete)",
            self.s3.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **self.condition,
        )
        upload_closed(self.bucket, self.key, upload_id)
        return completed

    def _abort(self, upload_id: str, exc: BaseException) -> None:
        # Ctrl-C or SIGTERM: give up on a stalled abort after a short deadline.
        interrupted = not isinstance(exc, Exception)
        abort_upload(
            self.s3,
            self.bucket,
            self.key,
            upload_id,
            interrupted=interrupted,
            committing=self._committing,
        )


def _check_unchanged(rw: Rewrapper, src: SourceVersion) -> None:
    head = rw.head_of(src.bucket, src.key)
    if str(head.get("ETag", "")) != src.etag or head.get("VersionId") != src.version_id:
        raise rw.changed_error(src)


def _undo(rw: Rewrapper, bucket: str, key: str, version_id: str | None) -> bool:
    """Delete a version just written (versioned buckets only); whether it was deleted."""
    if not version_id or version_id == "null":
        return False
    try:
        rw.access.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False
    return True


def _versions_after(rw: Rewrapper, bucket: str, key: str, version_id: str) -> str | None:
    """The version id listed right after ``version_id`` (the one below it), if any."""
    paginator = rw.access.s3.get_paginator("list_object_versions")
    found = False
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for entry in page.get("Versions", []):
                if entry.get("Key") != key:
                    continue
                if found:
                    return str(entry.get("VersionId"))
                found = entry.get("VersionId") == version_id
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise translate_error(exc, bucket=bucket, key=key, action="list versions") from exc
    return None


def _verify_after(
    rw: Rewrapper,
    src: SourceVersion,
    response: Mapping[str, Any],
    bucket: str,
    key: str,
    expected: tuple[bytes, int],
    *,
    in_place: bool,
) -> None:
    """Check that the write replaced exactly the source version and nothing else.

    ``expected`` is the new header and the new object's size. Some servers
    (``rclone serve s3``) answer HEAD with another ETag than the completion did;
    then the object is ours only if its size and its header bytes (new random
    key wraps, unique to this write) are those written.
    """
    new_etag = str(response.get("ETag", ""))
    new_version = response.get("VersionId")
    versioned = bool(new_version) and new_version != "null"
    if versioned and in_place:
        below = _versions_after(rw, bucket, key, str(new_version))
        if below != src.version_id:
            deleted = _undo(rw, bucket, key, str(new_version))
            raise PreconditionFailedError(
                f"a concurrent write (version {below}) landed during the re-wrap; "
                + (
                    "the re-wrapped version was deleted again, the other write is current"
                    if deleted
                    else f"the re-wrapped version {new_version} could not be deleted: "
                    "check the object's versions by hand"
                ),
                bucket=bucket,
                key=key,
                code="PreconditionFailed",
                hint="run the re-wrap again",
            )
    head = rw.head_of(bucket, key)
    current = head.get("VersionId") if versioned else None
    ours = str(head.get("ETag", "")) == new_etag and current == (new_version if versioned else None)
    if not ours and not versioned and int(head.get("ContentLength", -1)) == expected[1]:
        written = dataclasses.replace(
            src, bucket=bucket, key=key, etag=str(head.get("ETag", "")), version_id=None, fetched=0
        )
        ours = rw.fetch(written, 0, len(expected[0])) == expected[0]
        src.fetched += written.fetched
    if not ours:
        raise PreconditionFailedError(
            "another write replaced the object right after the re-wrap; that write is kept "
            "and the object is not re-wrapped",
            bucket=bucket,
            key=key,
            code="PreconditionFailed",
            hint="run the re-wrap again",
        )

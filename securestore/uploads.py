"""Incomplete multipart uploads: list them, abort them (``securestore uploads``).

An upload that was never completed or aborted (a killed process, a lost network)
keeps its parts, and S3 bills them, until it is aborted or a lifecycle rule
(``AbortIncompleteMultipartUpload``) removes it. Parts of a client-side upload
are ciphertext; aborting one deletes them and never touches a completed object.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from securestore.bucket import BucketAccess
from securestore.errors import ConfigurationError, NotFoundError, SecureStoreError
from securestore.location import key_or_folder, validate_bucket_name
from securestore.pagination import ListingCheck
from securestore.transfer import TransferConfig
from securestore.transport import Connection

__all__ = ["AbortOutcome", "MultipartUpload", "abort_uploads", "list_uploads"]


@dataclass(frozen=True)
class MultipartUpload:
    """One multipart upload in progress (or abandoned)."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime.datetime | None
    storage_class: str | None = None


@dataclass(frozen=True)
class AbortOutcome:
    """What became of one upload: aborted, already gone, would be aborted, or failed.

    ``error`` is set when the abort failed (the upload is still there).
    """

    upload: MultipartUpload
    aborted: bool
    dry_run: bool = False
    already_gone: bool = False
    error: str | None = None


def list_uploads(
    connection: Connection, bucket: str, prefix: str = "", *, as_folder: bool = False
) -> Iterator[MultipartUpload]:
    """Yield the incomplete multipart uploads of keys starting with ``prefix``, lazily.

    ``as_folder``: ``prefix`` names a key or a folder, as the CLI's ``s3://b/tmp``
    does: uploads of ``tmp`` itself and under ``tmp/``, never of ``tmpx``
    (:func:`securestore.location.key_or_folder`).

    Raises:
        NotFoundError: the bucket does not exist.
        AccessDeniedError: ``s3:ListBucketMultipartUploads`` is not allowed.
    """
    access = BucketAccess(validate_bucket_name(bucket), connection, TransferConfig())
    # The uploads listed are aborted: one outside ``prefix`` or replayed is refused.
    check = ListingCheck(
        access.bucket, prefix, tokens=("NextKeyMarker", "NextUploadIdMarker"), repeats=True
    )
    paginator = access.s3.get_paginator("list_multipart_uploads")
    answered = False
    try:
        with access.boundary("list multipart uploads"):
            for page in paginator.paginate(Bucket=access.bucket, Prefix=prefix):
                answered = True
                for upload in _page_uploads(access.bucket, page, check):
                    if not as_folder or key_or_folder(prefix, upload.key):
                        yield upload
    except NotFoundError as exc:
        # rclone answers NoSuchUpload for a bucket that never had an upload: none
        # to list. A missing bucket stays an error (HEAD tells the two apart).
        if exc.code != "NoSuchUpload" or answered:
            raise
        missing = access.which_missing(exc)
        if missing is not exc:
            raise missing from None


def _page_uploads(
    bucket: str, page: dict[str, Any], check: ListingCheck
) -> Iterator[MultipartUpload]:
    """The uploads of one ListMultipartUploads page, checked by ``check``."""
    for item in page.get("Uploads", []):
        upload = MultipartUpload(
            bucket=bucket,
            key=str(item["Key"]),
            upload_id=str(item["UploadId"]),
            initiated=item.get("Initiated"),
            storage_class=item.get("StorageClass"),
        )
        check.key(upload.key, upload.upload_id)
        yield upload
    check.page(page)


def abort_uploads(
    connection: Connection,
    bucket: str,
    prefix: str = "",
    *,
    as_folder: bool = False,
    older_than: datetime.timedelta | None = None,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
) -> Iterator[AbortOutcome]:
    """Abort the incomplete uploads under ``prefix``, yielding one outcome per upload.

    Args:
        as_folder: ``prefix`` names a key or folder (see :func:`list_uploads`).
        older_than: only uploads initiated at least this long ago. An upload whose
            start time the server does not report is then left alone: its age
            cannot be confirmed.
        dry_run: abort nothing; each outcome says what would be aborted.
        now: the current time (for tests); default: the clock, in UTC.

    A failed abort is reported in its outcome (``error``) and the others go on; an
    upload that vanished meanwhile (completed or aborted by someone else) is
    ``already_gone``. Listing errors are raised.

    Raises:
        ConfigurationError: ``older_than`` is negative.
        NotFoundError, AccessDeniedError, StorageError: the listing failed.
    """
    if older_than is not None and older_than < datetime.timedelta(0):
        raise ConfigurationError("the age of uploads to abort cannot be negative")
    moment = now or datetime.datetime.now(datetime.UTC)
    access = BucketAccess(validate_bucket_name(bucket), connection, TransferConfig())
    for upload in list_uploads(connection, bucket, prefix, as_folder=as_folder):
        if older_than is not None and (
            upload.initiated is None or moment - upload.initiated < older_than
        ):
            continue
        if dry_run:
            yield AbortOutcome(upload, aborted=False, dry_run=True)
            continue
        yield _abort(access, upload)


def _abort(access: BucketAccess, upload: MultipartUpload) -> AbortOutcome:
    try:
        with access.boundary("abort multipart upload", upload.key):
            access.s3.abort_multipart_upload(
                Bucket=access.bucket, Key=upload.key, UploadId=upload.upload_id
            )
    except NotFoundError as exc:
        if exc.code == "NoSuchUpload":  # completed or aborted meanwhile
            return AbortOutcome(upload, aborted=False, already_gone=True)
        return AbortOutcome(upload, aborted=False, error=str(exc))
    except SecureStoreError as exc:
        return AbortOutcome(upload, aborted=False, error=str(exc))
    return AbortOutcome(upload, aborted=True)

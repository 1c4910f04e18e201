"""One bucket as the store's read and write paths see it.

:class:`BucketAccess` holds the S3 client, translates botocore errors at the
boundary, resolves KMS keys and turns S3 responses into the values of
:mod:`securestore.objects` (:class:`~securestore.objects.ObjectInfo`, listing entries).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import botocore.exceptions

from securestore.clientside import FORMAT_METADATA
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    KeyUnavailableError,
    NotFoundError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
)
from securestore.location import validate_key
from securestore.modes import EncryptionMode, StoredEncryption
from securestore.objects import (
    CommonPrefix,
    ObjectInfo,
    ObjectSummary,
    ObjectVersion,
    newest_first,
    summary_from,
    version_from,
)
from securestore.pagination import ListingCheck
from securestore.reader import range_answered
from securestore.transfer import TransferConfig
from securestore.transport import Connection, translate_error

__all__ = ["DELETE_BATCH", "BucketAccess", "version_argument"]

logger = logging.getLogger(__name__)

#: Keys one DeleteObjects request may name (S3's limit).
DELETE_BATCH = 1000


class BucketAccess:
    """The S3 client of one bucket, with error translation and KMS key look-ups."""

    def __init__(self, bucket: str, connection: Connection, transfer: TransferConfig) -> None:
        self.bucket = bucket
        self.connection = connection
        self.transfer = transfer
        self._key_arns: dict[str, str | None] = {}
        self._lock = threading.Lock()

    @property
    def s3(self) -> Any:
        """The connection's S3 client."""
        return self.connection.client("s3")

    @contextlib.contextmanager
    def boundary(self, action: str, key: str | None = None) -> Iterator[None]:
        """Translate botocore errors raised inside the block into securestore errors.

        Library errors raised inside (a failed authentication, say) are given the
        bucket and key, so every message names the object concerned.
        """
        try:
            yield
        except SecureStoreError as exc:
            if exc.bucket is None:
                exc.bucket, exc.key = self.bucket, key
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate_error(exc, bucket=self.bucket, key=key, action=action) from exc

    def resolve_key_arn(self, key_id: str) -> str | None:
        """Look up the ARN of a KMS key (cached); ``None`` if we may not ask KMS.

        An unknown, disabled or deleted key is reported before any data is sent.
        """
        with self._lock:
            if key_id in self._key_arns:
                return self._key_arns[key_id]
        region = _region_of_arn(key_id) or self.connection.region
        try:
            meta = self.connection.client("kms", region_name=region).describe_key(KeyId=key_id)[
                "KeyMetadata"
            ]
        except botocore.exceptions.ClientError as exc:
            err = translate_error(exc, bucket=self.bucket, action=f"looking up KMS key {key_id}")
            if isinstance(err, AccessDeniedError):
                # Not allowed to describe keys: S3 will still refuse an unusable key.
                arn = None
            else:
                raise KeyUnavailableError(
                    f"KMS key {key_id} is not usable: {exc.response.get('Error', {}).get('Code')}",
                    bucket=self.bucket,
                    hint="check the key id or alias, its region and that it is enabled",
                ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate_error(exc, bucket=self.bucket, action="looking up KMS key") from exc
        else:
            if meta.get("KeyState") not in (None, "Enabled"):
                raise KeyUnavailableError(
                    f"KMS key {key_id} is {meta.get('KeyState')}", bucket=self.bucket
                )
            arn = meta.get("Arn")
        with self._lock:
            self._key_arns[key_id] = arn
        return arn

    def key_arn_for(self, mode: EncryptionMode) -> str | None:
        """The ARN of the mode's KMS key, if it names one (see :meth:`resolve_key_arn`)."""
        key_id = mode.kms_key_id
        return self.resolve_key_arn(key_id) if key_id else None

    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """Describe the object (or that version of it): size, encryption, ETag, metadata.

        Raises:
            NotFoundError: no such bucket, object or version.
        """
        validate_key(key)
        try:
            with self.boundary("head", key):
                response = self.s3.head_object(
                    Bucket=self.bucket, Key=key, **version_argument(version_id)
                )
        except NotFoundError as exc:
            # A HEAD 404 has no body to tell a missing key from a missing bucket.
            raise self.which_missing(exc) from exc.__cause__
        self.check_version(key, version_id, response)
        return self.info(key, response)

    def check_version(self, key: str, version_id: str | None, response: Mapping[str, Any]) -> None:
        """Refuse an answer to a request pinned to ``version_id`` that names another version.

        S3 names the version it answers with; a server or proxy that drops the
        ``versionId`` parameter (``rclone serve s3`` on HEAD) answers with the
        current object instead, which must not pass for the version asked for.
        """
        if version_id is None:
            return
        answered = response.get("VersionId")
        if answered == version_id or (version_id == "null" and answered is None):
            return
        body = response.get("Body")
        if body is not None:
            body.close()
        raise StorageError(
            f"the server answered another version ({answered!r}) than the one asked for "
            f"({version_id!r})",
            bucket=self.bucket,
            key=key,
            code="VersionNotHonoured",
            hint="the endpoint does not honour versionId: read old versions where it does",
        )

    def get_range(
        self,
        key: str,
        first: int,
        last: int | None = None,
        *,
        etag: str | None = None,
        version_id: str | None = None,
    ) -> dict[str, Any]:
        """GET bytes ``first..last`` (inclusive; to the end if ``None``) of the object.

        The one ranged GET of every read: the answer's ``Content-Range`` must be the
        range asked for (a server that ignores ``Range`` sends the object from byte
        0, which written at offset ``first`` would be silently wrong). With ``etag``
        the request is conditional on it and the answer's ETag is checked as well,
        since not every S3-compatible server honours ``If-Match``; ``version_id``
        pins the request to that version. The caller reads and closes ``Body``.

        Raises:
            PreconditionFailedError: the object is no longer version ``etag``.
            StorageError: the server did not answer the range (``RangeNotHonoured``),
                or any other S3 error, translated.
        """
        span = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        pin = {"IfMatch": etag} if etag is not None else {}
        with self.boundary("read", key):
            response: dict[str, Any] = self.s3.get_object(
                Bucket=self.bucket, Key=key, Range=span, **pin, **version_argument(version_id)
            )
        self.check_version(key, version_id, response)
        answered = response.get("ETag")
        if etag is not None and answered is not None and answered != etag:
            response["Body"].close()
            raise PreconditionFailedError(
                "the object changed while it was being read",
                bucket=self.bucket,
                key=key,
                code="PreconditionFailed",
                hint="read it again",
            )
        if not range_answered(response.get("ContentRange"), first, last):
            response["Body"].close()
            raise StorageError(
                f"the server did not answer the byte range {span} it was asked for "
                f"(Content-Range: {response.get('ContentRange')!r})",
                bucket=self.bucket,
                key=key,
                code="RangeNotHonoured",
                hint="the endpoint does not support ranged GETs, which securestore needs",
            )
        return response

    def which_missing(self, exc: NotFoundError) -> NotFoundError:
        """Tell a missing bucket from a missing key (a 404 to HEAD has no body)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as probe:
            if str(probe.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket"):
                return NotFoundError(
                    f"{exc.message.split(':')[0]}: bucket does not exist",
                    bucket=self.bucket,
                    code="NoSuchBucket",
                    hint="check the bucket name and region",
                )
        except botocore.exceptions.BotoCoreError:
            pass
        return exc

    def info(self, key: str, response: Mapping[str, Any]) -> ObjectInfo:
        """An :class:`ObjectInfo` from a HEAD or GET response."""
        # Metadata names travel as HTTP headers, whose case servers do not all keep.
        metadata = {name.lower(): value for name, value in (response.get("Metadata") or {}).items()}
        stored = with_marker(StoredEncryption.from_response(response), metadata)
        return ObjectInfo(
            bucket=self.bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", "")),
            encryption=stored,
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
            version_id=response.get("VersionId"),
            metadata=metadata,
        )

    def summaries(self, prefix: str = "") -> Iterator[ObjectSummary]:
        """Yield every object under ``prefix`` in S3's order, lazily, one page at a time.

        Every tree job and ``ls`` read this listing, so it is held to S3's contract
        here (:class:`~securestore.pagination.ListingCheck`): a key outside
        ``prefix``, out of order or repeated, or a broken continuation raises
        StorageError before that key is yielded.
        """
        check = ListingCheck(self.bucket, prefix)
        paginator = self.s3.get_paginator("list_objects_v2")
        with self.boundary("list"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    summary = summary_from(item)
                    check.key(summary.key)
                    yield summary
                check.page(page)

    def delete(self, key: str) -> None:
        """Delete the object (S3 semantics: deleting a missing key succeeds)."""
        with self.boundary("delete", key):
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def delete_many(self, keys: list[str]) -> dict[str, SecureStoreError | None]:
        """Delete up to 1,000 objects in one DeleteObjects request: each key's outcome.

        ``None`` for a key the answer lists as deleted, the translated error for one
        it lists as refused. A key the answer does not mention is left out of the
        result: nothing confirms it was deleted (a server that always answers
        quietly), and the caller deletes it on its own.

        Raises:
            StorageError: the request as a whole failed (a server without
                DeleteObjects, one that wants Content-MD5, access denied).
        """
        with self.boundary("delete"):
            response = self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": False},
            )
        asked = set(keys)
        outcome: dict[str, SecureStoreError | None] = {}
        for item in response.get("Deleted", []):
            key = item.get("Key")
            if key in asked:
                outcome[key] = None
        for item in response.get("Errors", []):
            key = item.get("Key")
            if key in asked:
                refusal = botocore.exceptions.ClientError(
                    {"Error": {"Code": item.get("Code", ""), "Message": item.get("Message", "")}},
                    "DeleteObjects",
                )
                outcome[key] = translate_error(
                    refusal, bucket=self.bucket, key=key, action="delete"
                )
        return outcome

    def list_objects(
        self, prefix: str = "", *, delimiter: str | None = None, prefixes_first: bool = False
    ) -> Iterator[ObjectSummary | CommonPrefix]:
        """Yield the objects under ``prefix`` in key order, lazily, one page at a time.

        With a ``delimiter`` (``"/"``), the keys that have it after ``prefix`` are
        rolled up into one :class:`CommonPrefix` each, as S3 does, and ``prefix`` is
        taken literally (``"tre"`` also yields ``CommonPrefix("tree/")``).
        ``prefixes_first`` yields each page's prefixes before its objects, as
        ``aws s3 ls`` prints them (the page is still checked in key order first).
        """
        extra = {"Delimiter": delimiter} if delimiter else {}
        check = ListingCheck(self.bucket, prefix)
        paginator = self.s3.get_paginator("list_objects_v2")
        with self.boundary("list"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra):
                objects = [summary_from(item) for item in page.get("Contents", [])]
                # Objects and rolled-up prefixes form one strictly increasing sequence.
                merged = _merged(objects, page, lambda entry: entry.key)
                if prefixes_first:
                    held = list(merged)  # one page: bounded
                    for entry in held:
                        check.key(entry.prefix if isinstance(entry, CommonPrefix) else entry.key)
                    check.page(page)
                    yield from (entry for entry in held if isinstance(entry, CommonPrefix))
                    yield from (entry for entry in held if not isinstance(entry, CommonPrefix))
                    continue
                for entry in merged:
                    check.key(entry.prefix if isinstance(entry, CommonPrefix) else entry.key)
                    yield entry
                check.page(page)

    def list_versions(
        self, prefix: str = "", *, delimiter: str | None = None
    ) -> Iterator[ObjectVersion | CommonPrefix]:
        """Yield every version and delete marker under ``prefix`` (ListObjectVersions).

        Keys come in order, the versions of one key newest first; ``delimiter`` rolls
        keys up as in :meth:`list_objects`. An unversioned bucket lists each object
        once, with the version id ``"null"``.
        """
        extra = {"Delimiter": delimiter} if delimiter else {}
        check = ListingCheck(
            self.bucket, prefix, tokens=("NextKeyMarker", "NextVersionIdMarker"), repeats=True
        )
        paginator = self.s3.get_paginator("list_object_versions")
        with self.boundary("list versions"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra):
                entries = [version_from(item, False) for item in page.get("Versions", [])]
                entries += [version_from(item, True) for item in page.get("DeleteMarkers", [])]
                # Versions and markers come in two lists; S3's order is key, then newest first.
                entries.sort(key=newest_first)
                for entry in _merged(entries, page, lambda entry: entry.key):
                    if isinstance(entry, CommonPrefix):
                        check.key(entry.prefix)
                    else:
                        check.key(entry.key, entry.version_id)
                    yield entry
                check.page(page)


_T = TypeVar("_T")


def _merged(
    entries: list[_T], page: Mapping[str, Any], key_of: Callable[[_T], str]
) -> Iterator[_T | CommonPrefix]:
    """One page's entries and common prefixes, interleaved in key order."""
    merged: list[_T | CommonPrefix] = [*entries]
    merged += [CommonPrefix(str(item["Prefix"])) for item in page.get("CommonPrefixes", [])]
    # A stable sort: the versions of one key keep their newest-first order.
    merged.sort(
        key=lambda entry: entry.prefix if isinstance(entry, CommonPrefix) else key_of(entry)
    )
    yield from merged


def version_argument(version_id: str | None) -> dict[str, str]:
    """The ``VersionId`` argument of a GET or HEAD pinned to ``version_id`` (none if ``None``).

    Raises:
        ConfigurationError: an empty version id (an unset variable, say): reading the
            latest version instead would not be what was asked.
    """
    if version_id is None:
        return {}
    if not version_id.strip():
        raise ConfigurationError("an empty version id was given (is a variable unset?)")
    return {"VersionId": version_id}


def with_marker(stored: StoredEncryption, metadata: Mapping[str, str]) -> StoredEncryption:
    """Note the client-side marker (informational: never trusted for security decisions)."""
    if FORMAT_METADATA not in metadata:
        return stored
    marker = {k: v for k, v in metadata.items() if k.startswith("securestore-")}
    return dataclasses.replace(stored, client_side=marker)


def _region_of_arn(key_id: str) -> str | None:
    parts = key_id.split(":")
    return parts[3] if key_id.startswith("arn:") and len(parts) > 3 and parts[3] else None

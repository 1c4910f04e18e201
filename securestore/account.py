"""The account's buckets: create one, list them, read the default encryption of one
(the store itself works in one bucket)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import botocore.exceptions

from securestore.errors import AccessDeniedError, StorageError
from securestore.location import validate_bucket_name
from securestore.modes import BucketDefault, DsseKms, EncryptionMode, SseKms, SseS3
from securestore.transport import Connection, translate_error

__all__ = ["create_bucket", "default_encryption", "list_buckets"]


def create_bucket(connection: Connection, bucket: str, *, region: str | None = None) -> None:
    """Create ``bucket`` in ``region`` (the connection's region by default).

    Raises:
        InvalidLocationError: the name is invalid.
        StorageError: the bucket exists already or cannot be created.
    """
    validate_bucket_name(bucket)
    region = region or connection.region
    s3 = connection.client("s3", region_name=region)
    # us-east-1 answers 200 to re-creating one's own bucket; ask first so that
    # "already exists" is reported the same way in every region.
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise StorageError(
                "bucket name is taken by another account",
                bucket=bucket,
                code=code,
                hint="bucket names are global: choose another name",
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    else:
        raise StorageError("bucket already exists", bucket=bucket, code="BucketAlreadyOwnedByYou")
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except botocore.exceptions.ClientError as exc:
        error_code = exc.response.get("Error", {}).get("Code")
        if error_code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StorageError(
                f"bucket already exists ({error_code})", bucket=bucket, code=error_code
            ) from exc
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc


def list_buckets(connection: Connection) -> list[tuple[str, datetime.datetime | None]]:
    """The buckets the credentials can list, as (name, creation date) pairs.

    Raises:
        AccessDeniedError, StorageError, TransportSecurityError: as translated from S3.
    """
    try:
        response = connection.client("s3").list_buckets()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise translate_error(exc, action="list buckets") from exc
    return [(b["Name"], b.get("CreationDate")) for b in response.get("Buckets", [])]


def default_encryption(
    connection: Connection,
    bucket: str,
    *,
    bucket_key: bool = True,
    context: Mapping[str, str] | None = None,
) -> EncryptionMode:
    """The mode that asks explicitly for what ``bucket``'s default encryption applies.

    An upload that names this mode is verified against it, as any other; one that
    named SSE-S3 instead would override a default of SSE-KMS (S3 applies a default
    only to requests that ask for no encryption). SSE-S3 where the bucket has no
    default, or the server does not say (not implemented: S3-compatible servers).
    Where reading it is denied (a role without ``s3:GetEncryptionConfiguration``,
    as ``iam-policy`` writes them), :class:`~securestore.modes.BucketDefault`: no
    header, so whatever the default is applies (SSE-S3 would override a KMS one).
    ``bucket_key`` false turns off the bucket key of a KMS default that has one.

    ``context`` (an SSE-KMS encryption context) needs the KMS header: with a KMS or
    DSSE default, its key and the context; otherwise SSE-KMS with the AWS-managed
    key. (A header of ``aws:kms`` without a key id gets the ``aws/s3`` key, not
    the default's: the bucket's own key would be silently replaced.)

    Raises:
        EndpointUnreachableError: the endpoint did not answer (the upload would not
            either).
        StorageError: the server failed (5xx, SlowDown) once retries were spent: not
            taken for a bucket without a default.
    """
    s3 = connection.client("s3")
    try:
        answer = s3.get_bucket_encryption(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        error = translate_error(exc, bucket=bucket, action="read default encryption")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code")
        if (status >= 500 and code != "NotImplemented") or code == "SlowDown":
            # A server fault (retries spent): SSE-S3 might override a KMS default.
            raise error from exc
        if isinstance(error, AccessDeniedError) and not context:
            return BucketDefault()
        rule: dict[str, Any] = {}  # no default, or the server does not say
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="read default encryption") from exc
    else:
        rule = (answer.get("ServerSideEncryptionConfiguration", {}).get("Rules") or [{}])[0]
    applied = rule.get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = applied.get("SSEAlgorithm")
    key_id = applied.get("KMSMasterKeyID") or None
    if algorithm == "aws:kms":
        enabled = bucket_key and rule.get("BucketKeyEnabled") is True
        return SseKms(key_id, bucket_key=enabled, context=context or None)
    if algorithm == "aws:kms:dsse":
        return DsseKms(key_id, context=context or None)
    if context:
        return SseKms(None, bucket_key=bucket_key, context=context)
    return SseS3()

"""The account's buckets: create one, list them (the store itself works in one bucket)."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.exceptions

from securestore.errors import StorageError
from securestore.location import validate_bucket_name
from securestore.transport import Connection, translate_error

__all__ = ["create_bucket", "list_buckets"]


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

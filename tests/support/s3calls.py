"""Small S3 helpers for tests that count requests and fill or list a bucket directly."""

from __future__ import annotations

from collections import Counter
from typing import Any

from securestore import Connection


def count_calls(client: Any) -> Counter[str]:
    """Count the operations ``client`` sends from now on, by name (botocore's events)."""
    seen: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    client.meta.events.register("before-call.s3", count)
    return seen


def put_objects(connection: Connection, bucket: str, keys: list[str]) -> None:
    """One SSE-S3 object of one byte per key, written with plain boto3."""
    client = connection.client("s3")
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256")


def keys_left(connection: Connection, bucket: str, prefix: str = "") -> list[str]:
    """Every key of ``bucket`` under ``prefix``, in S3's order."""
    pages = (
        connection.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]

"""S3 Batch Operations manifests (:mod:`securestore.batch`): ``S3BatchOperations_CSV_20180820``.

Rows ``bucket,key[,version]`` with URL-encoded keys, written by :func:`manifest_csv`
from a listing (:func:`entries_from_listing`) or from an inventory audit's short
objects (:func:`entries_from_inventory`), and stored by :func:`upload_manifest`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import botocore.exceptions

from securestore.errors import ConfigurationError
from securestore.transport import translate_error

__all__ = [
    "MANIFEST_FORMAT",
    "ManifestEntry",
    "entries_from_inventory",
    "entries_from_listing",
    "manifest_csv",
    "parse_manifest_csv",
    "upload_manifest",
]

#: The manifest format of :func:`manifest_csv`.
MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"


@dataclass(frozen=True)
class ManifestEntry:
    """One object of a job."""

    bucket: str
    key: str
    version_id: str | None = None


def manifest_csv(entries: Iterable[ManifestEntry]) -> bytes:
    """The entries as a ``S3BatchOperations_CSV_20180820`` manifest (keys URL-encoded, as
    S3 Batch Operations requires; a version column only when every entry has one)."""
    rows = list(entries)
    if not rows:
        raise ConfigurationError("a Batch Operations job needs at least one object")
    versions = all(e.version_id for e in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for e in rows:
        row = [e.bucket, quote(e.key, safe="/")]
        if versions:
            row.append(e.version_id or "")
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def parse_manifest_csv(data: bytes) -> Iterator[ManifestEntry]:
    """The entries of a manifest :func:`manifest_csv` wrote (or S3 accepts)."""
    for row in csv.reader(io.StringIO(data.decode("utf-8"))):
        if not row:
            continue
        if len(row) not in (2, 3):
            raise ConfigurationError(f"manifest row has {len(row)} fields, not 2 or 3")
        yield ManifestEntry(row[0], unquote(row[1]), row[2] if len(row) == 3 and row[2] else None)


def entries_from_listing(clients: Any, bucket: str, prefix: str = "") -> Iterator[ManifestEntry]:
    """Every object under ``prefix`` (ListObjectsV2), lazily.

    Raises:
        StorageError: the listing failed.
    """
    s3 = clients.client("s3")
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ManifestEntry(bucket, item["Key"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, bucket=bucket, action="ListObjectsV2") from exc


def entries_from_inventory(
    report_details: Iterable[Mapping[str, Any]], *, statuses: Sequence[str]
) -> Iterator[ManifestEntry]:
    """Objects of ``S3.INV.1`` results' ``worst_objects`` whose status is in ``statuses``
    (``SSE-C`` is always left out: no job can change it).

    Only the listed worst objects (``--top N`` per prefix): for every short object use
    :func:`securestore.audit.inventory_export.export_job_manifests`.
    """
    for details in report_details:
        for item in details.get("worst_objects", ()):
            if item["reason"] in statuses and item["reason"] != "SSE-C":
                yield ManifestEntry(str(details["bucket"]), str(item["key"]))


def upload_manifest(clients: Any, bucket: str, key: str, data: bytes) -> str:
    """Store the manifest (SSE-S3) and return its ETag, which CreateJob pins.

    Raises:
        StorageError: the PUT failed.
    """
    s3 = clients.client("s3")
    try:
        answer = s3.put_object(
            Bucket=bucket, Key=key, Body=data, ServerSideEncryption="AES256", ContentType="text/csv"
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, bucket=bucket, key=key, action="PutObject") from exc
    return str(answer["ETag"]).strip('"')

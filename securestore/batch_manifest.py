"""S3 Batch Operations manifests (:mod:`securestore.batch`): ``S3BatchOperations_CSV_20180820``.

Rows ``bucket,key[,version]`` with URL-encoded keys, written by :func:`manifest_csv`
(in memory) or :func:`write_manifest` (to an unnamed temporary file: a listing of
any size) from a listing (:func:`entries_from_listing`) or from an inventory
audit's short objects (:func:`entries_from_inventory`), and stored by
:func:`upload_manifest`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote

import botocore.exceptions

from securestore.errors import ConfigurationError
from securestore.transport import translate_error

__all__ = [
    "MANIFEST_FORMAT",
    "MAX_MANIFEST_BYTES",
    "ManifestEntry",
    "ManifestFile",
    "entries_from_inventory",
    "entries_from_listing",
    "manifest_csv",
    "parse_manifest_csv",
    "upload_manifest",
    "write_manifest",
]

#: The manifest format of :func:`manifest_csv`.
MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"

#: The largest manifest one PUT stores (its ETag is then its MD5, which CreateJob pins).
MAX_MANIFEST_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class ManifestEntry:
    """One object of a job."""

    bucket: str
    key: str
    version_id: str | None = None


def manifest_csv(entries: Iterable[ManifestEntry]) -> bytes:
    """The entries as a ``S3BatchOperations_CSV_20180820`` manifest (keys URL-encoded, as
    S3 Batch Operations requires; a version column only when every entry has one).

    The bytes of :func:`write_manifest`, held in memory: for a manifest of any
    size, use that.
    """
    with write_manifest(entries) as manifest:
        return manifest.file.read()


@dataclass
class ManifestFile:
    """A manifest written by :func:`write_manifest`: an unnamed temporary file, at offset 0.

    Close it (or use it as a context manager) once uploaded; nothing is left on disk
    however the process ends.
    """

    file: IO[bytes]
    objects: int
    size: int
    md5: str

    def close(self) -> None:
        """Drop the file."""
        self.file.close()

    def __enter__(self) -> ManifestFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_manifest(entries: Iterable[ManifestEntry]) -> ManifestFile:
    """The entries as a ``S3BatchOperations_CSV_20180820`` manifest (as :func:`manifest_csv`
    describes), written to an unnamed temporary file one entry at a time.

    Raises:
        ConfigurationError: no entries, or a manifest larger than one PUT stores
            (:data:`MAX_MANIFEST_BYTES`: use an S3 Inventory report as the manifest).
    """
    # Rows with their version first; the version column stays only if every row has one,
    # which is known at the end: then a second pass drops it.
    rows = tempfile.TemporaryFile()  # noqa: SIM115 (returned, or closed below)
    try:
        text = io.TextIOWrapper(rows, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        count, versions = 0, True
        for e in entries:
            writer.writerow([e.bucket, quote(e.key, safe="/"), e.version_id or ""])
            count += 1
            versions = versions and bool(e.version_id)
        if not count:
            raise ConfigurationError("a Batch Operations job needs at least one object")
        text.flush()
        text.seek(0)
        out = tempfile.TemporaryFile()  # noqa: SIM115 (returned, or closed below)
        try:
            digest, size = hashlib.md5(usedforsecurity=False), 0
            for row in csv.reader(text):
                line = io.StringIO()
                csv.writer(line, lineterminator="\n").writerow(row if versions else row[:2])
                data = line.getvalue().encode("utf-8")
                digest.update(data)
                size += len(data)
                if size > MAX_MANIFEST_BYTES:
                    raise ConfigurationError(
                        f"the manifest of {count} objects is larger than one PUT stores (5 GiB)",
                        hint="use an S3 Inventory report as the job's manifest",
                    )
                out.write(data)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return ManifestFile(out, count, size, digest.hexdigest())
    finally:
        rows.close()


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


def upload_manifest(clients: Any, bucket: str, key: str, data: bytes | IO[bytes]) -> str:
    """Store the manifest (bytes, or a file at offset 0: :class:`ManifestFile` ``.file``)
    with SSE-S3 in one PUT, and return its ETag, which CreateJob pins.

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

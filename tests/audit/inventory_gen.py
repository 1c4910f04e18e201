"""Write real S3 Inventory reports in AWS's published layout and schema, for tests and the
benchmark.

Layout in a folder standing for the destination bucket (Amazon S3 User Guide,
"Locating your inventory list")::

    PREFIX/SOURCE/CONFIG/YYYY-MM-DDTHH-MMZ/manifest.json
    PREFIX/SOURCE/CONFIG/YYYY-MM-DDTHH-MMZ/manifest.checksum   (MD5 of manifest.json)
    PREFIX/SOURCE/CONFIG/hive/dt=YYYY-MM-DD-HH-MM/symlink.txt
    PREFIX/SOURCE/CONFIG/data/UUID.csv.gz | .parquet | .orc

CSV files are gzipped, have no header, quote every field and URL-encode keys;
Parquet files have the ``s3.inventory`` schema (``bucket``/``key`` required
UTF8, ``size`` int64, ``last_modified_date`` TIMESTAMP_MILLIS); ORC files the
``struct<...>`` schema.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

#: The fields ``securestore harden --inventory`` configures (CSV names), in S3's order.
DEFAULT_FIELDS = (
    "Bucket",
    "Key",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "EncryptionStatus",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
)

_SNAKE = {
    "Bucket": "bucket",
    "Key": "key",
    "VersionId": "version_id",
    "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker",
    "Size": "size",
    "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag",
    "StorageClass": "storage_class",
    "IsMultipartUploaded": "is_multipart_uploaded",
    "ReplicationStatus": "replication_status",
    "EncryptionStatus": "encryption_status",
    "BucketKeyStatus": "bucket_key_status",
    "ChecksumAlgorithm": "checksum_algorithm",
}
_BOOL = {"is_latest", "is_delete_marker", "is_multipart_uploaded"}
_PARQUET_TYPE = {"size": "int64", "last_modified_date": "int64"}
_ORC_TYPE = {"size": "bigint", "last_modified_date": "timestamp"}


@dataclass(frozen=True)
class Row:
    """One object of an inventory."""

    bucket: str
    key: str
    size: int
    encryption_status: str
    bucket_key_status: str = "DISABLED"
    last_modified: datetime = field(default_factory=lambda: datetime(2026, 11, 30, tzinfo=UTC))
    e_tag: str = "d41d8cd98f00b204e9800998ecf8427e"
    storage_class: str = "STANDARD"
    is_delete_marker: bool = False
    version_id: str = ""
    is_latest: bool = True

    def value(self, name: str) -> object:
        """The value of the snake_case column ``name``."""
        if name == "last_modified_date":
            return self.last_modified
        if name == "is_multipart_uploaded":
            return False
        if name in ("replication_status", "checksum_algorithm"):
            return None
        return getattr(self, name)


def _csv_bytes(rows: Sequence[Row], names: Sequence[str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        out: list[str] = []
        for name in names:
            value = row.value(name)
            if name == "key":
                out.append(quote_plus(str(value), safe="/"))
            elif isinstance(value, bool):
                out.append("true" if value else "false")
            elif isinstance(value, datetime):
                out.append(value.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
            elif value is None or (name == "size" and row.is_delete_marker):
                out.append("")
            else:
                out.append(str(value))
        writer.writerow(out)
    return gzip.compress(text.getvalue().encode("utf-8"), mtime=0)


def _arrow_table(rows: Sequence[Row], names: Sequence[str]) -> pa.Table:
    arrays = []
    fields = []
    for name in names:
        values = [row.value(name) for row in rows]
        if name == "size":
            typ: pa.DataType = pa.int64()
        elif name == "last_modified_date":
            typ = pa.timestamp("ms", tz="UTC")
        elif name in _BOOL:
            typ = pa.bool_()
        else:
            typ = pa.string()
            values = [None if v in (None, "") else str(v) for v in values]
        arrays.append(pa.array(values, type=typ))
        fields.append(pa.field(name, typ, nullable=name not in ("bucket", "key")))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def parquet_schema_text(names: Sequence[str]) -> str:
    """A manifest's ``fileSchema`` for Parquet, in the published form."""
    parts = []
    for name in names:
        if name in ("bucket", "key"):
            parts.append(f"required binary {name} (UTF8);")
        elif name == "last_modified_date":
            parts.append(f"optional int64 {name} (TIMESTAMP_MILLIS);")
        elif name in _PARQUET_TYPE:
            parts.append(f"optional {_PARQUET_TYPE[name]} {name};")
        elif name in _BOOL:
            parts.append(f"optional boolean {name};")
        else:
            parts.append(f"optional binary {name} (UTF8);")
    return "message s3.inventory { " + " ".join(parts) + "}"


def orc_schema_text(names: Sequence[str]) -> str:
    """A manifest's ``fileSchema`` for ORC."""
    types = [_ORC_TYPE.get(n, "boolean" if n in _BOOL else "string") for n in names]
    return "struct<" + ",".join(f"{n}:{t}" for n, t in zip(names, types, strict=True)) + ">"


def write_inventory(
    root: Path,
    rows: Sequence[Row],
    *,
    source_bucket: str,
    destination_bucket: str = "inventory-destination",
    file_format: str = "CSV",
    fields: Sequence[str] = DEFAULT_FIELDS,
    prefix: str = "inventory",
    config_id: str = "securestore-daily",
    rows_per_file: int = 250_000,
    created: datetime = datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
) -> Path:
    """Write ``rows`` as one inventory report under ``root``; return the manifest's path."""
    names = [_SNAKE[f] for f in fields]
    base = f"{prefix}/{source_bucket}/{config_id}"
    stamp = created.strftime("%Y-%m-%dT%H-%MZ")
    ext = {"CSV": "csv.gz", "Parquet": "parquet", "ORC": "orc"}[file_format]
    files = []
    chunks = [rows[i : i + rows_per_file] for i in range(0, len(rows), rows_per_file)] or [[]]
    for index, chunk in enumerate(chunks):
        key = f"{base}/data/{uuid.UUID(int=index + 1)}.{ext}"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if file_format == "CSV":
            path.write_bytes(_csv_bytes(chunk, names))
        elif file_format == "Parquet":
            pq.write_table(_arrow_table(chunk, names), path, compression="snappy")
        else:
            orc.write_table(_arrow_table(chunk, names), str(path), compression="zlib")
        data = path.read_bytes()
        files.append(
            {
                "key": key,
                "size": len(data),
                "MD5checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            }
        )
    if file_format == "CSV":
        schema = ", ".join(fields)
    elif file_format == "Parquet":
        schema = parquet_schema_text(names)
    else:
        schema = orc_schema_text(names)
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(created.timestamp() * 1000)),
        "fileFormat": file_format,
        "fileSchema": schema,
        "files": files,
    }
    folder = root / base / stamp
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=2).encode("utf-8")
    (folder / "manifest.json").write_bytes(text)
    (folder / "manifest.checksum").write_text(hashlib.md5(text, usedforsecurity=False).hexdigest())
    hive = root / base / "hive" / f"dt={created.strftime('%Y-%m-%d-%H-%M')}"
    hive.mkdir(parents=True, exist_ok=True)
    (hive / "symlink.txt").write_text(
        "".join(f"s3://{destination_bucket}/{f['key']}\n" for f in files)
    )
    return folder / "manifest.json"


def synthetic_rows(count: int, *, buckets: Sequence[str] = ("estate-a", "estate-b")) -> list[Row]:
    """``count`` deterministic objects over ``buckets``, two prefix levels, mixed encryption."""
    statuses = ("SSE-S3", "SSE-KMS", "SSE-KMS", "DSSE-KMS", "NOT-SSE", "SSE-C", "SSE-S3")
    rows = []
    for i in range(count):
        status = statuses[i % len(statuses)]
        rows.append(
            Row(
                bucket=buckets[i % len(buckets)],
                key=f"team-{i % 17}/day-{i % 31:02d}/object-{i:08d}.bin",
                size=(i * 7919) % 10_000_000,
                encryption_status=status,
                bucket_key_status="ENABLED" if status == "SSE-KMS" and i % 2 else "DISABLED",
            )
        )
    return rows

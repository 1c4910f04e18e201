"""Write real S3 Metadata live inventory tables (Apache Iceberg) with pyiceberg, for tests
and measurements.

The schema is AWS's published one ("S3 Metadata live inventory tables schema"); tables are
written through pyiceberg's ``SqlCatalog`` on sqlite, to local files or, with a location in
S3, to a local folder laid out as BUCKET/KEY for upload. :func:`commit_delete_file` adds
merge-on-read snapshots (position or equality delete files), which pyiceberg itself never
writes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: The namespace and table S3 Metadata creates in the table bucket.
METADATA_NAMESPACE = "aws_s3_metadata"
METADATA_TABLE = "inventory"


@dataclass(frozen=True)
class MetadataRow:
    """One row of an S3 Metadata live inventory table (the columns the audit reads)."""

    bucket: str
    key: str
    size: int | None
    encryption_status: str | None
    kms_key_arn: str | None = None
    bucket_key: bool | None = None
    delete_marker: bool = False
    version_id: str | None = None


def metadata_inventory_schema() -> object:
    """The live inventory table's schema, in AWS's published order and types
    ("S3 Metadata live inventory tables schema": String, Long, Boolean, Timestamp NTZ,
    Map<String, String>)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import (
        BooleanType,
        LongType,
        MapType,
        NestedField,
        StringType,
        TimestampType,
    )

    columns = [
        ("bucket", StringType(), True),
        ("key", StringType(), True),
        ("sequence_number", StringType(), True),
        ("version_id", StringType(), False),
        ("is_delete_marker", BooleanType(), False),
        ("size", LongType(), False),
        ("last_modified_date", TimestampType(), False),
        ("e_tag", StringType(), False),
        ("storage_class", StringType(), False),
        ("is_multipart", BooleanType(), False),
        ("encryption_status", StringType(), False),
        ("is_bucket_key_enabled", BooleanType(), False),
        ("kms_key_arn", StringType(), False),
        ("checksum_algorithm", StringType(), False),
    ]
    fields = [
        NestedField(i + 1, name, kind, required=required)
        for i, (name, kind, required) in enumerate(columns)
    ]
    base = len(fields)
    for offset, name in enumerate(("object_tags", "user_metadata")):
        first = base + 1 + offset * 3
        fields.append(
            NestedField(
                first,
                name,
                MapType(first + 1, StringType(), first + 2, StringType(), value_required=False),
                required=False,
            )
        )
    return Schema(*fields)


def metadata_arrow(rows: Sequence[MetadataRow], start: int = 0) -> pa.Table:
    """``rows`` as an Arrow table in the live inventory schema."""
    n = len(rows)
    when = datetime(2026, 11, 30, 12, 0, 0)
    mapping = pa.map_(pa.string(), pa.string())
    schema = pa.schema(
        [
            pa.field("bucket", pa.string(), nullable=False),
            pa.field("key", pa.string(), nullable=False),
            pa.field("sequence_number", pa.string(), nullable=False),
            pa.field("version_id", pa.string()),
            pa.field("is_delete_marker", pa.bool_()),
            pa.field("size", pa.int64()),
            pa.field("last_modified_date", pa.timestamp("us")),
            pa.field("e_tag", pa.string()),
            pa.field("storage_class", pa.string()),
            pa.field("is_multipart", pa.bool_()),
            pa.field("encryption_status", pa.string()),
            pa.field("is_bucket_key_enabled", pa.bool_()),
            pa.field("kms_key_arn", pa.string()),
            pa.field("checksum_algorithm", pa.string()),
            pa.field("object_tags", mapping),
            pa.field("user_metadata", mapping),
        ]
    )
    return pa.table(
        {
            "bucket": [r.bucket for r in rows],
            "key": [r.key for r in rows],
            "sequence_number": [f"{start + i:040d}" for i in range(n)],
            "version_id": [r.version_id for r in rows],
            "is_delete_marker": [r.delete_marker for r in rows],
            "size": [r.size for r in rows],
            "last_modified_date": [when] * n,
            "e_tag": [hashlib.md5(r.key.encode(), usedforsecurity=False).hexdigest() for r in rows],
            "storage_class": ["STANDARD"] * n,
            "is_multipart": [False] * n,
            "encryption_status": [r.encryption_status for r in rows],
            "is_bucket_key_enabled": [r.bucket_key for r in rows],
            "kms_key_arn": [r.kms_key_arn for r in rows],
            "checksum_algorithm": ["CRC64NVME"] * n,
            "object_tags": [[] for _ in rows],
            "user_metadata": [[] for _ in rows],
        },
        schema=schema,
    )


def metadata_rows(
    count: int, *, buckets: Sequence[str] = ("meta-a", "meta-b"), keys: Sequence[str] = ()
) -> list[MetadataRow]:
    """``count`` deterministic rows across encryption statuses, KMS keys (``keys``; a
    ``None`` entry is a KMS row whose key is unknown), bucket keys and a few delete
    markers."""
    arns = list(keys) or ["arn:aws:kms:us-east-1:111122223333:key/aaaa"]
    statuses = ("SSE-S3", "SSE-KMS", "SSE-S3", "DSSE-KMS", None, "SSE-KMS", "SSE-C", "SSE-S3")
    rows: list[MetadataRow] = []
    for i in range(count):
        status = statuses[i % len(statuses)]
        kms = status in ("SSE-KMS", "DSSE-KMS")
        rows.append(
            MetadataRow(
                bucket=buckets[i % len(buckets)],
                key=f"p{i % 7}/q{i % 3}/obj-{i:07d}",
                size=(i * 7919) % 100_000,
                encryption_status=status,
                kms_key_arn=arns[(i // len(statuses)) % len(arns)] if kms else None,
                bucket_key=(i % 3 == 0) if kms else None,
                delete_marker=i % 97 == 0,
            )
        )
    return rows


def _mirror_io_class() -> type:
    from pyarrow.fs import LocalFileSystem, SubTreeFileSystem
    from pyiceberg.io.pyarrow import PyArrowFileIO

    class MirrorFileIO(PyArrowFileIO):
        """Writes ``s3://BUCKET/KEY`` files to ``mirror.root``/BUCKET/KEY (to upload
        after), so a table located in S3 is written without an S3 client."""

        def _initialize_fs(self, scheme: str, netloc: str | None = None) -> object:
            if scheme == "s3":
                return SubTreeFileSystem(self.properties["mirror.root"], LocalFileSystem())
            return super()._initialize_fs(scheme, netloc)

        def new_output(self, location: str) -> object:
            if location.startswith("s3://"):
                target = Path(self.properties["mirror.root"]) / location[len("s3://") :]
                target.parent.mkdir(parents=True, exist_ok=True)
            return super().new_output(location)

    return MirrorFileIO


MirrorFileIO = None  # set on first use by write_metadata_table (pyiceberg is optional)


def write_metadata_table(
    folder: Path,
    rows: Sequence[MetadataRow],
    *,
    location: str | None = None,
    commits: int = 3,
) -> object:
    """Write ``rows`` as a real Iceberg table with pyiceberg (SqlCatalog on sqlite in
    ``folder``), appended in ``commits`` snapshots; return the pyiceberg table.

    With ``location`` (``s3://BUCKET[/PREFIX]``) the table's paths are in S3 and its
    files are written under ``folder / "s3"``, laid out as BUCKET/KEY for upload.
    """
    global MirrorFileIO
    from pyiceberg.catalog.sql import SqlCatalog

    properties = {"uri": f"sqlite:///{folder / 'catalog.db'}", "warehouse": folder.as_uri()}
    if location is not None:
        if MirrorFileIO is None:
            MirrorFileIO = _mirror_io_class()  # type: ignore[misc]
        (folder / "s3").mkdir(exist_ok=True)
        properties["py-io-impl"] = f"{__name__}.MirrorFileIO"
        properties["mirror.root"] = str(folder / "s3")
    catalog = SqlCatalog("gen", **properties)
    catalog.create_namespace(METADATA_NAMESPACE)
    table = catalog.create_table(
        f"{METADATA_NAMESPACE}.{METADATA_TABLE}",
        schema=metadata_inventory_schema(),  # type: ignore[arg-type]
        location=location,
    )
    step = max(1, -(-len(rows) // commits))
    for start in range(0, len(rows), step):
        table.append(metadata_arrow(rows[start : start + step], start))
    return table


def commit_delete_file(
    table: object,
    *,
    positions: dict[str, list[int]] | None = None,
    equality_keys: Sequence[str] = (),
) -> object:
    """Commit one snapshot that adds a delete file, as merge-on-read writers (Spark, the
    S3 Metadata service) do; pyiceberg itself only deletes copy-on-write.

    ``positions`` (data file path -> row positions) makes a position delete file
    (``file_path``, ``pos``); ``equality_keys`` an equality delete file on ``key``.
    The delete file, its DELETES manifest, the manifest list and the metadata file are
    written with pyiceberg's own writers; return the refreshed table.
    """
    from pyiceberg.manifest import (
        DataFile,
        DataFileContent,
        FileFormat,
        ManifestContent,
        ManifestEntry,
        ManifestEntryStatus,
        ManifestWriterV2,
        write_manifest_list,
    )
    from pyiceberg.table.snapshots import Operation, Snapshot, Summary
    from pyiceberg.table.update import AddSnapshotUpdate, SetSnapshotRefUpdate
    from pyiceberg.typedef import Record

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    t: Any = table
    io = t.io
    meta = t.metadata
    parent = t.current_snapshot()
    snapshot_id = abs(hash(uuid.uuid4().hex)) % (2**62)
    sequence = meta.next_sequence_number()
    base = f"{meta.location}/data/{uuid.uuid4().hex}"
    if positions is not None:
        paths = [p for p, rows in positions.items() for _ in rows]
        values = [v for rows in positions.values() for v in rows]
        body = pa.table({"file_path": paths, "pos": pa.array(values, type=pa.int64())})
        content, equality_ids = DataFileContent.POSITION_DELETES, None
    else:
        body = pa.table({"key": list(equality_keys)})
        content, equality_ids = DataFileContent.EQUALITY_DELETES, [2]
    delete_path = f"{base}-deletes.parquet"
    with io.new_output(delete_path).create() as out:
        pq.write_table(body, out)
    size = len(io.new_input(delete_path))
    data_file = DataFile.from_args(
        content=content,
        file_path=delete_path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=body.num_rows,
        file_size_in_bytes=size,
        equality_ids=equality_ids,
    )
    data_file.spec_id = meta.default_spec_id
    manifest_path = f"{meta.location}/metadata/{uuid.uuid4().hex}-d0.avro"
    writer = DeleteManifestWriter(
        meta.spec(), meta.schema(), io.new_output(manifest_path), snapshot_id, "deflate"
    )
    with writer:
        writer.add(
            ManifestEntry.from_args(
                status=ManifestEntryStatus.ADDED,
                snapshot_id=snapshot_id,
                sequence_number=None,
                file_sequence_number=None,
                data_file=data_file,
            )
        )
    manifests = [*parent.manifests(io), writer.to_manifest_file()]
    list_path = f"{meta.location}/metadata/snap-{snapshot_id}-{uuid.uuid4().hex}.avro"
    with write_manifest_list(
        2, io.new_output(list_path), snapshot_id, parent.snapshot_id, sequence, "deflate"
    ) as lists:
        lists.add_manifests(manifests)
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent.snapshot_id,
        sequence_number=sequence,
        manifest_list=list_path,
        summary=Summary(Operation.DELETE),
        schema_id=meta.current_schema_id,
    )
    with t.transaction() as tx:
        tx._apply(
            (
                AddSnapshotUpdate(snapshot=snapshot),
                SetSnapshotRefUpdate(ref_name="main", type="branch", snapshot_id=snapshot_id),
            )
        )
    return t

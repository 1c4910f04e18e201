"""S3 Metadata live inventory tables: Apache Iceberg tables read with pyiceberg.

S3 Metadata keeps, per general purpose bucket, a live inventory table (namespace
``aws_s3_metadata``, table ``inventory``, in an S3 Tables table bucket): one row
per object version, with ``bucket``, ``key``, ``size``, ``is_delete_marker``,
``encryption_status``, ``is_bucket_key_enabled`` and ``kms_key_arn`` among its
columns (AWS's "S3 Metadata live inventory tables schema"). The table's current
state is an Iceberg snapshot, found from its metadata file:

* given as a location (``s3://.../metadata/NNNNN-UUID.metadata.json`` or a local
  path), or
* given as a table bucket ARN, resolved with S3 Tables ``GetTableMetadataLocation``
  (namespace and table default to ``aws_s3_metadata`` / ``inventory``).

pyiceberg resolves the snapshot as the Iceberg spec says (manifest list, manifests,
entries marked deleted left out, position delete files matched to data files by
sequence number and applied; equality deletes are refused, since pyiceberg does
not apply them and counting their rows would count deleted objects). Every file
is read through the caller's TLS-only boto3 client into a private folder (an
``s3://BUCKET/KEY`` file lands at ``FOLDER/BUCKET/KEY``) and each data and delete
file's size is checked against its manifest entry. The projected rows are written
to one Parquet file there, which :mod:`securestore.audit.inventory` reads like an
exported table (:func:`~securestore.audit.inventory_sql.metadata_table_source`).

Only format versions 1 and 2 are read; a table of a later version, without a
current snapshot, or without the columns the report needs is refused
(:class:`~securestore.audit.inventory_manifest.InventoryError`, exit 4), never
reported as empty.
"""

from __future__ import annotations

import gzip
import io as io_module
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from securestore.audit.collect import ClientFactory
from securestore.audit.inventory_fetch import S3Reader
from securestore.audit.inventory_manifest import InventoryError
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    NotFoundError,
    SecureStoreError,
    StorageError,
)

if TYPE_CHECKING:
    from pyiceberg.table import FileScanTask, StaticTable

__all__ = [
    "COLUMNS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TABLE",
    "INSTALL_HINT",
    "SUPPORTED_FORMAT_VERSIONS",
    "LiveTable",
    "is_iceberg_location",
    "is_table_bucket_arn",
    "read_live_table",
    "resolve_metadata_location",
]

#: Where S3 Metadata puts its tables in the table bucket.
DEFAULT_NAMESPACE = "aws_s3_metadata"
DEFAULT_TABLE = "inventory"

#: How to get the reader when it is missing.
INSTALL_HINT = "install pyiceberg: pip install 'securestore[inventory]'"

#: Iceberg table format versions read; a later one may carry deletes this reader
#: was not built for (deletion vectors, row lineage), so it is refused.
SUPPORTED_FORMAT_VERSIONS = (1, 2)

#: The live inventory columns the report reads (all in AWS's published schema).
COLUMNS = (
    "bucket",
    "key",
    "size",
    "is_delete_marker",
    "encryption_status",
    "is_bucket_key_enabled",
    "kms_key_arn",
)

_TABLE_BUCKET_ARN = re.compile(
    r"arn:aws[-a-z0-9]*:s3tables:[-a-z0-9]+:[0-9]{12}:bucket/[a-z0-9_-]{3,63}"
)
_S3_SCHEMES = ("s3://", "s3a://", "s3n://")
_WAREHOUSE_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BATCH_ROWS = 256 * 1024
# A table's metadata file grows with its snapshot log; far past this it is not one.
_MAX_METADATA = 256 * 1024 * 1024


def is_table_bucket_arn(text: str) -> bool:
    """True for an S3 Tables table bucket ARN (``arn:aws:s3tables:REGION:ACCOUNT:bucket/NAME``)."""
    return _TABLE_BUCKET_ARN.fullmatch(text) is not None


def is_iceberg_location(text: str) -> bool:
    """True for an Iceberg table metadata file (``*.metadata.json``, gzipped as
    ``*.metadata.json.gz`` or ``*.gz.metadata.json``), local or in S3."""
    return text.endswith((".metadata.json", ".metadata.json.gz"))


@dataclass(frozen=True)
class LiveTable:
    """One live inventory table read: where it came from, the Parquet file of its rows,
    the snapshot read, the files it took and the requests made."""

    source: str
    metadata_location: str
    rows_path: Path
    snapshot_id: int
    rows: int
    data_files: int
    delete_files: int
    api_calls: int


def _s3tables_error(exc: botocore.exceptions.ClientError, where: str) -> StorageError:
    """S3 Tables' error codes (``NotFoundException``, ``ForbiddenException``, ...) as
    securestore errors; the generic translation would read them as KMS's."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    text = f"GetTableMetadataLocation failed for {where}: {code}: {error.get('Message', '')}"
    if code == "NotFoundException":
        return NotFoundError(
            text, hint="check the table bucket ARN, namespace and table name", code=code
        )
    if code in ("ForbiddenException", "AccessDeniedException", "AccessDenied"):
        return AccessDeniedError(
            text, hint="the audit needs s3tables:GetTableMetadataLocation", code=code
        )
    return StorageError(text, code=code or None)


def resolve_metadata_location(
    clients: ClientFactory,
    table_bucket_arn: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    table: str = DEFAULT_TABLE,
) -> str:
    """The current metadata file of ``namespace.table`` in the table bucket, from
    S3 Tables ``GetTableMetadataLocation`` (in the bucket's region).

    Raises:
        InventoryError: the table has no metadata yet, or S3 Tables cannot be reached.
        StorageError: S3 Tables refused (not found, access denied), translated.
    """
    if not is_table_bucket_arn(table_bucket_arn):
        raise ConfigurationError(
            f"{table_bucket_arn!r} is not an S3 Tables table bucket ARN",
            hint="arn:aws:s3tables:REGION:ACCOUNT:bucket/NAME",
        )
    client = clients.client("s3tables", region_name=table_bucket_arn.split(":")[3])
    where = f"{table_bucket_arn} {namespace}.{table}"
    try:
        answer = client.get_table_metadata_location(
            tableBucketARN=table_bucket_arn, namespace=namespace, name=table
        )
    except botocore.exceptions.ClientError as exc:
        raise _s3tables_error(exc, where) from exc
    except botocore.exceptions.BotoCoreError as exc:  # no answer at all: the audit cannot run
        raise InventoryError(
            f"S3 Tables cannot be reached for {where}: {str(exc).splitlines()[0]}"
        ) from exc
    location = answer.get("metadataLocation")
    if not isinstance(location, str) or not location:
        raise InventoryError(
            f"the table {where} has no metadata yet",
            hint="S3 Metadata may still be creating it; audit once its status is Active",
        )
    return location


def _require_pyiceberg() -> None:
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "reading S3 Metadata Iceberg tables needs pyiceberg, which is not installed",
            hint=INSTALL_HINT,
        ) from None


def _split(location: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` file; keys that could climb out of the local
    folder (``..``, ``.``, empty segments) are refused.

    Not :class:`~securestore.location.S3Url`: S3 Tables warehouse buckets end in the
    suffix ``--table-s3``, which S3 reserves for them and general bucket names refuse.
    """
    bucket, _, key = location.split("://", 1)[1].partition("/")
    unsafe = any(p in ("..", ".", "") for p in key.split("/"))
    if not _WAREHOUSE_BUCKET.fullmatch(bucket) or unsafe:
        raise InventoryError(f"the table names a file at an unusable location: {location}")
    return bucket, key


def _file_io(root: Path, reader: S3Reader | None) -> Any:
    """A read-only pyiceberg FileIO: local paths as they are, ``s3://`` files fetched
    through ``reader`` into ``root`` on first use and read from there."""
    from pyarrow.fs import LocalFileSystem, SubTreeFileSystem  # type: ignore[import-untyped]
    from pyiceberg.io.pyarrow import PyArrowFileIO

    class _MirroredFileIO(PyArrowFileIO):
        def _initialize_fs(self, scheme: str, netloc: str | None = None) -> Any:
            if scheme in ("s3", "s3a", "s3n"):
                # parse_location gives "BUCKET/KEY" as the path of an s3:// file.
                return SubTreeFileSystem(str(root), LocalFileSystem())
            return super()._initialize_fs(scheme, netloc)

        def new_input(self, location: str) -> Any:
            if location.startswith(_S3_SCHEMES):
                fetch(location)
            return super().new_input(location)

        def new_output(self, location: str) -> Any:
            raise InventoryError("the metadata table reader never writes")

        def delete(self, location: Any) -> None:
            raise InventoryError("the metadata table reader never deletes")

    lock = threading.Lock()  # pyiceberg reads manifests from a thread pool

    def fetch(location: str) -> Path:
        bucket, key = _split(location)
        target = root / bucket / key
        with lock:
            if target.is_file():
                return target
            if reader is None:
                raise ConfigurationError(f"reading {location} needs an AWS connection")
            target.parent.mkdir(parents=True, exist_ok=True)
            reader.download_to(bucket, key, target)
        return target

    return _MirroredFileIO(properties={})


def _unreadable(what: str, exc: Exception) -> InventoryError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InventoryError(f"{what}: {text}")


def _load(location: str, io: Any) -> StaticTable:
    from pyiceberg.table import StaticTable
    from pyiceberg.table.metadata import TableMetadataUtil

    try:
        with io.new_input(location).open() as stream:
            data = stream.read(_MAX_METADATA + 1)
        if data[:2] == b"\x1f\x8b":  # gzip: S3 Tables allows *.metadata.json.gz
            with gzip.GzipFile(fileobj=io_module.BytesIO(data)) as unpacked:
                data = unpacked.read(_MAX_METADATA + 1)
        if len(data) > _MAX_METADATA:
            raise InventoryError(f"the table metadata file {location} is over 256 MiB")
        metadata = TableMetadataUtil.parse_raw(data.decode("utf-8"))
    except SecureStoreError:
        raise
    except FileNotFoundError as exc:
        raise InventoryError(f"the table metadata file {location} does not exist") from exc
    except Exception as exc:  # JSON or pydantic errors, unknown format versions
        raise _unreadable(f"the table metadata file {location} cannot be read", exc) from exc
    if metadata.format_version not in SUPPORTED_FORMAT_VERSIONS:
        raise InventoryError(
            f"the table at {location} has Iceberg format version {metadata.format_version}; "
            f"only {', '.join(map(str, SUPPORTED_FORMAT_VERSIONS))} are read"
        )
    from pyiceberg.catalog.noop import NoopCatalog

    return StaticTable(
        identifier=("s3-metadata", location),
        metadata_location=location,
        metadata=metadata,
        io=io,
        catalog=NoopCatalog("s3-metadata"),
    )


def _check_schema(table: StaticTable, location: str) -> None:
    names = {field.name for field in table.schema().fields}
    if "record_type" in names:
        raise InventoryError(
            f"{location} is an S3 Metadata journal table (it has record_type): it lists "
            "changes, not the objects stored",
            hint=f"give the live inventory table ({DEFAULT_NAMESPACE}.{DEFAULT_TABLE})",
        )
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InventoryError(
            f"the table at {location} lacks the live inventory columns {', '.join(missing)}"
        )


def _check_size(io: Any, path: str, expected: int, listed_in: str) -> None:
    try:
        with io.new_input(path).open() as stream:
            size = stream.seek(0, 2)
    except SecureStoreError:
        raise
    except FileNotFoundError as exc:
        raise InventoryError(f"the table's file {path} is missing") from exc
    except OSError as exc:
        raise _unreadable(f"the table's file {path} cannot be read", exc) from exc
    if size != expected:
        raise InventoryError(
            f"the table's file {path} has {size} bytes, its {listed_in} says {expected}",
            hint="the file changed after the snapshot was committed, or was damaged",
        )


def _verify_manifests(snapshot: Any, io: Any, location: str) -> None:
    """Check every manifest's size against the manifest list before pyiceberg reads them."""
    try:
        manifests = snapshot.manifests(io)
    except SecureStoreError:
        raise
    except Exception as exc:  # a missing or corrupt manifest list
        raise _unreadable(f"the manifests of {location} cannot be read", exc) from exc
    for manifest in manifests:
        _check_size(io, manifest.manifest_path, manifest.manifest_length, "manifest list")


def _verify_files(tasks: Iterable[FileScanTask], io: Any) -> tuple[int, int]:
    """Fetch every data and delete file and check its size against its manifest entry,
    so a truncated or replaced file is refused before it is counted."""
    data: set[str] = set()
    deletes: set[str] = set()
    for task in tasks:
        files = [(task.file, data), *((d, deletes) for d in task.delete_files)]
        for file, seen in files:
            if file.file_path not in seen:
                seen.add(file.file_path)
                _check_size(io, file.file_path, file.file_size_in_bytes, "manifest")
    return len(data), len(deletes)


def _plan(table: StaticTable, location: str) -> tuple[Any, list[FileScanTask]]:
    scan = table.scan(selected_fields=COLUMNS)
    try:
        tasks = list(scan.plan_files())
    except SecureStoreError:
        raise
    except ValueError as exc:
        if "equality deletes" in str(exc):
            raise InventoryError(
                f"the table at {location} has equality delete files, which this reader does "
                "not apply; its rows would include deleted objects",
                hint="compact the table (rewrite data files) or export it to Parquet",
            ) from exc
        raise _unreadable(f"the manifests of {location} cannot be read", exc) from exc
    except Exception as exc:  # missing or corrupt manifest list / manifests
        raise _unreadable(f"the manifests of {location} cannot be read", exc) from exc
    return scan, tasks


def _write_rows(batches: Iterable[Any], path: Path, projected: Any) -> int:
    """Stream ``batches`` into one Parquet file at ``path``; return the rows written."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    rows = 0
    writer: Any = None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            rows += batch.num_rows
            writer.write_batch(batch, row_group_size=_BATCH_ROWS)
        if writer is None:  # no rows: still a file DuckDB can bind the columns of
            pq.write_table(schema_to_pyarrow(projected).empty_table(), path)
    finally:
        if writer is not None:
            writer.close()
    return rows


def read_live_table(
    source: str,
    *,
    clients: ClientFactory | None,
    into: Path,
    namespace: str = DEFAULT_NAMESPACE,
    table: str = DEFAULT_TABLE,
) -> LiveTable:
    """Read the current snapshot of the live inventory table ``source`` (a table bucket
    ARN or a ``*.metadata.json`` location) into ``into/rows.parquet``-style files.

    Raises:
        InventoryError: missing or corrupt metadata, an unsupported format version, no
            current snapshot, missing columns, equality deletes, a file whose size
            differs from its manifest entry, S3 Tables unreachable (exit 4).
        StorageError: S3 or S3 Tables refused a request (translated).
        ConfigurationError: pyiceberg is missing, or an ``s3://`` table without a
            connection.
    """
    _require_pyiceberg()
    from pyiceberg.io.pyarrow import ArrowScan

    calls = 0
    needs_aws = is_table_bucket_arn(source) or source.startswith(_S3_SCHEMES)
    if needs_aws and clients is None:
        raise ConfigurationError(f"reading {source} needs an AWS connection")
    location = source
    if is_table_bucket_arn(source):
        assert clients is not None
        location = resolve_metadata_location(clients, source, namespace=namespace, table=table)
        calls += 1
    reader = S3Reader(clients) if clients is not None and needs_aws else None
    index = len(list(into.glob("table-*")))
    folder = into / f"table-{index:03d}"
    folder.mkdir()
    io = _file_io(folder / "files", reader)
    iceberg = _load(location, io)
    snapshot = iceberg.current_snapshot()
    if snapshot is None:
        raise InventoryError(
            f"the table at {location} has no current snapshot, so no rows to confirm",
            hint="S3 Metadata may still be backfilling it; audit once its status is Active",
        )
    _check_schema(iceberg, location)
    _verify_manifests(snapshot, io, location)
    scan, tasks = _plan(iceberg, location)
    data_files, delete_files = _verify_files(tasks, io)
    rows_path = folder / "rows.parquet"
    projected = scan.projection()
    arrow = ArrowScan(iceberg.metadata, io, projected, scan.row_filter, scan.case_sensitive)
    try:
        rows = _write_rows(arrow.to_record_batches(tasks), rows_path, projected)
    except SecureStoreError:
        raise
    except Exception as exc:  # a data or delete file that does not parse
        raise _unreadable(f"a data file of {location} cannot be read", exc) from exc
    return LiveTable(
        source=source,
        metadata_location=location,
        rows_path=rows_path,
        snapshot_id=snapshot.snapshot_id,
        rows=rows,
        data_files=data_files,
        delete_files=delete_files,
        api_calls=calls + (reader.calls if reader is not None else 0),
    )

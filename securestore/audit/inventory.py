"""Every object's encryption from S3 Inventory reports (and S3 Metadata tables), with DuckDB.

:func:`audit_inventory` reads one or more inventory reports, each named by its
``manifest.json`` (a local path or ``s3://`` URL), runs the queries of
:mod:`securestore.audit.inventory_sql` in an embedded DuckDB and judges the
counts with :mod:`securestore.audit.inventory_report`, giving an ordinary
:class:`~securestore.audit.runner.AuditReport`.

Fetching and verification (MD5 of every data file, ``manifest.checksum``, a
temporary folder removed on every exit path) are in
:mod:`securestore.audit.inventory_fetch`; the inventory is a DuckDB view over
the verified files, scanned by each query.

ORC files are read through pyarrow (DuckDB has no ORC reader). S3 Metadata live
inventory tables are Iceberg tables in S3 Tables; DuckDB reads Iceberg only with
its ``iceberg`` extension, which it downloads on first use (not possible on many
machines), so :func:`audit_metadata_table` has pyiceberg resolve the table's
current snapshot (:mod:`securestore.audit.metadata_table`) and DuckDB count the
rows it yields. It also reads the table's rows exported as Parquet (Athena's
``UNLOAD (SELECT * FROM ...) TO ... WITH (format = 'PARQUET')``). Raw Iceberg data
files are never read as a table: they would count deleted and superseded rows.
"""

# Queries are built as text on purpose (they are also printed for Athena); every
# value in them is a literal through quote() or an int, never raw input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from securestore.audit.collect import ClientFactory
from securestore.audit.inventory_fetch import LoadedInventory, S3Reader, load_manifest, scratch
from securestore.audit.inventory_manifest import InventoryError, InventoryFormat
from securestore.audit.inventory_report import (
    GroupCount,
    InventoryCounts,
    KeyCount,
    Offender,
    build_report,
    key_allowed,
)
from securestore.audit.inventory_sql import (
    accepted_statuses,
    duckdb_key_offenders,
    duckdb_offenders,
    duckdb_source,
    keys_query,
    metadata_table_source,
    prefix_expression,
    summary_query,
)
from securestore.audit.metadata_table import (
    DEFAULT_NAMESPACE,
    DEFAULT_TABLE,
    is_iceberg_location,
    is_table_bucket_arn,
    read_live_table,
)
from securestore.audit.options import AuditOptions
from securestore.audit.runner import AuditReport
from securestore.errors import ConfigurationError

__all__ = [
    "INSTALL_HINT",
    "audit_inventory",
    "audit_metadata_table",
    "connect",
    "load_all",
    "query",
]

#: How to get the engine when it is missing.
INSTALL_HINT = "install DuckDB and pyarrow: pip install 'securestore[inventory]'"

_TABLE = "inventory"
_COLUMNS = (
    "bucket",
    "key",
    "size",
    "encryption_status",
    "bucket_key_status",
    "is_delete_marker",
    "kms_key_arn",
)


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise ConfigurationError(
            "the inventory audit needs DuckDB, which is not installed", hint=INSTALL_HINT
        ) from None
    return duckdb


# --- the engine -----------------------------------------------------------------------------


def _unreadable(exc: Exception) -> InventoryError:
    return InventoryError(f"an inventory data file cannot be read: {str(exc).splitlines()[0]}")


def query(con: Any, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` and fetch every row; DuckDB reads the data files now, so an error
    here is a file that does not parse.

    Raises:
        InventoryError: DuckDB failed (a data file that does not parse).
    """
    try:
        rows: list[tuple[Any, ...]] = con.execute(sql).fetchall()
    except InventoryError:
        raise
    except Exception as exc:  # duckdb.Error and its many subclasses
        raise _unreadable(exc) from exc
    return rows


def _create_view(
    con: Any, loaded: Sequence[LoadedInventory], metadata_paths: Sequence[str], depth: int
) -> None:
    """One view over every source, scanned where it lies by each query (a table would
    hold every row in memory, which does not scale with an estate), with the prefix at
    ``depth``."""
    prefix = prefix_expression(depth)
    parts: list[str] = []
    for index, item in enumerate(loaded):
        m = item.manifest
        relation = f"orc_source_{index}"
        if m.file_format is InventoryFormat.ORC:
            con.register(relation, _orc_dataset(item.paths))
        source = duckdb_source(m.file_format, m.columns, item.paths, relation=relation)
        parts.append(f"SELECT *, NULL::VARCHAR AS kms_key_arn, {prefix} AS prefix FROM ({source})")
    if metadata_paths:
        parts.append(f"SELECT *, {prefix} AS prefix FROM ({metadata_table_source(metadata_paths)})")
    try:
        con.execute(f"CREATE TEMP VIEW {_TABLE} AS " + " UNION ALL ".join(parts))
    except Exception as exc:  # binding reads Parquet footers: a file that is not Parquet
        raise _unreadable(exc) from exc


def _orc_dataset(paths: Sequence[str]) -> Any:
    try:
        import pyarrow.dataset as ds  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "ORC inventories are read through pyarrow, which is not installed", hint=INSTALL_HINT
        ) from None
    return ds.dataset(list(paths), format="orc")


def _top(con: Any, sql: str) -> tuple[Offender, ...]:
    found = [
        Offender(bucket, entry["key"], entry["size"], entry["reason"] or "none")
        for bucket, _prefix, top in query(con, sql)
        for entry in top
    ]
    return tuple(sorted(found, key=lambda o: (o.bucket, -(o.size or -1), o.key)))


def _count(
    con: Any, *, options: AuditOptions, top: int, keyed: frozenset[str]
) -> tuple[
    tuple[GroupCount, ...], tuple[Offender, ...], tuple[KeyCount, ...], tuple[Offender, ...]
]:
    cols = _COLUMNS
    summary = summary_query(_TABLE, cols, depth=1, prefix_column=True)
    groups = tuple(
        GroupCount(b, p, s, k, int(n), None if size is None else int(size))
        for b, p, s, k, n, size in query(con, summary)
    )
    accepted = accepted_statuses(options.require)
    offenders = _top(con, duckdb_offenders(_TABLE, accepted=accepted, limit=top))
    keys: tuple[KeyCount, ...] = ()
    key_offenders: tuple[Offender, ...] = ()
    if options.allowed_kms_keys and keyed:
        sql = keys_query(_TABLE, cols, depth=1, prefix_column=True)
        keys = tuple(
            KeyCount(b, p, arn, int(n), None if size is None else int(size))
            for b, p, arn, n, size in query(con, sql)
        )
        allowed_arns = sorted(
            {k.kms_key_arn for k in keys if key_allowed(k.kms_key_arn, options.allowed_kms_keys)}
        )
        key_offenders = _top(
            con, duckdb_key_offenders(_TABLE, allowed_arns=allowed_arns, limit=top)
        )
    return groups, offenders, keys, key_offenders


def connect(
    loaded: Sequence[LoadedInventory], metadata_paths: Sequence[str] = (), *, depth: int = 1
) -> Any:
    """An in-memory DuckDB connection holding every source in the table ``inventory``
    (the normalised columns, ``kms_key_arn`` and ``prefix`` at ``depth``); the caller
    closes it.

    Raises:
        InventoryError: a data file does not parse.
        ConfigurationError: DuckDB is not installed.
    """
    # Insertion order is never needed (every query groups or sorts); keeping it costs memory.
    con = _duckdb().connect(":memory:", config={"preserve_insertion_order": False})
    try:
        _create_view(con, loaded, metadata_paths, depth)
    except BaseException:
        con.close()
        raise
    return con


def load_all(
    manifests: Sequence[str], *, clients: ClientFactory | None, into: Path
) -> tuple[list[LoadedInventory], int]:
    """Every manifest with its data files verified locally, and the S3 calls that took."""
    if not manifests:
        raise ConfigurationError("no inventory manifest given")
    _duckdb()  # refuse before downloading anything
    reader = (
        S3Reader(clients)
        if clients is not None and any(m.startswith("s3://") for m in manifests)
        else None
    )
    loaded = [load_manifest(m, clients=clients, into=into, reader=reader) for m in manifests]
    return loaded, reader.calls if reader is not None else 0


def _run(
    loaded: Sequence[LoadedInventory],
    metadata_paths: Sequence[str],
    *,
    options: AuditOptions,
    depth: int,
    top: int,
    api_calls: int,
    now: datetime | None,
    sources: Sequence[str] | None = None,
) -> AuditReport:
    con = connect(loaded, metadata_paths, depth=depth)
    try:
        keyed: frozenset[str] = frozenset()
        if metadata_paths:
            keyed = frozenset(
                row[0]
                for row in con.execute(
                    f"SELECT DISTINCT bucket FROM {_TABLE} WHERE kms_key_arn IS NOT NULL "
                    f"UNION SELECT DISTINCT bucket FROM ({metadata_table_source(metadata_paths)})"
                ).fetchall()
            )
        groups, offenders, keys, key_offenders = _count(con, options=options, top=top, keyed=keyed)
    finally:
        con.close()
    counts = InventoryCounts(
        groups=groups,
        offenders=offenders,
        keys=keys,
        key_offenders=key_offenders,
        keyed_buckets=keyed,
        sources=tuple(item.source for item in loaded)
        + tuple(metadata_paths if sources is None else sources),
        depth=depth,
        files=sum(len(item.paths) for item in loaded) + len(metadata_paths),
        api_calls=api_calls,
    )
    return build_report(counts, options=options, now=now)


def audit_inventory(
    manifests: Sequence[str],
    *,
    clients: ClientFactory | None = None,
    options: AuditOptions | None = None,
    depth: int = 1,
    top: int = 20,
    now: datetime | None = None,
) -> AuditReport:
    """Audit every object the inventory reports at ``manifests`` list.

    ``depth`` is how many key path components make a prefix (0: per bucket);
    ``top`` how many of the largest offending objects are listed.

    Raises:
        InventoryError: a manifest or data file is missing, malformed, or does not
            match its checksum (exit 4: the audit could not run).
        StorageError: S3 refused a GET.
        ConfigurationError: DuckDB (or, for ORC, pyarrow) is not installed.
    """
    with scratch() as folder:
        loaded, calls = load_all(manifests, clients=clients, into=folder)
        return _run(
            loaded,
            (),
            options=options or AuditOptions(),
            depth=depth,
            top=top,
            api_calls=calls,
            now=now,
        )


def _export_files(item: str) -> list[str]:
    path = Path(item)
    if path.is_dir():
        return [str(p) for p in sorted(path.rglob("*.parquet"))]
    if path.is_file():
        return [str(path)]
    raise InventoryError(f"metadata table export {item} does not exist")


def audit_metadata_table(
    tables: Sequence[str],
    *,
    clients: ClientFactory | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    table: str = DEFAULT_TABLE,
    options: AuditOptions | None = None,
    depth: int = 1,
    top: int = 20,
    now: datetime | None = None,
) -> AuditReport:
    """Audit the rows of S3 Metadata live inventory tables; they carry ``kms_key_arn``,
    so ``allowed_kms_keys`` is checked.

    Each of ``tables`` is one of:

    * an S3 Tables table bucket ARN: the table ``namespace.table`` in it is found with
      ``GetTableMetadataLocation`` and read as Iceberg (needs ``clients``);
    * an Iceberg metadata file (``*.metadata.json``, ``s3://`` or local): its current
      snapshot is read (:mod:`securestore.audit.metadata_table`);
    * otherwise a local Parquet export of the table (a file or a folder of ``*.parquet``).

    Raises:
        InventoryError: no Parquet file found, a file that does not parse, or an Iceberg
            table that cannot be read whole (see :func:`~securestore.audit.
            metadata_table.read_live_table`).
        StorageError: S3 or S3 Tables refused a request.
        ConfigurationError: pyiceberg (for Iceberg tables) or DuckDB is missing.
    """
    _duckdb()  # refuse before downloading anything
    with scratch() as folder:
        files: list[str] = []
        labels: list[str] = []
        calls = 0
        for item in tables:
            if is_table_bucket_arn(item) or is_iceberg_location(item):
                live = read_live_table(
                    item, clients=clients, into=folder, namespace=namespace, table=table
                )
                files.append(str(live.rows_path))
                label = f"{item} ({namespace}.{table})" if is_table_bucket_arn(item) else item
                labels.append(f"{label} snapshot {live.snapshot_id}")
                calls += live.api_calls
            else:
                found = _export_files(item)
                files.extend(found)
                labels.extend(found)
        if not files:
            raise InventoryError("no Parquet files in the metadata table export")
        return _run(
            (),
            files,
            options=options or AuditOptions(),
            depth=depth,
            top=top,
            api_calls=calls,
            now=now,
            sources=labels,
        )

"""Athena DDL and queries for the inventory report over many accounts' inventories (pure).

For an organisation, inventories of every bucket are delivered to one central
bucket, and Athena (Trino) is the engine that scans them where they lie.
:func:`athena_script` renders, for a set of manifests:

1. one ``CREATE EXTERNAL TABLE`` per inventory configuration, over its Hive
   ``symlink.txt`` location (``.../SOURCE/CONFIG/hive/``), with the columns the
   manifest's ``fileSchema`` declares and the SerDe of its format, as in AWS's
   "Querying Amazon S3 Inventory with Amazon Athena";
2. ``MSCK REPAIR TABLE`` for each, to load the ``dt`` partitions;
3. a view ``securestore_inventory`` over the delivery each manifest describes
   (``dt`` of its creation time), with the columns the report reads (CSV keys
   URL-decoded, CSV sizes cast);
4. the report's queries (:mod:`securestore.audit.inventory_sql`) over the view.

The view and the queries are in the SQL DuckDB and Trino share; the tests run
them in DuckDB on the same files and compare with the DuckDB report.
"""

# Queries are built as text on purpose (they are also printed for Athena); every
# value in them is a literal through quote() or an int, never raw input.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Sequence

from securestore.audit.inventory_manifest import InventoryFormat, InventoryManifest
from securestore.audit.inventory_sql import (
    NORMALISED_COLUMNS,
    accepted_statuses,
    offenders_query,
    quote,
    summary_query,
)
from securestore.audit.options import EncryptionRequirement

__all__ = [
    "VIEW_NAME",
    "create_table",
    "hive_location",
    "partition",
    "table_name",
    "view_statement",
    "athena_script",
]

#: The view the report queries read.
VIEW_NAME = "securestore_inventory"

_SERDE = {
    InventoryFormat.ORC: "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
    InventoryFormat.PARQUET: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    InventoryFormat.CSV: "org.apache.hadoop.hive.serde2.OpenCSVSerde",
}
_BOOLEAN = frozenset({"is_latest", "is_delete_marker", "is_multipart_uploaded"})
_TIMESTAMP = frozenset({"last_modified_date", "object_lock_retain_until_date"})


def table_name(manifest: InventoryManifest) -> str:
    """``inventory_<source bucket>_<config id>``, as an Athena identifier."""
    raw = f"inventory_{manifest.source_bucket}_{_config_id(manifest)}"
    return re.sub(r"[^a-z0-9_]", "_", raw.lower())


def _base(manifest: InventoryManifest) -> str:
    """``DEST-PREFIX/SOURCE/CONFIG`` from the first data file's key (``.../data/NAME``)."""
    key = manifest.files[0].key
    base, sep, _ = key.rpartition("/data/")
    return base if sep else key.rsplit("/", 1)[0]


def _config_id(manifest: InventoryManifest) -> str:
    return _base(manifest).rsplit("/", 1)[-1]


def hive_location(manifest: InventoryManifest) -> str:
    """The ``s3://`` folder of the configuration's ``hive/dt=.../symlink.txt`` files."""
    return f"s3://{manifest.destination_bucket}/{_base(manifest)}/hive/"


def partition(manifest: InventoryManifest) -> str:
    """The ``dt`` partition of the delivery (``YYYY-MM-DD-HH-MM``, from its creation time)."""
    if manifest.created is None:
        return ""
    return manifest.created.strftime("%Y-%m-%d-%H-%M")


def _column_type(manifest: InventoryManifest, column: str) -> str:
    if manifest.file_format is InventoryFormat.CSV:
        return "boolean" if column in _BOOLEAN else "string"
    if column in _BOOLEAN:
        return "boolean"
    if column == "size":
        return "bigint"
    if column in _TIMESTAMP:
        return "timestamp"
    return "string"


def create_table(manifest: InventoryManifest) -> str:
    """The ``CREATE EXTERNAL TABLE`` statement for the manifest's configuration."""
    columns = ",\n".join(f"  `{c}` {_column_type(manifest, c)}" for c in manifest.columns)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table_name(manifest)} (\n{columns}\n)\n"
        "PARTITIONED BY (dt string)\n"
        f"ROW FORMAT SERDE '{_SERDE[manifest.file_format]}'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{hive_location(manifest)}';"
    )


def _select(manifest: InventoryManifest) -> str:
    cols = manifest.columns
    csv = manifest.file_format is InventoryFormat.CSV
    # S3 URL-encodes CSV keys (a space as '+'); Trino's url_decode would take '+' as a
    # space by itself, DuckDB's not: replacing it first gives both the same answer.
    key = "url_decode(replace(key, '+', '%20'))" if csv else "key"
    if "size" not in cols:
        size = "CAST(NULL AS bigint)"
    elif csv:
        size = "CAST(NULLIF(size, '') AS bigint)"
    else:
        size = "CAST(size AS bigint)"
    bucket_key = "NULLIF(bucket_key_status, '')" if "bucket_key_status" in cols else "NULL"
    if "is_delete_marker" not in cols:
        marker = "false"
    else:
        marker = "lower(COALESCE(CAST(is_delete_marker AS varchar), 'false')) = 'true'"
    where = f" WHERE dt = {quote(partition(manifest))}" if partition(manifest) else ""
    return (
        f"SELECT bucket, {key} AS key, {size} AS size, "
        "NULLIF(encryption_status, '') AS encryption_status, "
        f"CAST({bucket_key} AS varchar) AS bucket_key_status, {marker} AS is_delete_marker "
        f"FROM {table_name(manifest)}{where}"
    )


def view_statement(manifests: Sequence[InventoryManifest]) -> str:
    """``CREATE OR REPLACE VIEW securestore_inventory`` over every manifest's delivery."""
    body = "\nUNION ALL\n".join(_select(m) for m in manifests)
    return f"CREATE OR REPLACE VIEW {VIEW_NAME} AS\n{body};"


def athena_script(
    manifests: Sequence[InventoryManifest],
    *,
    require: EncryptionRequirement,
    depth: int = 1,
    top: int = 20,
) -> str:
    """The whole script: tables, partitions, the view and the report's queries."""
    seen: dict[str, InventoryManifest] = {}
    for m in manifests:
        seen.setdefault(table_name(m), m)
    parts = ["-- securestore audit --inventory, for Amazon Athena", ""]
    for m in seen.values():
        parts += [create_table(m), "", f"MSCK REPAIR TABLE {table_name(m)};", ""]
    parts += [view_statement(manifests), ""]
    parts += [
        "-- objects and bytes by bucket, prefix, EncryptionStatus and BucketKeyStatus",
        summary_query(VIEW_NAME, NORMALISED_COLUMNS, depth=depth) + ";",
        "",
        f"-- the {top} largest objects of each prefix not encrypted with {require.value} or "
        "stronger",
        offenders_query(
            VIEW_NAME,
            NORMALISED_COLUMNS,
            accepted=accepted_statuses(require),
            depth=depth,
            limit=top,
        )
        + ";",
        "",
    ]
    return "\n".join(parts)

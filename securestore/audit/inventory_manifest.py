"""S3 Inventory's ``manifest.json``: parsing and validating it (pure, no I/O).

The format is AWS's published one (Amazon S3 User Guide, "Locating your
inventory list"): a JSON object with ``sourceBucket``, ``destinationBucket`` (a
bucket ARN), ``version``, ``creationTimestamp`` (epoch milliseconds),
``fileFormat`` (``CSV``, ``ORC`` or ``Parquet``), ``fileSchema`` and ``files``
(``key``, ``size``, ``MD5checksum`` of each data file in the destination bucket).

``fileSchema`` differs by format:

* CSV: the column names in order, ``"Bucket, Key, Size, ..., EncryptionStatus"``
  (the CSV files have no header row, so this is the only place the order is given);
* ORC: a Hive struct, ``"struct<bucket:string,key:string,size:bigint,...>"``;
* Parquet: a Parquet message, ``"message s3.inventory { required binary bucket
  (UTF8); ... optional binary encryption_status (UTF8); }"``.

Every form is normalised to the snake_case names the ORC and Parquet files use
(``EncryptionStatus`` -> ``encryption_status``, ``ETag`` -> ``e_tag``).
A manifest that cannot answer the audit (no ``EncryptionStatus`` field, no
files, a file without a checksum) is refused with :class:`InventoryError`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from securestore.errors import StorageError

__all__ = [
    "REQUIRED_COLUMNS",
    "InventoryError",
    "InventoryFile",
    "InventoryFormat",
    "InventoryManifest",
    "parse_manifest",
    "schema_columns",
    "snake_case",
]

#: The columns the report cannot do without.
REQUIRED_COLUMNS = ("bucket", "key", "encryption_status")

_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_PARQUET_FIELD_RE = re.compile(r"(?:required|optional|repeated)\s+\w+\s+(\w+)")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BUCKET_ARN_RE = re.compile(r"^arn:[a-z-]+:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$")


class InventoryError(StorageError):
    """The inventory cannot be read: a missing or malformed manifest or data file,
    a checksum mismatch, a schema without the fields the audit needs.

    A storage error (exit 4): the audit could not run, which is not a finding.
    """


class InventoryFormat(enum.StrEnum):
    """``fileFormat`` of a manifest."""

    CSV = "CSV"
    ORC = "ORC"
    PARQUET = "Parquet"


@dataclass(frozen=True)
class InventoryFile:
    """One data file the manifest lists: its key in the destination bucket, size and MD5."""

    key: str
    size: int
    md5: str


@dataclass(frozen=True)
class InventoryManifest:
    """A parsed ``manifest.json``.

    ``destination_bucket`` is the bucket name (from the ARN); ``columns`` the
    data files' columns in order, in snake_case.
    """

    source_bucket: str
    destination_bucket: str
    file_format: InventoryFormat
    columns: tuple[str, ...]
    files: tuple[InventoryFile, ...]
    version: str = ""
    created: datetime | None = None

    def has(self, column: str) -> bool:
        """True if the data files carry ``column`` (snake_case)."""
        return column in self.columns


def snake_case(name: str) -> str:
    """``EncryptionStatus`` -> ``encryption_status``, ``ETag`` -> ``e_tag``."""
    name = name.strip()
    if name == "ETag":
        return "e_tag"
    return _CAMEL_RE.sub("_", name).lower()


def schema_columns(file_format: InventoryFormat, schema: str) -> tuple[str, ...]:
    """The column names ``schema`` (a manifest's ``fileSchema``) declares, in snake_case.

    Raises:
        InventoryError: the schema is not of the form its format uses.
    """
    if file_format is InventoryFormat.CSV:
        names = [snake_case(part) for part in schema.split(",")]
    elif file_format is InventoryFormat.ORC:
        match = re.fullmatch(r"\s*struct<(.*)>\s*", schema, flags=re.DOTALL)
        if match is None:
            raise InventoryError(f"ORC fileSchema is not a struct<...>: {schema[:80]!r}")
        names = [field.split(":", 1)[0].strip() for field in match.group(1).split(",")]
    else:
        if not schema.strip().startswith("message"):
            raise InventoryError(f"Parquet fileSchema is not a message: {schema[:80]!r}")
        names = _PARQUET_FIELD_RE.findall(schema)
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise InventoryError(f"fileSchema names no usable, distinct columns: {schema[:80]!r}")
    return tuple(names)


def _text(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if not isinstance(value, str) or not value:
        raise InventoryError(f"manifest.json has no {field}")
    return value


def _files(doc: dict[str, Any]) -> tuple[InventoryFile, ...]:
    entries = doc.get("files")
    if not isinstance(entries, list) or not entries:
        raise InventoryError("manifest.json lists no data files")
    files: list[InventoryFile] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise InventoryError("manifest.json has a files entry that is not an object")
        key, size, md5 = entry.get("key"), entry.get("size"), entry.get("MD5checksum")
        if not isinstance(key, str) or not key or ".." in key.split("/"):
            raise InventoryError(f"manifest.json has a data file with an unusable key: {key!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InventoryError(f"manifest.json gives no size for {key}")
        # Fail closed: a data file whose MD5 is not given cannot be verified.
        if not isinstance(md5, str) or not _MD5_RE.match(md5.lower()):
            raise InventoryError(f"manifest.json gives no MD5 checksum for {key}")
        files.append(InventoryFile(key=key, size=size, md5=md5.lower()))
    return tuple(files)


def parse_manifest(text: str | bytes) -> InventoryManifest:
    """Parse and validate a ``manifest.json``.

    Raises:
        InventoryError: not JSON, a field missing or malformed, an unknown
            ``fileFormat``, or a ``fileSchema`` without one of
            :data:`REQUIRED_COLUMNS` (an inventory without ``EncryptionStatus``
            says nothing about encryption).
    """
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InventoryError(f"manifest.json is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InventoryError("manifest.json is not a JSON object")
    fmt_text = _text(doc, "fileFormat")
    try:
        file_format = next(f for f in InventoryFormat if f.value.lower() == fmt_text.lower())
    except StopIteration:
        raise InventoryError(
            f"manifest.json has an unknown fileFormat {fmt_text!r}",
            hint="S3 Inventory writes CSV, ORC or Parquet",
        ) from None
    columns = schema_columns(file_format, _text(doc, "fileSchema"))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        names = ", ".join(missing)
        raise InventoryError(
            f"the inventory's fileSchema lacks {names}: it cannot show how objects are encrypted",
            hint="add the EncryptionStatus (and BucketKeyStatus) optional fields to the "
            "inventory configuration ('securestore harden --inventory' configures them)",
        )
    destination = _text(doc, "destinationBucket")
    match = _BUCKET_ARN_RE.match(destination)
    if match is None:
        raise InventoryError(f"manifest.json destinationBucket is not a bucket ARN: {destination}")
    created: datetime | None = None
    stamp = doc.get("creationTimestamp")
    if isinstance(stamp, str | int) and str(stamp).isdigit():
        created = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    return InventoryManifest(
        source_bucket=_text(doc, "sourceBucket"),
        destination_bucket=match.group(1),
        file_format=file_format,
        columns=columns,
        files=_files(doc),
        version=str(doc.get("version", "")),
        created=created,
    )

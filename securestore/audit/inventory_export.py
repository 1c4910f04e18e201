"""From an inventory audit to S3 Batch Operations manifests of every object short of it.

The report lists the worst objects; a job needs all of them. :func:`export_job_manifests`
has DuckDB write them straight from the inventory to ``S3BatchOperations_CSV_20180820``
files (URL-encoded keys), one per bucket and operation, without holding the
objects in Python, so it scales with the inventory:

* ``BUCKET.update.csv``: objects under SSE-S3 where SSE-KMS is required; S3's
  ``UpdateObjectEncryption`` changes their encryption without moving data;
* ``BUCKET.copy.csv``: objects without server-side encryption (``NOT-SSE``) or
  with an unknown status; only a copy in place (``S3PutObjectCopy``) encrypts them.

SSE-C objects are counted, never exported: no job can read them without the
customer's key. A DSSE-KMS requirement cannot be met by Batch Operations (neither
operation writes DSSE-KMS) and is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from securestore.audit.collect import ClientFactory
from securestore.audit.inventory import connect, load_all, query
from securestore.audit.inventory_fetch import scratch
from securestore.audit.inventory_sql import quote
from securestore.audit.options import EncryptionRequirement
from securestore.errors import ConfigurationError

__all__ = ["JobManifest", "export_job_manifests"]

_TABLE = "inventory"


@dataclass(frozen=True)
class JobManifest:
    """One exported manifest: its bucket, operation (``update`` or ``copy``), file,
    object count and MD5 (the ETag S3 gives it when stored with SSE-S3)."""

    bucket: str
    operation: str
    path: Path
    objects: int
    md5: str


def _statuses(require: EncryptionRequirement) -> dict[str, str]:
    """Operation -> SQL condition on ``encryption_status``."""
    if require is EncryptionRequirement.DSSE_KMS:
        raise ConfigurationError(
            "S3 Batch Operations cannot write DSSE-KMS (neither UpdateObjectEncryption nor "
            "PutObjectCopy offers it)",
            hint="re-encrypt those objects with 'securestore reencrypt' instead",
        )
    copy = "(encryption_status IS NULL OR encryption_status = 'NOT-SSE')"
    if require is EncryptionRequirement.KMS:
        return {"update": "encryption_status = 'SSE-S3'", "copy": copy}
    return {"copy": copy}


def export_job_manifests(
    manifests: Sequence[str],
    *,
    clients: ClientFactory | None,
    require: EncryptionRequirement,
    into: Path,
) -> tuple[list[JobManifest], int]:
    """Write the job manifests into the folder ``into``; return them and the number of
    SSE-C objects left out.

    Raises:
        InventoryError, StorageError: as :func:`~securestore.audit.inventory.audit_inventory`.
        ConfigurationError: a DSSE-KMS requirement (see the module docstring).
    """
    conditions = _statuses(require)
    into.mkdir(parents=True, exist_ok=True)
    written: list[JobManifest] = []
    with scratch() as folder:
        loaded, _calls = load_all(manifests, clients=clients, into=folder)
        con = connect(loaded, depth=0)
        try:
            live = f"FROM {_TABLE} WHERE is_delete_marker IS NOT TRUE"
            skipped = int(
                query(con, f"SELECT count(*) {live} AND encryption_status = 'SSE-C'")[0][0]
            )
            buckets = [r[0] for r in query(con, f"SELECT DISTINCT bucket {live} ORDER BY 1")]
            for bucket in buckets:
                for operation, condition in conditions.items():
                    where = f"{live} AND bucket = {quote(bucket)} AND {condition}"
                    count = int(query(con, f"SELECT count(*) {where}")[0][0])
                    if not count:
                        continue
                    path = into / f"{bucket}.{operation}.csv"
                    query(
                        con,
                        f"COPY (SELECT bucket, replace(url_encode(key), '%2F', '/') AS key "
                        f"{where} ORDER BY key) TO {quote(str(path))} "
                        "(FORMAT CSV, HEADER false, QUOTE '\"')",
                    )
                    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
                    written.append(JobManifest(bucket, operation, path, count, digest))
        finally:
            con.close()
    return written, skipped

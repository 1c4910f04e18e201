"""From inventory counts to an :class:`~securestore.audit.runner.AuditReport` (pure).

The counts come from the queries of :mod:`securestore.audit.inventory_sql`; this
module judges them and shapes them as audit results, so every report format
(table, JSON, SARIF, OCSF, JUnit, Markdown, CSV) and the exit codes work as for
bucket audits. Each bucket and prefix (at the configured depth) is one "bucket"
of the report, with:

* ``S3.INV.1``: FAIL when any object there is stored with an ``EncryptionStatus``
  weaker than ``--require`` (``NOT-SSE``, ``SSE-C``, an unknown value or none),
  with objects and bytes by ``EncryptionStatus`` and ``BucketKeyStatus`` and the
  largest offending objects in its details;
* ``S3.INV.2`` (only with ``--allowed-kms-key``): FAIL when KMS-encrypted objects
  there use a key not allowed; ERROR when the inventory carries no key ARN (S3
  Inventory reports do not; S3 Metadata tables do), since a demand that cannot be
  confirmed is not met.

Failing prefixes come first, worst (most bytes short) first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from securestore.audit.inventory_sql import accepted_statuses
from securestore.audit.model import CheckMeta, Result, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.audit.runner import AuditReport

__all__ = [
    "INVENTORY_ENCRYPTION",
    "INVENTORY_KMS_KEY",
    "GroupCount",
    "InventoryCounts",
    "KeyCount",
    "Offender",
    "build_report",
    "key_allowed",
]

_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html"

INVENTORY_ENCRYPTION = CheckMeta(
    id="S3.INV.1",
    title="Every inventoried object is encrypted as required",
    severity=Severity.HIGH,
    rationale="S3 Inventory lists every object with its server-side encryption status. "
    "Default encryption applies only to new writes; objects written before it, or with "
    "weaker explicit headers (or SSE-C), keep their encryption. Client-side encryption is "
    "invisible to Inventory: such objects count by their server-side status.",
    remediation="Re-encrypt the listed objects in place (copy onto themselves with the "
    "required encryption, or an S3 Batch Operations job: 'securestore reencrypt --batch').",
    references=(_DOC,),
)

INVENTORY_KMS_KEY = CheckMeta(
    id="S3.INV.2",
    title="Inventoried KMS-encrypted objects use an allowed key",
    severity=Severity.HIGH,
    rationale="An object encrypted under a key outside the allowed set can be read by "
    "whoever controls that key. The key is only known where the inventory carries it "
    "(S3 Metadata live inventory tables' kms_key_arn).",
    remediation="Re-encrypt the listed objects under an allowed key (S3 Batch Operations).",
    references=(_DOC,),
)


@dataclass(frozen=True)
class GroupCount:
    """Objects and bytes of one bucket/prefix with one encryption and bucket key status."""

    bucket: str
    prefix: str
    encryption_status: str
    bucket_key_status: str
    objects: int
    bytes: int | None


@dataclass(frozen=True)
class KeyCount:
    """KMS-encrypted objects and bytes of one bucket/prefix under one key ARN."""

    bucket: str
    prefix: str
    kms_key_arn: str
    objects: int
    bytes: int | None


@dataclass(frozen=True)
class Offender:
    """One object short of a requirement; ``reason`` is its status or key ARN."""

    bucket: str
    key: str
    size: int | None
    reason: str


@dataclass(frozen=True)
class InventoryCounts:
    """What the queries returned, for :func:`build_report`.

    ``keyed_buckets`` are the buckets whose inventory carries KMS key ARNs;
    ``sources`` name the manifests (or tables) read; ``files`` counts the data
    files read and ``api_calls`` the S3 requests made to fetch them.
    """

    groups: tuple[GroupCount, ...]
    offenders: tuple[Offender, ...] = ()
    keys: tuple[KeyCount, ...] = ()
    key_offenders: tuple[Offender, ...] = ()
    keyed_buckets: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    depth: int = 1
    files: int = 0
    api_calls: int = 0
    notes: tuple[str, ...] = field(default=())


def key_allowed(arn: str, allowed: Iterable[str]) -> bool:
    """True if the key ARN ``arn`` is one of ``allowed`` (key ARNs or bare key ids).

    An alias cannot be matched: an inventory records the key ARN, and which key
    an alias names is not in it, so an alias confirms nothing.
    """
    if not arn:
        return False
    for ref in allowed:
        if ref == arn:
            return True
        if not ref.startswith(("arn:", "alias/")) and arn.endswith(":key/" + ref):
            return True
    return False


def human_bytes(count: int | None) -> str:
    """``1.5 GiB``; ``unknown`` without a size."""
    if count is None:
        return "unknown size"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _label(bucket: str, prefix: str) -> str:
    return f"{bucket}/{prefix}" if prefix else bucket


def _arn(bucket: str, prefix: str) -> str:
    return f"arn:aws:s3:::{bucket}/{prefix}*"


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


@dataclass
class _Group:
    objects: int = 0
    bytes: int | None = 0
    short_objects: int = 0
    short_bytes: int | None = 0
    by_status: dict[str, dict[str, int | None]] = field(default_factory=dict)
    by_bucket_key: dict[str, dict[str, int | None]] = field(default_factory=dict)


def _tally(
    into: dict[str, dict[str, int | None]], name: str, objects: int, size: int | None
) -> None:
    entry = into.setdefault(name, {"objects": 0, "bytes": 0})
    entry["objects"] = (entry["objects"] or 0) + objects
    entry["bytes"] = _add(entry["bytes"], size)


def _offender_records(offenders: Sequence[Offender], label: str) -> list[dict[str, Any]]:
    return [{"key": o.key, "size": o.size, "reason": o.reason} for o in offenders if label]


def _encryption_result(
    bucket: str,
    prefix: str,
    group: _Group,
    offenders: Sequence[Offender],
    options: AuditOptions,
) -> Result:
    required = options.require.value
    shares = ", ".join(
        f"{status or 'none'} {entry['objects']}"
        for status, entry in sorted(group.by_status.items())
        if status not in accepted_statuses(options.require)
    )
    details: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "objects": group.objects,
        "bytes": group.bytes,
        "short_objects": group.short_objects,
        "short_bytes": group.short_bytes,
        "by_encryption_status": group.by_status,
        "by_bucket_key_status": group.by_bucket_key,
        "worst_objects": _offender_records(offenders, bucket),
    }
    if group.short_objects:
        status = Status.FAIL
        message = (
            f"{group.short_objects} of {group.objects} objects "
            f"({human_bytes(group.short_bytes)} of {human_bytes(group.bytes)}) are not "
            f"encrypted with {required} or stronger: {shares}"
        )
        if offenders:
            message += "; largest: " + ", ".join(o.key for o in offenders[:3])
    else:
        status = Status.PASS
        message = (
            f"all {group.objects} objects ({human_bytes(group.bytes)}) are encrypted with "
            f"{required} or stronger"
        )
    return Result(
        check=INVENTORY_ENCRYPTION,
        bucket=_label(bucket, prefix),
        status=status,
        message=message,
        details=details,
        arn=_arn(bucket, prefix),
    )


def _key_result(
    bucket: str,
    prefix: str,
    keys: Sequence[KeyCount],
    offenders: Sequence[Offender],
    counts: InventoryCounts,
    options: AuditOptions,
) -> Result:
    allowed = sorted(options.allowed_kms_keys)
    label = _label(bucket, prefix)
    if bucket not in counts.keyed_buckets:
        return Result(
            check=INVENTORY_KMS_KEY,
            bucket=label,
            status=Status.ERROR,
            message="the inventory carries no KMS key ARN (S3 Inventory reports do not), so "
            "the allowed keys cannot be confirmed; read the bucket's S3 Metadata live "
            "inventory table, or audit the bucket's default encryption",
            details={"bucket": bucket, "prefix": prefix, "allowed_kms_keys": allowed},
            arn=_arn(bucket, prefix),
        )
    bad = [k for k in keys if not key_allowed(k.kms_key_arn, allowed)]
    by_key = {k.kms_key_arn or "unknown": {"objects": k.objects, "bytes": k.bytes} for k in keys}
    details: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix,
        "allowed_kms_keys": allowed,
        "by_kms_key": by_key,
        "worst_objects": _offender_records(offenders, bucket),
    }
    if any(ref.startswith("alias/") or ":alias/" in ref for ref in allowed):
        details["note"] = "aliases cannot be matched against the key ARNs an inventory records"
    if bad:
        objects = sum(k.objects for k in bad)
        names = ", ".join(sorted(k.kms_key_arn or "unknown" for k in bad))
        return Result(
            check=INVENTORY_KMS_KEY,
            bucket=label,
            status=Status.FAIL,
            message=f"{objects} KMS-encrypted objects use keys not allowed: {names}",
            details=details,
            arn=_arn(bucket, prefix),
        )
    total = sum(k.objects for k in keys)
    return Result(
        check=INVENTORY_KMS_KEY,
        bucket=label,
        status=Status.PASS,
        message=f"all {total} KMS-encrypted objects use an allowed key"
        if total
        else "no KMS-encrypted objects",
        details=details,
        arn=_arn(bucket, prefix),
    )


def build_report(
    counts: InventoryCounts,
    *,
    options: AuditOptions,
    now: datetime | None = None,
    errors: Sequence[str] = (),
    tool_version: str = "0.1.0",
) -> AuditReport:
    """Judge ``counts`` against ``options`` and build the report (see the module docstring)."""
    accepted = accepted_statuses(options.require)
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for row in counts.groups:
        group = groups[(row.bucket, row.prefix)]
        group.objects += row.objects
        group.bytes = _add(group.bytes, row.bytes)
        _tally(group.by_status, row.encryption_status, row.objects, row.bytes)
        _tally(group.by_bucket_key, row.bucket_key_status or "none", row.objects, row.bytes)
        if row.encryption_status not in accepted:
            group.short_objects += row.objects
            group.short_bytes = _add(group.short_bytes, row.bytes)
    offenders = _by_group(counts.offenders, counts.depth)
    key_offenders = _by_group(counts.key_offenders, counts.depth)
    keys: dict[tuple[str, str], list[KeyCount]] = defaultdict(list)
    for k in counts.keys:
        keys[(k.bucket, k.prefix)].append(k)

    def worst_first(item: tuple[tuple[str, str], _Group]) -> tuple[int, int, int, str, str]:
        (bucket, prefix), g = item
        return (
            0 if g.short_objects else 1,
            -(g.short_bytes or 0),
            -g.short_objects,
            bucket,
            prefix,
        )

    results: list[Result] = []
    for (bucket, prefix), group in sorted(groups.items(), key=worst_first):
        results.append(
            _encryption_result(bucket, prefix, group, offenders.get((bucket, prefix), ()), options)
        )
        if options.allowed_kms_keys:
            results.append(
                _key_result(
                    bucket,
                    prefix,
                    keys.get((bucket, prefix), ()),
                    key_offenders.get((bucket, prefix), ()),
                    counts,
                    options,
                )
            )
    checks = (
        (INVENTORY_ENCRYPTION, INVENTORY_KMS_KEY)
        if options.allowed_kms_keys
        else (INVENTORY_ENCRYPTION,)
    )
    return AuditReport(
        results=tuple(results),
        checks=checks,
        buckets=tuple(_label(b, p) for (b, p) in sorted(groups)),
        generated_at=now or datetime.now(UTC),
        options=options,
        errors=tuple(errors),
        api_calls={"": counts.api_calls} if counts.api_calls else {},
        tool_version=tool_version,
    )


def prefix_of(key: str, depth: int) -> str:
    """The prefix of ``key`` at ``depth``, as :func:`~securestore.audit.inventory_sql.
    prefix_expression` computes it in SQL."""
    if depth <= 0:
        return ""
    parts = key.split("/")[:-1][:depth]
    return "".join(p + "/" for p in parts)


def _by_group(
    offenders: Sequence[Offender], depth: int
) -> Mapping[tuple[str, str], tuple[Offender, ...]]:
    grouped: dict[tuple[str, str], list[Offender]] = defaultdict(list)
    for o in offenders:
        grouped[(o.bucket, prefix_of(o.key, depth))].append(o)
    return {k: tuple(v) for k, v in grouped.items()}

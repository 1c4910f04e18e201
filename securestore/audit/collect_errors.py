"""The audit-level errors of one collected bucket (see :mod:`securestore.audit.collect`).

A connection or credential failure, a malformed success answer
(:data:`~securestore.audit.collected.AUDIT_LEVEL_CODES`) in any field the
snapshot holds (bucket reads, the account's public access block, KMS keys,
account monitoring, the object scan), or a bucket for which every call failed,
makes the audit as a whole fail (exit 4).
"""

from __future__ import annotations

from typing import Any

from securestore.audit.model import BucketSnapshot, Collected, CollectionError

__all__ = ["bucket_errors"]


def bucket_errors(snapshot: BucketSnapshot) -> list[str]:
    """The audit-level errors of one bucket: connection and credential failures and
    malformed answers (once per error code), or every call having failed."""
    fields: tuple[Collected[Any], ...] = (
        snapshot.region,
        snapshot.encryption,
        snapshot.policy,
        snapshot.public_access_block,
        snapshot.acl,
        snapshot.ownership,
        snapshot.versioning,
        snapshot.logging,
        snapshot.object_lock,
        snapshot.replication,
        snapshot.lifecycle,
        snapshot.account_public_access_block,
        *snapshot.keys.values(),
        *_monitoring_fields(snapshot),
        *_object_fields(snapshot),
    )
    seen: dict[str, CollectionError] = {}
    for collected in fields:
        error = collected.error
        if error is not None and error.audit_level and error.code not in seen:
            seen[error.code] = error
    out = [f"bucket {snapshot.name}: {error}" for error in seen.values()]
    if snapshot.every_call_failed and not out:
        first = next((c.error for c in fields if c.error is not None), None)
        out.append(f"bucket {snapshot.name}: every API call failed ({first})")
    return out


def _monitoring_fields(snapshot: BucketSnapshot) -> tuple[Collected[Any], ...]:
    """The account monitoring fields of a snapshot (none when not collected)."""
    if snapshot.monitoring is None:
        return ()
    if not snapshot.monitoring.is_ok or snapshot.monitoring.value is None:
        return (snapshot.monitoring,)
    m = snapshot.monitoring.value
    trail_errors: tuple[Collected[Any], ...] = tuple(
        Collected.failed(t.error) for t in (m.trails.value or ()) if t.error is not None
    )
    return (m.guardduty, m.trails, m.recorders, m.security_hub, *trail_errors)


def _object_fields(snapshot: BucketSnapshot) -> tuple[Collected[Any], ...]:
    """The object scan's listing and each sampled object's reads (none when not sampled)."""
    if snapshot.objects is None:
        return ()
    if not snapshot.objects.is_ok:
        return (snapshot.objects,)
    out: list[Collected[Any]] = []
    for sample in snapshot.objects.value or ():
        if sample.error is not None:
            out.append(Collected.failed(sample.error))
        out.extend(c for c in (sample.instruction, sample.parent_exists) if c is not None)
    return tuple(out)

"""Sampled objects: ``S3.OBJ.1`` (opt-in with ``--sample-objects N``).

The formats of the sampled objects (``S3.OBJ.2``, ``S3.OBJ.3``) are judged in
:mod:`securestore.audit.checks.object_formats`; both read the bucket's
:class:`~securestore.audit.samples.ObjectCoverage` through :func:`coverage_note`
and :func:`partial_outcome`, so a scan cut short is never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, ObjectSample, Outcome, Severity, Status
from securestore.audit.object_format import classify, is_esdk_header
from securestore.audit.options import ALGORITHM_RANK, AuditOptions

__all__ = [
    "CHECKS",
    "counts_as_client_side",
    "coverage_note",
    "is_client_side_encrypted",
    "partial_outcome",
]

_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html"

#: How many offending keys a result lists.
_MAX_LISTED = 20


def is_client_side_encrypted(sample: ObjectSample, metadata_keys: frozenset[str]) -> bool:
    """True if the object carries client-side encryption metadata or starts with an
    AWS Encryption SDK / securestore message header."""
    if sample.metadata_keys & metadata_keys:
        return True
    return is_esdk_header(sample.head or b"")


def counts_as_client_side(sample: ObjectSample, options: AuditOptions) -> bool:
    """True if ``S3.OBJ.1`` counts the object as encrypted on the client: its metadata or
    first bytes say so, or its instruction file makes it a well-formed S3EC object (V1/V2
    objects stored with one carry no mapkey at all)."""
    if is_client_side_encrypted(sample, options.client_side_metadata_keys):
        return True
    return classify(sample).format in ("s3ec-v1", "s3ec-v2", "s3ec-v3")


def coverage_note(snapshot: BucketSnapshot) -> str:
    """`` (N objects sampled across ...)`` for a result message; empty when unknown."""
    coverage = snapshot.object_coverage
    return f" ({coverage.describe()})" if coverage is not None else ""


def partial_outcome(
    snapshot: BucketSnapshot, what: str, details: Mapping[str, Any]
) -> Outcome | None:
    """The ERROR a check returns instead of a PASS when the scan was cut short.

    ``what`` says what the samples that were seen showed (``none is ...``).
    """
    coverage = snapshot.object_coverage
    if coverage is None or not coverage.partial:
        return None
    return Outcome(
        Status.ERROR,
        f"partial coverage: {coverage.describe()}; {what}, but the rest was not looked at",
        {**details, "coverage": _coverage_details(snapshot)},
    )


def _coverage_details(snapshot: BucketSnapshot) -> dict[str, Any]:
    coverage = snapshot.object_coverage
    if coverage is None:
        return {}
    return {
        "requested": coverage.requested,
        "listed": coverage.listed,
        "listing_complete": coverage.listing_complete,
        "sampled": coverage.sampled,
        "stopped_by": coverage.stopped_by,
    }


def meets_requirement(sample: ObjectSample, options: AuditOptions) -> bool:
    """True if S3 reports server-side encryption at least as strong as required."""
    return ALGORITHM_RANK.get(sample.sse or "", 0) >= options.require.rank


@check(
    "S3.OBJ.1",
    title="Sampled objects are encrypted as required",
    severity=Severity.HIGH,
    rationale="""Default encryption applies only to new writes; objects written before it
        was set, or with explicit weaker headers, keep their old encryption. Sampling
        shows what is actually stored. Client-side encrypted objects (securestore, AWS
        Encryption SDK, S3 Encryption Client) count as encrypted.""",
    remediation="""Re-encrypt the listed objects by copying them onto themselves with the
        required encryption (`aws s3 cp s3://B/K s3://B/K --sse aws:kms ...`) or with S3
        Batch Operations.""",
    references=(_DOC,),
)
def sampled_objects(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP unless sampling was requested; FAIL listing objects that are neither
    server-side encrypted as required nor client-side encrypted."""
    if snapshot.objects is None:
        return Outcome(Status.SKIP, "object sampling not requested (--sample-objects N)")
    samples = snapshot.objects.get()
    if not samples:
        empty = partial_outcome(snapshot, "no object was inspected", {"sampled": 0})
        return empty or Outcome(Status.PASS, "bucket has no objects to sample")
    failed = [s for s in samples if s.error is not None]
    checked = [s for s in samples if s.error is None]
    client_side = [
        s.key
        for s in checked
        if not meets_requirement(s, options) and counts_as_client_side(s, options)
    ]
    offending = [
        s.key for s in checked if not meets_requirement(s, options) and s.key not in client_side
    ]
    details = {
        "sampled": len(samples),
        "client_side": len(client_side),
        "not_encrypted_as_required": offending[:_MAX_LISTED],
        "errors": [f"{s.key}: {s.error}" for s in failed][:_MAX_LISTED],
    }
    if snapshot.object_coverage is not None:
        details["coverage"] = _coverage_details(snapshot)
    if offending:
        more = f" (first {_MAX_LISTED} listed)" if len(offending) > _MAX_LISTED else ""
        return Outcome(
            Status.FAIL,
            f"{len(offending)} of {len(samples)} sampled objects are not encrypted with "
            f"{options.require.value} or on the client{more}{coverage_note(snapshot)}",
            details,
        )
    if failed and not checked:
        return Outcome(
            Status.ERROR, f"could not inspect any sampled object: {failed[0].error}", details
        )
    if failed:
        return Outcome(
            Status.ERROR,
            f"{len(failed)} of {len(samples)} sampled objects could "
            "not be inspected; the others are encrypted as required",
            details,
        )
    partial = partial_outcome(
        snapshot, f"all {len(samples)} sampled objects are encrypted as required", details
    )
    return partial or Outcome(
        Status.PASS,
        f"all {len(samples)} sampled objects are encrypted as required"
        + (f" ({len(client_side)} client-side)" if client_side else "")
        + coverage_note(snapshot),
        details,
    )


CHECKS = (sampled_objects,)

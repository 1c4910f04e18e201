"""Sampled objects: ``S3.OBJ.n`` (opt-in with ``--sample-objects N``)."""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, ObjectSample, Outcome, Severity, Status
from securestore.audit.options import ALGORITHM_RANK, AuditOptions

__all__ = ["CHECKS", "is_client_side_encrypted"]

_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html"

#: Suite ids of AWS Encryption SDK message format version 1 (after 0x01 0x80) ...
_ESDK_V1_SUITES = frozenset(
    {0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378}
)
#: ... and version 2 (after 0x02): the committing suites securestore writes.
_ESDK_V2_SUITES = frozenset({0x0478, 0x0578})

#: How many offending keys a result lists.
_MAX_LISTED = 20


def is_client_side_encrypted(sample: ObjectSample, metadata_keys: frozenset[str]) -> bool:
    """True if the object carries client-side encryption metadata or starts with an
    AWS Encryption SDK / securestore message header."""
    if sample.metadata_keys & metadata_keys:
        return True
    head = sample.head or b""
    if len(head) >= 4 and head[0] == 0x01 and head[1] == 0x80:
        return int.from_bytes(head[2:4], "big") in _ESDK_V1_SUITES
    if len(head) >= 3 and head[0] == 0x02:
        return int.from_bytes(head[1:3], "big") in _ESDK_V2_SUITES
    return False


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
        return Outcome(Status.PASS, "bucket has no objects to sample")
    failed = [s for s in samples if s.error is not None]
    checked = [s for s in samples if s.error is None]
    client_side = [
        s.key
        for s in checked
        if not meets_requirement(s, options)
        and is_client_side_encrypted(s, options.client_side_metadata_keys)
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
    if offending:
        more = f" (first {_MAX_LISTED} listed)" if len(offending) > _MAX_LISTED else ""
        return Outcome(
            Status.FAIL,
            f"{len(offending)} of {len(samples)} sampled objects are not encrypted with "
            f"{options.require.value} or on the client{more}",
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
    return Outcome(
        Status.PASS,
        f"all {len(samples)} sampled objects are encrypted as required"
        + (f" ({len(client_side)} client-side)" if client_side else ""),
        details,
    )


CHECKS = (sampled_objects,)

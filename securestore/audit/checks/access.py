"""Least privilege for plaintext: who the resource policies let read it (``S3.IAM.n``)."""

from __future__ import annotations

from securestore.audit.access import Reader, bucket_readers, key_decrypters
from securestore.audit.check import check
from securestore.audit.model import (
    CROSS_ACCOUNT,
    BucketSnapshot,
    Outcome,
    Severity,
    Status,
    Unavailable,
)
from securestore.audit.options import AuditOptions
from securestore.audit.policy import parse_policy

__all__ = ["CHECKS"]

_DOC_LEAST = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
)


@check(
    "S3.IAM.1",
    title="Resource policies that let principals read plaintext",
    severity=Severity.INFORMATIONAL,
    rationale="""Reading an object's plaintext takes s3:GetObject and, for KMS-encrypted
        data, kms:Decrypt. A bucket-policy Allow of GetObject, and a key-policy Allow
        of Decrypt without kms:ViaService or an encryption-context condition (usable
        outside S3, on any data under the key), grant that by resource policy alone.
        Least privilege (PCI DSS 7.2, NIST AC-6, HIPAA 164.308(a)(4)) asks that each
        be reviewed: this check lists them. Identity policies are not collected, so
        principals that read through their own IAM policies are not listed.""",
    remediation="""Review each principal listed. Grant reads to named roles only, and
        pin kms:Decrypt with `kms:ViaService` (SSE-KMS) or
        `kms:EncryptionContext:...` conditions (client-side); `securestore iam-policy`
        prints the documents with those conditions for a store.""",
    references=(_DOC_LEAST,),
)
def plaintext_readers(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """INFO listing every resource-policy grant of GetObject and of unpinned Decrypt;
    PASS when there is none; ERROR when none was found but a key policy was unreadable."""
    readers: list[Reader] = list(bucket_readers(snapshot.parsed_policy(), snapshot.arn))
    unread: list[str] = []
    foreign: list[str] = []
    for ref in snapshot.kms_key_references():
        try:
            key = snapshot.key(ref)
            text = key.policy.get() if key.exists else None
        except Unavailable as exc:
            if exc.error.code == CROSS_ACCOUNT:
                foreign.append(ref)  # readable only in the key's own account, by design
            else:
                unread.append(f"{ref}: {exc.error}")
            continue
        if text:
            readers += key_decrypters(parse_policy(text), key.arn)
    details: dict[str, object] = {"grants": [r.describe() for r in readers]}
    if unread:
        details["key_policies_not_read"] = unread
    if foreign:
        details["key_policies_in_other_accounts"] = foreign
    if readers:
        return Outcome(
            Status.INFO,
            f"{len(readers)} resource-policy grant(s) to review: "
            + "; ".join(r.describe() for r in readers),
            details,
        )
    if unread:
        # Nothing found in what could be read is not "nothing there".
        return Outcome(
            Status.ERROR,
            "no grant found, but key policies could not be read: " + "; ".join(unread),
            details,
        )
    suffix = f" (key policies of other accounts not read: {', '.join(foreign)})" if foreign else ""
    return Outcome(
        Status.PASS,
        "no resource policy grants GetObject or unpinned kms:Decrypt" + suffix,
        details,
    )


CHECKS = (plaintext_readers,)

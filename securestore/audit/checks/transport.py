"""Encryption in transit: ``S3.TLS.n``.

The checks read the parsed bucket policy and ask
:mod:`securestore.audit.policy` (IAM semantics, see :mod:`securestore.audit.iam`).
"""

from __future__ import annotations

from typing import Any

from securestore.audit.check import check
from securestore.audit.iam import Coverage
from securestore.audit.model import BucketSnapshot, Outcome, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.audit.policy import minimum_tls, tls_locks
from securestore.audit.policy import tls_only as tls_only_coverage

__all__ = ["CHECKS"]

_DOC_TLS = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit"
)
_DOC_TLS_VERSION = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "amazon-s3-policy-keys.html#example-object-tls-version"
)

_TLS_VERSION_NOTE = (
    "a plain-HTTP request carries no s3:TlsVersion key and a condition on an absent key is "
    "false (only ...IfExists matches), so a NumericLessThan s3:TlsVersion Deny alone does not "
    "deny HTTP: it meets CIS 4.0.1's TLS-version remediation for 2.1.1, not S3.TLS.1"
)


def _details(cov: Coverage) -> dict[str, Any]:
    details: dict[str, Any] = {"statements": list(cov.statements)}
    if not cov.denied:
        details["open"] = list(cov.gaps)
    if cov.reasons:
        details["reasons"] = list(cov.reasons)
    return details


def _failure(cov: Coverage, missing: str) -> str:
    """``missing``, what stays open (or that no Deny applies), then why other Denies
    did not count."""
    return "; ".join([f"{missing}: {cov.gaps[0]}", *cov.gaps[1:], *cov.reasons])


@check(
    "S3.TLS.1",
    title="Bucket policy denies requests that do not use TLS",
    severity=Severity.HIGH,
    rationale="""S3 accepts plain HTTP unless the bucket policy denies it. Credentials are
        signed, but object data, keys and metadata then cross the network in the clear and
        can be read or altered. A TLS-only deny must apply to every principal, every S3
        action, and both the bucket and its objects; a deny on uploads or objects only
        leaves the rest open.""",
    remediation="""Add a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"], "Condition": {"Bool":
        {"aws:SecureTransport": "false"}}} (arn:aws-cn: or arn:aws-us-gov: in those
        partitions); `securestore harden` merges it into the existing policy without
        removing any statement.""",
    references=(_DOC_TLS,),
)
def tls_only(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when the policy's Denies refuse every plain-HTTP request, by every
    principal, to every S3 action on the bucket and every object (IAM semantics)."""
    policy = snapshot.parsed_policy()
    if policy is None:
        return Outcome(Status.FAIL, "no bucket policy: plain HTTP requests are accepted")
    cov = tls_only_coverage(policy, snapshot.arn)
    details = _details(cov)
    if not cov.denied:
        message = _failure(cov, "plain HTTP is accepted")
        if minimum_tls(policy, snapshot.arn).denied:
            details["note"] = _TLS_VERSION_NOTE
            message += "; " + _TLS_VERSION_NOTE
        return Outcome(Status.FAIL, message, details)
    message = f"plain HTTP denied to everyone (statement {', '.join(cov.statements)})"
    locks = tls_locks(policy)
    if locks:
        details["locks"] = [st.label for st, _ in locks]
        message += "; but HTTPS is denied too (see S3.TLS.3)"
    return Outcome(Status.PASS, message, details)


@check(
    "S3.TLS.2",
    title="Bucket policy denies TLS versions below 1.2",
    severity=Severity.MEDIUM,
    rationale="""TLS 1.0 and 1.1 have known weaknesses and are deprecated (RFC 8996). A
        Deny on s3:TlsVersion below 1.2 makes the bucket refuse them whatever the
        endpoint or client allows.""",
    remediation="""Add a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"], "Condition":
        {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}.""",
    references=(_DOC_TLS_VERSION,),
)
def minimum_tls_version(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when the policy's Denies refuse every request over TLS 1.0 or 1.1, by
    every principal, to every S3 action on the bucket and every object."""
    policy = snapshot.parsed_policy()
    if policy is None:
        return Outcome(Status.FAIL, "no bucket policy: TLS 1.0 and 1.1 are not denied")
    cov = minimum_tls(policy, snapshot.arn)
    details = _details(cov)
    if not cov.denied:
        return Outcome(
            Status.FAIL,
            _failure(cov, "TLS older than 1.2 is accepted"),
            details,
        )
    return Outcome(
        Status.PASS, f"TLS below 1.2 denied (statement {', '.join(cov.statements)})", details
    )


@check(
    "S3.TLS.3",
    title="Bucket policy does not deny requests that use TLS",
    severity=Severity.HIGH,
    rationale="""A transport condition that also holds over HTTPS, such as Bool
        aws:SecureTransport ["false", "true"] or NumericLessThan s3:TlsVersion 1.4, turns a
        TLS-only Deny into a Deny of every request it covers: the bucket locks out its own
        users and applications, and only the account root can repair the policy.""",
    remediation="""Make the condition false for secure requests: Bool aws:SecureTransport
        "false" alone, and NumericLessThan s3:TlsVersion "1.2" (or "1.3" if every client
        supports TLS 1.3).""",
    references=(_DOC_TLS,),
)
def tls_not_locked(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """FAIL for each Deny whose aws:SecureTransport/s3:TlsVersion conditions also hold
    for a request over TLS 1.3."""
    locks = tls_locks(snapshot.parsed_policy())
    if not locks:
        return Outcome(Status.PASS, "no transport condition denies requests over TLS")
    return Outcome(
        Status.FAIL,
        "; ".join(reason for _, reason in locks),
        {"statements": [st.label for st, _ in locks]},
    )


CHECKS = (tls_only, minimum_tls_version, tls_not_locked)

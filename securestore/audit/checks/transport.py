"""Encryption in transit: ``S3.TLS.n``.

Both checks read the parsed bucket policy; the analysis itself lives in
:mod:`securestore.audit.policy`.
"""

from __future__ import annotations

from typing import Any

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, Outcome, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.audit.policy import DenyCoverage, analyse_min_tls, analyse_tls

__all__ = ["CHECKS"]

_DOC_TLS = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit"
)
_DOC_TLS_VERSION = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "amazon-s3-policy-keys.html#example-object-tls-version"
)

_TLS_VERSION_NOTE = (
    "s3:TlsVersion is absent from plain-HTTP requests, so a NumericLessThan form alone does "
    "not deny HTTP; CIS 4.0.1 accepts it, but adding Bool aws:SecureTransport false is safer"
)


def _details(cov: DenyCoverage) -> dict[str, Any]:
    details: dict[str, Any] = {
        "forms": list(cov.forms),
        "statements": list(cov.statements),
        "all_s3_actions": cov.all_actions,
    }
    gaps = {target: list(actions) for target, actions in cov.uncovered.items() if actions}
    if gaps and cov.statements:
        details["uncovered_actions"] = gaps
    if cov.reasons:
        details["reasons"] = list(cov.reasons)
    return details


def _failure(cov: DenyCoverage, missing: str) -> str:
    if cov.reasons:
        return missing + ": " + "; ".join(cov.reasons)
    if cov.statements:
        gaps = [f"{target}: {', '.join(acts)}" for target, acts in cov.uncovered.items() if acts]
        return missing + ": not denied for " + "; ".join(gaps)
    return missing


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
        {"aws:SecureTransport": "false"}}}; `securestore harden` merges it into the existing
        policy without removing any statement.""",
    references=(_DOC_TLS,),
)
def tls_only(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when Deny statements for ``*`` with an insecure-transport condition cover
    every S3 action on the bucket and ``bucket/*``; the matched forms are reported."""
    policy = snapshot.parsed_policy()
    if policy is None:
        return Outcome(Status.FAIL, "no bucket policy: plain HTTP requests are accepted")
    cov = analyse_tls(policy, snapshot.arn)
    details = _details(cov)
    if not cov.enforced:
        return Outcome(
            Status.FAIL,
            _failure(
                cov,
                'no Deny for Principal "*" on every S3 action when '
                "aws:SecureTransport is false or s3:TlsVersion < 1.2",
            ),
            details,
        )
    message = f"TLS-only via {' and '.join(cov.forms)} (statement {', '.join(cov.statements)})"
    if cov.forms == ("s3:TlsVersion",):
        details["note"] = _TLS_VERSION_NOTE
    if not cov.all_actions:
        message += "; covers the listed S3 actions, not s3:*"
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
    """PASS when Deny statements for ``*`` on ``s3:TlsVersion`` below 1.2 (or higher)
    cover every S3 action on the bucket and its objects."""
    policy = snapshot.parsed_policy()
    if policy is None:
        return Outcome(Status.FAIL, "no bucket policy: TLS 1.0 and 1.1 are not denied")
    cov = analyse_min_tls(policy, snapshot.arn)
    details = _details(cov)
    if not cov.enforced:
        return Outcome(
            Status.FAIL,
            _failure(cov, 'no Deny for Principal "*" on every S3 action when s3:TlsVersion < 1.2'),
            details,
        )
    return Outcome(
        Status.PASS,
        f"TLS below 1.2 denied (statement {', '.join(cov.statements)})",
        details,
    )


CHECKS = (tls_only, minimum_tls_version)

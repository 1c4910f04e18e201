"""Network restriction: ``S3.NET.n``."""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, Outcome, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.audit.policy import vpc_restriction

__all__ = ["CHECKS"]

_DOC_VPCE = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "example-bucket-policies-vpc-endpoint.html"
)


@check(
    "S3.NET.1",
    title="Bucket policy restricts access to VPC endpoints",
    severity=Severity.MEDIUM,
    rationale="""A Deny for requests that do not come through given VPC endpoints (or VPCs)
        keeps data reachable only from your networks, even with leaked credentials. Not
        every bucket can be private to a VPC, so this is informational unless
        `--require-vpc-endpoint` is given.""",
    remediation="""Add a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"], "Condition":
        {"StringNotEquals": {"aws:SourceVpce": "vpce-..."}}} (mind administrative access
        from outside the VPC before you apply it).""",
    references=(_DOC_VPCE,),
)
def vpc_endpoint(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when Denies refuse every request, to every S3 action on the bucket and its
    objects, that comes through no VPC endpoint or through one the policy does not
    name; otherwise INFO, or FAIL when ``options.require_vpc_endpoint`` is set."""
    cov = vpc_restriction(snapshot.parsed_policy(), snapshot.arn)
    if cov.denied:
        return Outcome(
            Status.PASS,
            f"requests from other networks are denied (statement {', '.join(cov.statements)})",
            {"statements": list(cov.statements)},
        )
    status = Status.FAIL if options.require_vpc_endpoint else Status.INFO
    message = "access is not restricted to VPC endpoints: " + "; ".join(
        [*cov.gaps[:3], *cov.reasons]
    )
    return Outcome(status, message, {"open": list(cov.gaps), "reasons": list(cov.reasons)})


CHECKS = (vpc_endpoint,)

"""Public access: ``S3.PUBLIC.n``."""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, Outcome, PublicAccessBlock, Severity, Status
from securestore.audit.options import AuditOptions
from securestore.audit.policy import public_statements

__all__ = ["CHECKS", "PUBLIC_GROUPS"]

#: ACL grantee URIs that make a grant public.
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}

_DOC_BPA = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html"
)
_DOC_OWNERSHIP = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html"
_DOC_ACL = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html"


def _block_outcome(block: PublicAccessBlock | None, level: str) -> Outcome:
    if block is None:
        return Outcome(
            Status.FAIL,
            f"no {level} public access block configuration",
            {"missing": list(PublicAccessBlock().missing())},
        )
    missing = block.missing()
    if missing:
        return Outcome(
            Status.FAIL,
            f"{level} public access block is missing " + ", ".join(missing),
            {"missing": list(missing)},
        )
    return Outcome(Status.PASS, f"all four {level} public access block settings are on")


@check(
    "S3.PUBLIC.1",
    title="Bucket public access block is fully enabled",
    severity=Severity.HIGH,
    rationale="""The four public access block settings stop public ACLs and public
        bucket policies from being added or taking effect, guarding against a single
        mistaken grant exposing the data.""",
    remediation="""Turn on all four settings: `securestore harden s3://BUCKET` or
        `aws s3api put-public-access-block`.""",
    references=(_DOC_BPA,),
)
def bucket_public_access_block(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when all four bucket-level flags are on."""
    return _block_outcome(snapshot.public_access_block.get(), "bucket")


@check(
    "S3.PUBLIC.2",
    title="Account public access block is fully enabled",
    severity=Severity.HIGH,
    rationale="""The account-level block applies to every bucket, including buckets created
        later, so one bucket's missing setting cannot expose data.""",
    remediation="""Turn on all four settings for the account
        (`aws s3control put-public-access-block --account-id ID`).""",
    references=(_DOC_BPA,),
)
def account_public_access_block(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when all four account-level flags are on (reported for each bucket)."""
    return _block_outcome(snapshot.account_public_access_block.get(), "account")


@check(
    "S3.PUBLIC.3",
    title="Bucket ACL grants nothing to AllUsers or AuthenticatedUsers",
    severity=Severity.CRITICAL,
    rationale="""A grant to AllUsers opens the bucket to anyone on the internet;
        AuthenticatedUsers means any AWS account, not only yours.""",
    remediation="""Remove the grant and disable ACLs with object ownership
        BucketOwnerEnforced.""",
    references=(_DOC_ACL,),
)
def public_acl(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """FAIL for each grant to a public group; mitigation by IgnorePublicAcls is noted."""
    grants = [
        f"{PUBLIC_GROUPS[g.grantee]}:{g.permission}"
        for g in snapshot.acl.get()
        if g.grantee_type == "Group" and g.grantee in PUBLIC_GROUPS
    ]
    if not grants:
        return Outcome(Status.PASS, "no ACL grants to public groups")
    message = "ACL grants " + ", ".join(grants)
    if snapshot.effective_public_access_block().ignore_public_acls:
        message += " (currently ignored: IgnorePublicAcls is on)"
    return Outcome(Status.FAIL, message, {"grants": grants})


@check(
    "S3.PUBLIC.4",
    title="ACLs are disabled (object ownership BucketOwnerEnforced)",
    severity=Severity.MEDIUM,
    rationale="""With ACLs enabled, any writer can grant access to individual objects and
        objects uploaded by other accounts stay owned by them; BucketOwnerEnforced makes
        the bucket policy the single place that decides access.""",
    remediation="""Set object ownership to BucketOwnerEnforced
        (`aws s3api put-bucket-ownership-controls`).""",
    references=(_DOC_OWNERSHIP,),
)
def acls_disabled(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when object ownership is ``BucketOwnerEnforced``."""
    ownership = snapshot.ownership.get()
    if ownership == "BucketOwnerEnforced":
        return Outcome(Status.PASS, "ACLs disabled (BucketOwnerEnforced)")
    shown = ownership or "not configured"
    return Outcome(
        Status.FAIL, f"ACLs are enabled (object ownership: {shown})", {"ownership": ownership}
    )


@check(
    "S3.PUBLIC.5",
    title="Bucket policy does not allow public access",
    severity=Severity.CRITICAL,
    rationale="""An Allow for Principal "*" (or NotPrincipal) without a condition on the
        caller's account, organisation, network or source grants access to anyone.""",
    remediation="""Name the principals that need access, or add a condition such as
        aws:PrincipalOrgID or aws:SourceVpce; keep BlockPublicPolicy and
        RestrictPublicBuckets on.""",
    references=(_DOC_BPA,),
)
def public_policy(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """FAIL for each Allow open to everyone without a restricting condition."""
    found = public_statements(snapshot.parsed_policy())
    if not found:
        return Outcome(Status.PASS, "no public Allow statements")
    message = "; ".join(reason for _, reason in found)
    if snapshot.effective_public_access_block().restrict_public_buckets:
        message += " (currently restricted: RestrictPublicBuckets is on)"
    return Outcome(Status.FAIL, message, {"statements": [s.label for s, _ in found]})


CHECKS = (
    bucket_public_access_block,
    account_public_access_block,
    public_acl,
    acls_disabled,
    public_policy,
)

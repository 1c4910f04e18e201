"""Encryption at rest: ``S3.ENC.n``."""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import KMS_ALGORITHMS, BucketSnapshot, Outcome, Severity, Status
from securestore.audit.options import ALGORITHM_RANK, AuditOptions
from securestore.audit.policy import upload_encryption

__all__ = ["CHECKS"]

_NAMES = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}
_DOC_DEFAULT = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-bucket-encryption.html"
)
_DOC_KMS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"
_DOC_BUCKET_KEY = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html"


def _describe(algorithm: str) -> str:
    return _NAMES.get(algorithm, algorithm)


@check(
    "S3.ENC.1",
    title="Default encryption is configured",
    severity=Severity.HIGH,
    rationale="""Without a default encryption rule, an object written without encryption
        headers depends on S3's platform default; an explicit rule records the intended
        protection and is what auditors and compliance frameworks look for.""",
    remediation="""Set a default encryption rule: `securestore harden s3://BUCKET --sse kms
        --kms-key-id KEY` or `aws s3api put-bucket-encryption`.""",
    references=(_DOC_DEFAULT,),
)
def default_encryption(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when at least one default encryption rule exists."""
    rules = snapshot.encryption.get()
    if not rules:
        return Outcome(Status.FAIL, "no default encryption configuration")
    algorithms = [r.algorithm for r in rules]
    return Outcome(
        Status.PASS,
        "default encryption: " + ", ".join(_describe(a) for a in algorithms),
        {"algorithms": algorithms},
    )


@check(
    "S3.ENC.2",
    title="Default encryption meets the required algorithm",
    severity=Severity.HIGH,
    rationale="""SSE-S3 protects against lost disks; SSE-KMS adds an independent key
        policy, CloudTrail records of every key use and the ability to revoke access by
        disabling the key; DSSE-KMS adds a second layer. The caller chooses the floor
        with `--require`.""",
    remediation="""Change the default encryption to the required algorithm
        (`securestore harden s3://BUCKET --sse kms --kms-key-id KEY`). Existing objects keep
        their encryption until rewritten.""",
    references=(_DOC_DEFAULT, _DOC_KMS),
)
def required_algorithm(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when every default rule is at least as strong as ``options.require``."""
    rules = snapshot.encryption.get()
    wanted = options.require
    details = {"required": wanted.value, "algorithms": [r.algorithm for r in rules]}
    if not rules:
        return Outcome(Status.FAIL, f"no default encryption; {wanted.value} is required", details)
    weak = [r.algorithm for r in rules if ALGORITHM_RANK.get(r.algorithm, 0) < wanted.rank]
    if weak:
        return Outcome(
            Status.FAIL,
            f"default encryption is {', '.join(_describe(a) for a in weak)}; "
            f"{wanted.value} or stronger is required",
            details,
        )
    return Outcome(
        Status.PASS,
        f"default encryption {', '.join(_describe(r.algorithm) for r in rules)} meets "
        f"{wanted.value}",
        details,
    )


@check(
    "S3.ENC.3",
    title="KMS default encryption uses a customer managed key",
    severity=Severity.MEDIUM,
    rationale="""The AWS managed key aws/s3 cannot have its key policy restricted,
        cannot be shared across accounts and is not under your rotation and deletion
        control. A customer managed key gives an independent access control layer.""",
    remediation="""Create a customer managed symmetric KMS key and set it as the bucket's
        default key (`securestore harden s3://BUCKET --sse kms --kms-key-id KEY`).""",
    references=(_DOC_KMS,),
)
def customer_managed_key(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP without KMS; else PASS when every key in use is customer managed."""
    refs = snapshot.kms_key_references()
    if not refs:
        return Outcome(Status.SKIP, "default encryption does not use KMS")
    missing = [ref for ref in refs if not snapshot.key(ref).exists]
    if missing:
        return Outcome(
            Status.FAIL,
            f"key {', '.join(missing)} does not exist: every write under it fails",
            {"keys": list(refs), "missing": missing},
        )
    aws_managed = [ref for ref in refs if not snapshot.key(ref).customer_managed]
    if aws_managed:
        return Outcome(
            Status.FAIL,
            f"uses the AWS managed key {', '.join(aws_managed)}",
            {"keys": list(refs), "aws_managed": aws_managed},
        )
    return Outcome(Status.PASS, f"customer managed key {', '.join(refs)}", {"keys": list(refs)})


@check(
    "S3.ENC.4",
    title="S3 Bucket Key is enabled for SSE-KMS",
    severity=Severity.LOW,
    rationale="""Without a bucket key every object operation calls KMS: cost and KMS
        request quotas grow with traffic, and throttling turns into failed reads and
        writes.""",
    remediation="""Enable the bucket key in the default encryption rule
        (`BucketKeyEnabled: true`; `securestore harden` sets it).""",
    references=(_DOC_BUCKET_KEY,),
)
def bucket_key(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP without SSE-KMS (DSSE-KMS has no bucket keys); PASS when every SSE-KMS rule
    enables the bucket key."""
    rules = [r for r in snapshot.encryption.get() if r.algorithm == "aws:kms"]
    if not rules:
        return Outcome(Status.SKIP, "default encryption does not use SSE-KMS")
    if all(r.bucket_key_enabled for r in rules):
        return Outcome(Status.PASS, "bucket key enabled")
    return Outcome(Status.FAIL, "SSE-KMS without a bucket key: every object operation calls KMS")


@check(
    "S3.ENC.5",
    title="KMS default encryption uses an allowed key",
    severity=Severity.HIGH,
    rationale="""An organisation that keeps an inventory of approved keys wants every
        bucket's data under one of them, so that key policies, rotation and deletion
        are governed centrally; a bucket under an unknown key escapes that control.""",
    remediation="""Set the bucket's default key to one of the allowed keys
        (`securestore harden s3://BUCKET --sse kms --kms-key-id KEY`).""",
    references=(_DOC_KMS,),
)
def allowed_key(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """SKIP when no allow list is given or KMS is not used; else PASS when each key in
    use is on ``options.allowed_kms_keys``.

    Entries are compared as keys, not as strings: a key ARN or id names that key,
    an alias (name or ARN) the key it points to in the key's own account and
    region (aliases come from ListAliases there). An alias ARN of another account
    or region names another key, even with the same alias name.
    """
    if not options.allowed_kms_keys:
        return Outcome(Status.SKIP, "no allowed KMS keys given")
    refs = snapshot.kms_key_references()
    if not refs:
        return Outcome(Status.SKIP, "default encryption does not use KMS")
    allowed = options.allowed_kms_keys
    outside: list[str] = []
    for ref in refs:
        if ref in allowed:
            continue
        meta = snapshot.key(ref)
        if not any(meta.matches(a) for a in allowed):
            outside.append(ref)
    details = {"keys": list(refs), "allowed": sorted(allowed)}
    if outside:
        return Outcome(Status.FAIL, f"key {', '.join(outside)} is not allowed", details)
    return Outcome(Status.PASS, f"key {', '.join(refs)} is allowed", details)


_DOC_SSE_C = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerSideEncryptionCustomerKeys.html"
)


@check(
    "S3.ENC.6",
    title="SSE-C (customer-provided keys) is blocked",
    severity=Severity.MEDIUM,
    rationale="""With SSE-C the caller sends the key with every request and S3 keeps no
        copy: nothing in AWS records, audits, rotates or can revoke that key, and
        whoever can write to the bucket can encrypt its objects under a key the owner
        never sees (a ransomware technique). Since April 2026 S3 blocks SSE-C on new
        buckets through BlockedEncryptionTypes; older buckets still allow it.""",
    remediation="""Block SSE-C in the default encryption rule (`BlockedEncryptionTypes:
        {"EncryptionType": ["SSE-C"]}`): `securestore harden s3://BUCKET` merges it
        into the existing configuration, or `aws s3api put-bucket-encryption`.""",
    references=(_DOC_SSE_C, _DOC_DEFAULT),
)
def sse_c_blocked(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when every default encryption rule blocks SSE-C."""
    rules = snapshot.encryption.get()
    if not rules:
        return Outcome(
            Status.FAIL,
            "no default encryption configuration, so nothing blocks SSE-C uploads",
        )
    open_rules = [r for r in rules if not r.blocks_sse_c]
    if open_rules:
        return Outcome(
            Status.FAIL,
            "SSE-C is not blocked: writers can encrypt objects under keys S3 never holds",
            {"blocked_encryption_types": [list(r.blocked_encryption_types) for r in rules]},
        )
    return Outcome(Status.PASS, "SSE-C is blocked (BlockedEncryptionTypes)")


_DOC_UPLOADS = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/specifying-kms-encryption.html"
)


@check(
    "S3.ENC.7",
    title="Bucket policy denies uploads under another encryption or key",
    severity=Severity.MEDIUM,
    rationale="""Default encryption only applies to uploads that send no encryption
        header: a writer can still ask for weaker encryption (SSE-S3 where KMS is
        required) or another KMS key, including the AWS managed aws/s3 key that S3 uses
        for `aws:kms` without a key id, and the object is stored that way. Only a
        bucket policy Deny on s3:PutObject with the
        s3:x-amz-server-side-encryption(-aws-kms-key-id) condition keys refuses such
        uploads. Where default encryption already meets the requirement this is
        reported as information.""",
    remediation="""Add Deny statements on s3:PutObject for bucket/* that refuse
        `StringNotEquals s3:x-amz-server-side-encryption` other than the required
        algorithm and, with a customer managed key, `StringNotEquals
        s3:x-amz-server-side-encryption-aws-kms-key-id` other than its ARN (each with
        `...IfExists` or a `Null` companion so that header-less uploads fall to default
        encryption or are refused as intended).""",
    references=(_DOC_UPLOADS,),
)
def upload_encryption_enforced(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when the policy denies every PutObject that asks for weaker encryption or
    (with a customer managed key configured or ``--allowed-kms-key``) another key;
    INFO instead of FAIL when default encryption covers header-less uploads."""
    rank = options.require.rank
    rules = snapshot.encryption.get()
    weaker = [alg for alg, r in ALGORITHM_RANK.items() if r < rank]
    kms = [alg for alg in sorted(KMS_ALGORITHMS) if ALGORITHM_RANK[alg] >= rank]
    keyed = any(r.kms_key_id for r in rules if r.algorithm in KMS_ALGORITHMS)
    pinned = (
        kms if rank >= ALGORITHM_RANK["aws:kms"] and (keyed or options.allowed_kms_keys) else []
    )
    if not weaker and not pinned:
        return Outcome(
            Status.SKIP,
            f"with {options.require.value} required and no customer managed key configured, "
            "no encryption header can choose a weaker encryption",
        )
    default_ok = bool(rules) and all(ALGORITHM_RANK.get(r.algorithm, 0) >= rank for r in rules)
    coverage = upload_encryption(
        snapshot.parsed_policy(),
        snapshot.arn,
        weaker=weaker,
        pinned=pinned,
        headerless=not default_ok,
    )
    details = {"statements": list(coverage.statements), "open": list(coverage.gaps)}
    if coverage.reasons:
        details["reasons"] = list(coverage.reasons)
    if coverage.denied:
        return Outcome(
            Status.PASS,
            "uploads under another encryption or key are denied (statement"
            + ("s " if len(coverage.statements) > 1 else " ")
            + ", ".join(coverage.statements)
            + ")",
            details,
        )
    open_ = "; ".join(coverage.gaps)
    if default_ok:
        return Outcome(
            Status.INFO,
            f"default encryption covers uploads without headers, but these are not denied: {open_}",
            details,
        )
    return Outcome(Status.FAIL, f"not denied: {open_}", details)


CHECKS = (
    default_encryption,
    required_algorithm,
    customer_managed_key,
    bucket_key,
    allowed_key,
    sse_c_blocked,
    upload_encryption_enforced,
)

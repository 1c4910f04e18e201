"""Data protection: ``S3.DATA.n`` (versioning, MFA delete, Object Lock, logging, replication)."""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import BucketSnapshot, Outcome, Severity, Status
from securestore.audit.options import AuditOptions

__all__ = ["CHECKS"]

_DOC_VERSIONING = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html"
_DOC_MFA = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/MultiFactorAuthenticationDelete.html"
)
_DOC_LOCK = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html"
_DOC_LOGGING = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html"
_DOC_REPLICATION = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication.html"


@check(
    "S3.DATA.1",
    title="Versioning is enabled",
    severity=Severity.MEDIUM,
    rationale="""Versioning keeps overwritten and deleted objects recoverable, so an
        accidental or malicious overwrite (including ransomware re-encryption) does not
        destroy data.""",
    remediation="""Enable versioning (`aws s3api put-bucket-versioning
        --versioning-configuration Status=Enabled`) and add a lifecycle rule for
        noncurrent versions.""",
    references=(_DOC_VERSIONING,),
)
def versioning(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when versioning is ``Enabled``."""
    status = snapshot.versioning.get().status
    if status == "Enabled":
        return Outcome(Status.PASS, "versioning enabled")
    return Outcome(
        Status.FAIL, f"versioning is {(status or 'never enabled').lower()}", {"versioning": status}
    )


@check(
    "S3.DATA.2",
    title="MFA delete is enabled",
    severity=Severity.LOW,
    rationale="""MFA delete requires the root user's MFA code to delete object versions or
        change the versioning state, so stolen credentials alone cannot erase history.""",
    remediation="""Enable MFA delete with the root user's credentials and MFA device
        (`aws s3api put-bucket-versioning --mfa ...`).""",
    references=(_DOC_MFA,),
)
def mfa_delete(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when versioning reports ``MFADelete: Enabled``."""
    state = snapshot.versioning.get()
    if state.mfa_delete == "Enabled":
        return Outcome(Status.PASS, "MFA delete enabled")
    if state.status != "Enabled":
        return Outcome(Status.FAIL, "MFA delete needs versioning, which is not enabled")
    return Outcome(Status.FAIL, "MFA delete is not enabled")


@check(
    "S3.DATA.3",
    title="Object Lock (informational)",
    severity=Severity.INFORMATIONAL,
    rationale="""Object Lock makes object versions immutable for a retention period
        (write once, read many). It suits regulated records and backups, not every
        bucket, so its absence is reported, not failed.""",
    remediation="""Object Lock can be enabled on existing versioned buckets; choose
        governance or compliance mode and a default retention deliberately.""",
    references=(_DOC_LOCK,),
)
def object_lock(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when Object Lock is enabled, INFO otherwise."""
    lock = snapshot.object_lock.get()
    if lock is None or not lock.enabled:
        return Outcome(Status.INFO, "Object Lock is not enabled")
    if lock.mode:
        period = f"{lock.days} days" if lock.days else f"{lock.years} years"
        message = f"Object Lock enabled, default retention {lock.mode} {period}"
    else:
        message = "Object Lock enabled, no default retention"
    return Outcome(
        Status.PASS, message, {"mode": lock.mode, "days": lock.days, "years": lock.years}
    )


@check(
    "S3.DATA.4",
    title="Server access logging is enabled",
    severity=Severity.MEDIUM,
    rationale="""Access logs record every request (who, what, when, from where), which
        incident response and audits need and CloudTrail data events may not cover.""",
    remediation="""Enable server access logging to a separate log bucket
        (`aws s3api put-bucket-logging`).""",
    references=(_DOC_LOGGING,),
)
def access_logging(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when logging targets a bucket; logging into the bucket itself is noted."""
    config = snapshot.logging.get()
    if config is None:
        return Outcome(Status.FAIL, "server access logging is not enabled")
    where = f"s3://{config.target_bucket}/{config.target_prefix}"
    details = {"target": where}
    if config.target_bucket == snapshot.name:
        return Outcome(
            Status.PASS, f"logging to {where} (the bucket itself: logs of logs)", details
        )
    return Outcome(Status.PASS, f"logging to {where}", details)


@check(
    "S3.DATA.5",
    title="Replication (informational)",
    severity=Severity.INFORMATIONAL,
    rationale="""Replication to another bucket (ideally another region or account) keeps a
        copy when a region, an account or the bucket itself is lost.""",
    remediation="""Configure replication rules to a bucket in another account or region
        where recovery objectives require it.""",
    references=(_DOC_REPLICATION,),
)
def replication(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when replication rules exist, INFO otherwise."""
    targets = snapshot.replication.get()
    if not targets:
        return Outcome(Status.INFO, "no replication configured")
    return Outcome(
        Status.PASS, "replicates to " + ", ".join(targets), {"destinations": list(targets)}
    )


_DOC_MPU = (
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "mpu-abort-incomplete-mpu-lifecycle-config.html"
)


@check(
    "S3.DATA.6",
    title="Incomplete multipart uploads are aborted by a lifecycle rule",
    severity=Severity.LOW,
    rationale="""The parts of a multipart upload that is never completed or aborted stay
        stored and billed indefinitely, yet no object listing shows them: data (possibly
        sensitive, possibly under a key since retired) accumulates out of sight. A
        lifecycle rule with AbortIncompleteMultipartUpload over the whole bucket removes
        them.""",
    remediation="""Add an enabled lifecycle rule without a prefix or filter that aborts
        incomplete multipart uploads after a few days: `securestore harden s3://BUCKET`
        merges one into the existing lifecycle configuration (`--abort-multipart-days`,
        default 7).""",
    references=(_DOC_MPU,),
    needs=("lifecycle",),
)
def abort_incomplete_uploads(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when an enabled, unfiltered rule aborts incomplete multipart uploads."""
    rules = snapshot.lifecycle.get()
    covering = [r for r in rules if r.enabled and r.whole_bucket and r.abort_days is not None]
    if covering:
        best = min(covering, key=lambda r: r.abort_days or 0)
        return Outcome(
            Status.PASS,
            f"lifecycle rule {best.id} aborts incomplete multipart uploads after "
            f"{best.abort_days} days",
            {"rule": best.id, "days": best.abort_days},
        )
    partial = [r.id for r in rules if r.abort_days is not None]
    if partial:
        return Outcome(
            Status.FAIL,
            "lifecycle rule " + ", ".join(partial) + " aborts incomplete multipart uploads only "
            "under a filter or is disabled: parts elsewhere stay stored and billed",
            {"rules": partial},
        )
    return Outcome(
        Status.FAIL,
        "no lifecycle rule aborts incomplete multipart uploads: their parts stay stored "
        "and billed, invisible to listings",
    )


CHECKS = (
    versioning,
    mfa_delete,
    object_lock,
    access_logging,
    replication,
    abort_incomplete_uploads,
)

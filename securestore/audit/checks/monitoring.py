"""Account-level continual monitoring: ``MON.n`` (GuardDuty, CloudTrail, Config,
Security Hub).

The services are collected once per account and region and judged for every
bucket there (CloudTrail's data events per bucket). A service that could not be
asked is an ERROR, never a pass; not collecting at all (the checks were not
selected when collecting) is an ERROR too.
"""

from __future__ import annotations

from securestore.audit.check import check
from securestore.audit.model import (
    BucketSnapshot,
    CollectionError,
    Outcome,
    Severity,
    Status,
    Unavailable,
)
from securestore.audit.monitoring import AccountMonitoring, TrailLogging
from securestore.audit.options import AuditOptions

__all__ = ["CHECKS"]

_DOC_GUARDDUTY = "https://docs.aws.amazon.com/guardduty/latest/ug/s3-protection.html"
_DOC_TRAIL = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html"
_DOC_TRAIL_KMS = (
    "https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html"
)
_DOC_CONFIG = "https://docs.aws.amazon.com/config/latest/developerguide/stop-start-recorder.html"
_DOC_HUB = "https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-settingup.html"


def _monitoring(snapshot: BucketSnapshot) -> AccountMonitoring:
    if snapshot.monitoring is None:
        raise Unavailable(
            CollectionError("monitoring", "NotCollected", "collect with Collector(monitoring=True)")
        )
    return snapshot.monitoring.get()


@check(
    "MON.1",
    title="GuardDuty is enabled with S3 Protection",
    severity=Severity.MEDIUM,
    rationale="""GuardDuty S3 Protection analyses S3 data events for anomalous access
        (unusual callers, exfiltration patterns, disabled protections); without it a
        compromise of the bucket goes unnoticed until it is found some other way.""",
    remediation="""Enable GuardDuty in every region with S3 Protection (`aws guardduty
        create-detector --enable --features Name=S3_DATA_EVENTS,Status=ENABLED`, or
        update-detector on an existing detector).""",
    references=(_DOC_GUARDDUTY,),
    needs=("monitoring",),
)
def guardduty(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when an enabled detector of the bucket's region has S3 Protection on."""
    mon = _monitoring(snapshot)
    detectors = mon.guardduty.get()
    if not detectors:
        return Outcome(Status.FAIL, f"GuardDuty is not enabled in {mon.region}")
    enabled = [d for d in detectors if d.enabled]
    if not enabled:
        return Outcome(Status.FAIL, f"GuardDuty detector in {mon.region} is suspended")
    if not any(d.s3_protection for d in enabled):
        return Outcome(Status.FAIL, f"GuardDuty in {mon.region} is enabled without S3 Protection")
    return Outcome(Status.PASS, f"GuardDuty S3 Protection enabled in {mon.region}")


@check(
    "MON.2",
    title="CloudTrail logs the bucket's S3 data events and KMS events",
    severity=Severity.MEDIUM,
    rationale="""Management events do not record who read or wrote which object; only
        S3 data events (read and write) do, and the KMS events (Decrypt,
        GenerateDataKey) record every use of the keys that protect the data. Without
        them an incident cannot be scoped.""",
    remediation="""Add event selectors to a logging trail that covers the bucket's
        region: S3 data events (resources.type AWS::S3::Object, read and write) for
        the bucket or every bucket, and management events including read events
        without excluding kms.amazonaws.com.""",
    references=(_DOC_TRAIL, _DOC_TRAIL_KMS),
    needs=("monitoring",),
)
def trail_data_events(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when logging trails of the bucket's region record its object reads and
    writes and the KMS events."""
    mon = _monitoring(snapshot)
    applicable = [t for t in mon.trails.get() if t.applies_to(mon.region)]
    unread = [t for t in applicable if t.error is not None]
    trails = [t for t in applicable if t.error is None and t.logging]
    if not trails:
        if unread:
            return _unread(unread, f"no other logging trail covers {mon.region}")
        return Outcome(Status.FAIL, f"no logging CloudTrail trail covers {mon.region}")
    scopes = [s for t in trails for s in t.s3_data if s.covers(snapshot.arn)]
    missing = []
    if not any(s.read for s in scopes):
        missing.append("S3 data read events")
    if not any(s.write for s in scopes):
        missing.append("S3 data write events")
    if not any(t.kms_events for t in trails):
        missing.append("KMS events")
    names = [t.name for t in trails]
    details = {"trails": names, "missing": missing}
    if missing and unread:
        return _unread(unread, f"the others do not log {', '.join(missing)} for the bucket")
    if missing:
        return Outcome(
            Status.FAIL,
            f"trail {', '.join(names)} does not log {', '.join(missing)} for the bucket",
            details,
        )
    return Outcome(
        Status.PASS,
        f"trail {', '.join(names)} logs the bucket's S3 data events and KMS events",
        details,
    )


def _unread(trails: list[TrailLogging], rest: str) -> Outcome:
    """An ERROR: unreadable trails might log what the readable ones do not."""
    errors = "; ".join(f"trail {t.name}: {t.error}" for t in trails)
    return Outcome(Status.ERROR, f"could not evaluate: {errors}; {rest}")


@check(
    "MON.3",
    title="An AWS Config recorder is recording",
    severity=Severity.MEDIUM,
    rationale="""AWS Config records every configuration change (a bucket policy opened,
        default encryption removed) and keeps its history; without a recording
        recorder such a change between two audits leaves no trace.""",
    remediation="""Create a configuration recorder and delivery channel and start it
        (`aws configservice start-configuration-recorder`), recording all supported
        resource types.""",
    references=(_DOC_CONFIG,),
    needs=("monitoring",),
)
def config_recorder(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when a configuration recorder of the bucket's region is recording."""
    mon = _monitoring(snapshot)
    found = mon.recorders.get()
    if not found:
        return Outcome(Status.FAIL, f"no AWS Config recorder in {mon.region}")
    recording = [r for r in found if r.recording]
    if not recording:
        return Outcome(
            Status.FAIL, f"AWS Config recorder {found[0].name} in {mon.region} is stopped"
        )
    scope = "all supported resource types" if recording[0].all_supported else "some resources"
    return Outcome(Status.PASS, f"AWS Config recorder {recording[0].name} is recording ({scope})")


@check(
    "MON.4",
    title="Security Hub is enabled",
    severity=Severity.LOW,
    rationale="""Security Hub gathers the findings of GuardDuty, Config rules and its
        own controls in one place; with it disabled, findings are scattered and
        nobody is alerted on them centrally.""",
    remediation="""Enable Security Hub in the region (`aws securityhub
        enable-security-hub`), ideally through the organisation's delegated
        administrator.""",
    references=(_DOC_HUB,),
    needs=("monitoring",),
)
def security_hub(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
    """PASS when Security Hub is enabled in the bucket's region."""
    mon = _monitoring(snapshot)
    if mon.security_hub.get():
        return Outcome(Status.PASS, f"Security Hub enabled in {mon.region}")
    return Outcome(Status.FAIL, f"Security Hub is not enabled in {mon.region}")


CHECKS = (guardduty, trail_data_events, config_recorder, security_hub)

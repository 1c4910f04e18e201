"""Framework requirements judged by their own definitions, and mitigated public findings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from securestore import Connection
from securestore.audit import (
    AuditOptions,
    Collected,
    EncryptionRule,
    Grant,
    PublicAccessBlock,
    Registry,
    Result,
    Severity,
    Status,
    exit_status,
    load_framework,
    run_checks,
)
from securestore.audit.collect import Collector

from ..conftest import unique_bucket_name
from .builders import ARN, compliant, policy
from .test_cli import invoke
from .test_collect import _LocalS3Control


def results(snapshot: Any, framework: str | None = None, **options: Any) -> dict[str, Result]:
    report = run_checks(
        [snapshot],
        registry=Registry.builtin(),
        options=AuditOptions(**options),
        framework=load_framework(framework) if framework else None,
    )
    return {r.check_id: r for r in report.results}


def test_fsbp_s3_17_wants_kms_whatever_require_says() -> None:
    sse_s3 = compliant(encryption=Collected.ok((EncryptionRule("AES256"),)), keys={})
    assert results(sse_s3)["S3.ENC.2"].status is Status.PASS  # --require sse-s3 (default)
    report = run_checks([sse_s3], registry=Registry.builtin(), framework=load_framework("aws-fsbp"))
    (s3_17,) = [s for s in report.requirement_summaries() if s.requirement.id == "S3.17"]
    assert s3_17.status is Status.FAIL
    enc2 = next(r for r in report.results if r.check_id == "S3.ENC.2")
    assert enc2.status is Status.FAIL and enc2.details["required"] == "kms"
    assert results(compliant(), "aws-fsbp")["S3.ENC.2"].status is Status.PASS


@pytest.mark.parametrize(
    ("trail", "status"),
    [
        (Collected.ok(False), Status.SKIP),
        (Collected.ok(True), Status.FAIL),
        (None, Status.FAIL),  # not known: judged, never skipped unseen
    ],
)
def test_cis_3_4_applies_to_cloudtrail_buckets_only(
    trail: Collected[bool] | None, status: Status
) -> None:
    snap = compliant(logging=Collected.ok(None), cloudtrail_bucket=trail)
    got = results(snap, "cis-aws-foundations")["S3.DATA.4"]
    assert got.status is status, got.message
    assert results(snap)["S3.DATA.4"].status is Status.FAIL  # the check itself is general


_ALL_USERS = Grant("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ")
_PUBLIC_READ = {
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
}


@pytest.mark.parametrize(
    ("check_id", "changes", "flags", "severity"),
    [
        ("S3.PUBLIC.3", {"acl": Collected.ok((_ALL_USERS,))}, {}, Severity.CRITICAL),
        (
            "S3.PUBLIC.3",
            {"acl": Collected.ok((_ALL_USERS,))},
            {"ignore_public_acls": True},
            Severity.LOW,
        ),
        ("S3.PUBLIC.5", {"policy": Collected.ok(policy(_PUBLIC_READ))}, {}, Severity.CRITICAL),
        (
            "S3.PUBLIC.5",
            {"policy": Collected.ok(policy(_PUBLIC_READ))},
            {"restrict_public_buckets": True},
            Severity.LOW,
        ),
    ],
)
def test_neutralised_public_findings_are_mitigated(
    check_id: str, changes: dict[str, Any], flags: dict[str, bool], severity: Severity
) -> None:
    block = Collected.ok(PublicAccessBlock(**flags))
    snap = compliant(public_access_block=block, account_public_access_block=block, **changes)
    report = run_checks([snap], registry=Registry.builtin())
    got = next(r for r in report.results if r.check_id == check_id)
    assert got.status is Status.FAIL and got.severity is severity
    assert ("mitigated_by" in got.details) is bool(flags)
    assert (got in report.findings(Severity.HIGH)) is (severity is Severity.CRITICAL)
    assert exit_status(report, Severity.CRITICAL) == (1 if not flags else 0)


def test_collector_marks_cloudtrail_buckets_and_cli_skips_others(
    connection: Connection,
) -> None:
    s3 = connection.client("s3")
    trail_bucket, other = unique_bucket_name("trail-logs"), unique_bucket_name("no-trail")
    for name in (trail_bucket, other):
        s3.create_bucket(Bucket=name)
    connection.client("cloudtrail").create_trail(
        Name=unique_bucket_name("trail"), S3BucketName=trail_bucket
    )
    collection = Collector(_LocalS3Control(connection), trail_buckets=True).collect(
        [trail_bucket, other]
    )
    marks = {s.name: s.cloudtrail_bucket for s in collection.snapshots}
    assert marks == {trail_bucket: Collected.ok(True), other: Collected.ok(False)}
    code, out = invoke(
        connection, trail_bucket, other, "--framework", "cis-aws-foundations", "--format", "json"
    )
    by = {(r["bucket"], r["check_id"]): r["status"] for r in json.loads(out)["results"]}
    assert by[(other, "S3.DATA.4")] == "SKIP"
    assert by[(trail_bucket, "S3.DATA.4")] == "FAIL"
    assert code == 1

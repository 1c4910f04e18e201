"""JUnit XML: one test suite per bucket, one test case per check.

FAIL becomes ``<failure>``, ERROR ``<error>``, SKIP and suppressed results
``<skipped>``; PASS and INFO pass (INFO with its message in ``<system-out>``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from securestore.audit.model import Result, Status
from securestore.audit.reports.json_report import timestamp
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
        root = ET.Element(
            "testsuites",
            {"name": "securestore audit", **_counts(report.results), "timestamp": when},
        )
        for bucket in report.buckets:
            results = [r for r in report.results if r.bucket == bucket]
            suite = ET.SubElement(
                root, "testsuite", {"name": bucket, **_counts(results), "timestamp": when}
            )
            for r in results:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    {
                        "classname": f"s3.{bucket}",
                        "name": f"{r.check_id} {r.check.title}",
                    },
                )
                if r.suppressed_by is not None:
                    ET.SubElement(
                        case,
                        "skipped",
                        {"message": f"suppressed: {r.suppressed_by.reason} ({r.message})"},
                    )
                elif r.status is Status.FAIL:
                    el = ET.SubElement(
                        case, "failure", {"message": r.message, "type": r.severity.value}
                    )
                    el.text = f"{r.check.rationale}\n\nRemediation: {r.check.remediation}"
                elif r.status is Status.ERROR:
                    ET.SubElement(case, "error", {"message": r.message, "type": "ERROR"})
                elif r.status is Status.SKIP:
                    ET.SubElement(case, "skipped", {"message": r.message})
                elif r.status is Status.INFO:
                    ET.SubElement(case, "system-out").text = r.message
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
            ET.SubElement(case, "error", {"message": "; ".join(report.errors), "type": "ERROR"})
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"

"""CSV: one row per result, with a header row.

The ``account`` column (last, so positional readers of older reports keep
working) names the account that owns the bucket, when known.

Each audit-level error (the audit could not run) is one more row with check id
``AUDIT`` and status ``ERROR``, so a spreadsheet of the report cannot look clean.
"""

from __future__ import annotations

import csv
import io

from securestore.audit.runner import AuditReport

__all__ = ["COLUMNS", "CsvReport"]

COLUMNS = (
    "bucket",
    "check_id",
    "severity",
    "status",
    "suppressed",
    "title",
    "message",
    "region",
    "arn",
    "suppression_reason",
    "account",
)


class CsvReport:
    """RFC 4180 CSV with ``\\n`` line ends."""

    def render(self, report: AuditReport) -> str:
        """The report as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in report.results:
            writer.writerow(
                [
                    r.bucket,
                    r.check_id,
                    r.severity.value,
                    r.status.value,
                    "true" if r.suppressed else "false",
                    r.check.title,
                    r.message,
                    r.region or "",
                    r.arn,
                    r.suppressed_by.reason if r.suppressed_by else "",
                    r.account or "",
                ]
            )
        for error in report.errors:
            writer.writerow(
                ["", "AUDIT", "high", "ERROR", "false", "The audit could not run", error] + [""] * 4
            )
        return out.getvalue()

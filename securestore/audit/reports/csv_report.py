"""CSV: one row per result, with a header row.

The ``account`` column (last, so positional readers of older reports keep
working) names the account that owns the bucket, when known.

Each audit-level error (the audit could not run) is one more row with check id
``AUDIT`` and status ``ERROR``, so a spreadsheet of the report cannot look clean.

Cells carry text the audited account wrote (policy Sids, keys, suppression
reasons). Control characters are escaped as in the other formats
(:func:`~securestore.audit.reports.text.printable`), so a ``cat`` of the report
cannot drive a terminal, and a cell a spreadsheet would run as a formula (one
starting with ``=``, ``+``, ``-`` or ``@``) is prefixed with ``'``, as OWASP's
CSV injection guidance recommends.
"""

from __future__ import annotations

import csv
import io

from securestore.audit.reports.text import printable
from securestore.audit.runner import AuditReport

__all__ = ["COLUMNS", "CsvReport", "cell"]

# What a spreadsheet reads as the start of a formula. Tab and CR are escaped by
# printable() before this test, so they cannot start one either.
_FORMULA_START = ("=", "+", "-", "@")

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


def cell(text: str) -> str:
    """``text`` as an inert CSV cell: control characters escaped, formulas quoted."""
    shown = printable(text)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


class CsvReport:
    """RFC 4180 CSV with ``\\n`` line ends; control characters are shown as ``\\xNN``
    escapes and a cell starting with ``=``, ``+``, ``-`` or ``@`` gets a leading ``'``
    (spreadsheet formula injection).
    """

    def render(self, report: AuditReport) -> str:
        """The report as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in report.results:
            row = [
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
            writer.writerow([cell(c) for c in row])
        for error in report.errors:
            row = ["", "AUDIT", "high", "ERROR", "false", "The audit could not run", error]
            writer.writerow([cell(c) for c in row + [""] * 4])
        return out.getvalue()

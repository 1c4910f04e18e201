"""A rich table for terminals.

By default only findings (FAIL, ERROR) and suppressed results are listed, with
a summary line; ``show_all`` lists every result. ``width`` and ``color`` make
the output reproducible in tests. Text from the audited account or a
suppression file is passed as plain :class:`~rich.text.Text` (never parsed as
rich markup) with control characters shown as ``\\xNN`` escapes, so it cannot
drive the terminal.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from securestore.audit.model import Result, Severity, Status
from securestore.audit.reports.text import printable
from securestore.audit.runner import AuditReport

__all__ = ["TableReport"]

_STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.ERROR: "yellow",
    Status.SKIP: "dim",
    Status.INFO: "cyan",
}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.INFORMATIONAL: "dim",
}


def _plain(text: str, style: str = "") -> Text:
    """Untrusted text as a cell: no markup, no control characters."""
    return Text(printable(text), style=style)


class TableReport:
    """Findings as a table, then suppressions and the framework view when present."""

    def __init__(self, *, width: int = 120, color: bool = False, show_all: bool = False) -> None:
        self._width = width
        self._color = color
        self._show_all = show_all

    def render(self, report: AuditReport) -> str:
        """The report as terminal text (ANSI colours only when ``color``)."""
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=self._width,
            force_terminal=self._color,
            color_system="standard" if self._color else None,
            no_color=not self._color,
            highlight=False,
            emoji=False,
            legacy_windows=False,
        )
        for error in report.errors:
            # One line each, whatever the width: CI logs are grepped.
            console.print(_plain(f"audit error: {error}", "bold red"), soft_wrap=True)
        rows = (
            report.results
            if self._show_all
            else tuple(
                r for r in report.results if r.status in (Status.FAIL, Status.ERROR) or r.suppressed
            )
        )
        org = bool(report.accounts)
        if org:
            console.print(self._accounts_table(report))
        if rows:
            console.print(self._results_table(rows, org))
        if report.suppressions:
            console.print(self._suppressions_table(report))
        if report.framework is not None:
            console.print(self._framework_table(report))
        c = report.counts()
        accounts = f"{len(report.accounts)} account(s), " if org else ""
        console.print(
            f"{accounts}{len(report.buckets)} bucket(s), {len(report.checks)} check(s): "
            f"{c['FAIL']} failed, {c['ERROR']} error(s), {c['PASS']} passed, "
            f"{c['SUPPRESSED']} suppressed, {c['SKIP']} skipped, {c['INFO']} informational; "
            f"{report.total_api_calls} API call(s)",
            soft_wrap=True,
        )
        return buffer.getvalue()

    @staticmethod
    def _accounts_table(report: AuditReport) -> Table:
        table = Table(title="Accounts")
        for name in ("Account", "Name", "Status", "Buckets", "Findings", "Error"):
            table.add_column(name, overflow="fold")
        findings = report.findings()
        for a in report.accounts:
            table.add_row(
                a.account_id,
                _plain(a.name),
                Text(a.status, style=_STATUS_STYLE[Status.ERROR if a.error else Status.PASS]),
                str(a.buckets),
                str(sum(1 for r in findings if r.account == a.account_id)),
                _plain(a.error or ""),
            )
        return table

    @staticmethod
    def _results_table(rows: tuple[Result, ...], org: bool = False) -> Table:
        table = Table(title="securestore audit", show_lines=False)
        for name in ("Account", "Bucket") if org else ("Bucket",):
            table.add_column(name, overflow="fold")
        for name in ("Check", "Severity", "Status", "Message"):
            table.add_column(name, overflow="fold")
        for r in rows:
            status = Text(r.status.value, style=_STATUS_STYLE[r.status])
            if r.suppressed:
                status = Text(f"{r.status.value} (suppressed)", style="dim")
            table.add_row(
                *((_plain(r.account or ""),) if org else ()),
                _plain(r.bucket),
                _plain(r.check_id),
                Text(r.severity.value, style=_SEVERITY_STYLE[r.severity]),
                status,
                _plain(r.message),
            )
        return table

    @staticmethod
    def _suppressions_table(report: AuditReport) -> Table:
        table = Table(title="Suppressions")
        for name in ("Check", "Bucket", "State", "Matched", "Expires", "Reason"):
            table.add_column(name, overflow="fold")
        for s in report.suppressions:
            sup = s.suppression
            table.add_row(
                _plain(sup.check_id),
                _plain(sup.bucket),
                s.state.value,
                str(s.matched),
                sup.expires.isoformat() if sup.expires else "never",
                _plain(sup.reason),
            )
        return table

    @staticmethod
    def _framework_table(report: AuditReport) -> Table:
        fw = report.framework
        assert fw is not None
        table = Table(title=f"{fw.name} {fw.version}")
        for name in ("Requirement", "Title", "Status", "Passed", "Failed", "Errors"):
            table.add_column(name, overflow="fold")
        for s in report.requirement_summaries():
            table.add_row(
                _plain(s.requirement.id),
                _plain(s.requirement.title),
                Text(s.status.value, style=_STATUS_STYLE[s.status]),
                str(s.passed),
                str(s.failed),
                str(s.errors),
            )
        return table

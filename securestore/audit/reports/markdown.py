"""GitHub-flavoured Markdown for pull-request comments.

Every text that comes from the audited account or a suppression file (policy
text, Sids, messages, reasons, bucket globs) is escaped: raw HTML is written as
entities and control characters as ``\\xNN``, so a comment shows the text and
never renders or executes it.
"""

from __future__ import annotations

import re

from securestore.audit.model import Result, Status
from securestore.audit.reports.json_report import timestamp
from securestore.audit.reports.text import printable
from securestore.audit.runner import AuditReport

__all__ = ["MarkdownReport"]

# GitHub emoji short codes: ASCII in the source, icons in a rendered comment.
_ICON = {
    Status.PASS: ":white_check_mark:",
    Status.FAIL: ":x:",
    Status.ERROR: ":warning:",
    Status.SKIP: ":heavy_minus_sign:",
    Status.INFO: ":information_source:",
}


#: Markdown syntax untrusted text could use to add links, images, emphasis or code
#: spans to a report (a PR comment would load an image from anywhere): escaped.
_MARKUP = re.compile(r"([\\`*_~\[\]|])")


def _cell(text: str) -> str:
    """One table cell (or line) of untrusted text."""
    text = text.replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return printable(_MARKUP.sub(r"\\\1", text))


def _code(text: str) -> str:
    """Untrusted text as an inline code span (a backtick in it cannot end the span)."""
    if any(c in text for c in "`|\n"):
        return f"<code>{_cell(text)}</code>"
    return f"`{printable(text)}`"


def _order(r: Result) -> tuple[int, str, str]:
    return (-r.severity.rank, r.bucket, r.check_id)


def _account(result: Result, org: bool) -> str:
    return f"| {_code(result.account or '')} " if org else ""


def _accounts(report: AuditReport) -> list[str]:
    """The accounts of an organization-wide audit, with their open findings."""
    lines = [
        "### Accounts",
        "",
        "| Account | Name | Status | Buckets | Open findings | Error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    findings = report.findings()
    for a in report.accounts:
        open_findings = sum(1 for r in findings if r.account == a.account_id)
        status = f"{_ICON[Status.ERROR]} error" if a.error else "audited"
        lines.append(
            f"| {_code(a.account_id)} | {_cell(a.name)} | {status} | {a.buckets} | "
            f"{open_findings} | {_cell(a.error or '')} |"
        )
    return [*lines, ""]


class MarkdownReport:
    """A summary, the open findings by severity, suppressions, the framework view,
    and every result in a collapsed section."""

    def render(self, report: AuditReport) -> str:
        """The report as Markdown."""
        c = report.counts()
        lines = [
            "## securestore audit",
            "",
            f"{len(report.buckets)} bucket(s), {len(report.checks)} check(s), "
            f"generated {timestamp(report)}: **{c['FAIL']} failed**, {c['ERROR']} error(s), "
            f"{c['PASS']} passed, {c['SUPPRESSED']} suppressed, {c['SKIP']} skipped, "
            f"{c['INFO']} informational.",
            "",
        ]
        for error in report.errors:
            lines.append(f"> **Audit error:** {_cell(error)}")
            lines.append("")
        org = bool(report.accounts)
        if org:
            lines += _accounts(report)
        head, rule = ("| Account ", "| --- ") if org else ("", "")
        findings = sorted(report.findings(), key=_order)
        if findings:
            lines += [
                "### Findings",
                "",
                f"{head}| Severity | Bucket | Check | Status | Message |",
                f"{rule}| --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"{_account(r, org)}| {r.severity.value} | {_code(r.bucket)} | "
                f"{r.check_id} {_cell(r.check.title)} | "
                f"{_ICON[r.status]} {r.status.value} | {_cell(r.message)} |"
                for r in findings
            ]
            lines.append("")
        else:
            lines += ["No open findings.", ""]
        if report.suppressions:
            lines += [
                "### Suppressions",
                "",
                "| Check | Bucket | State | Matched | Expires | Reason |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for s in report.suppressions:
                sup = s.suppression
                expires = sup.expires.isoformat() if sup.expires else "never"
                lines.append(
                    f"| {_cell(sup.check_id)} | {_code(sup.bucket)} | {s.state.value} | "
                    f"{s.matched} | {expires} | {_cell(sup.reason)} |"
                )
            lines.append("")
        if report.framework is not None:
            fw = report.framework
            lines += [
                f"### {fw.name} {fw.version}",
                "",
                "| Requirement | Status | Passed | Failed | Errors | Checks |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for req in report.requirement_summaries():
                lines.append(
                    f"| {req.requirement.id} {_cell(req.requirement.title)} | "
                    f"{_ICON[req.status]} {req.status.value} | {req.passed} | {req.failed} | "
                    f"{req.errors} | {', '.join(req.requirement.checks)} |"
                )
            lines.append("")
        lines += [
            "<details><summary>All results</summary>",
            "",
            f"{head}| Bucket | Check | Severity | Status | Message |",
            f"{rule}| --- | --- | --- | --- | --- |",
        ]
        for r in report.results:
            status = f"{_ICON[r.status]} {r.status.value}"
            if r.suppressed:
                status += " (suppressed)"
            lines.append(
                f"{_account(r, org)}| {_code(r.bucket)} | {r.check_id} | {r.severity.value} | "
                f"{status} | "
                f"{_cell(r.message)} |"
            )
        lines += ["", "</details>", ""]
        return "\n".join(lines)

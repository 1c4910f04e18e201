"""The JSON report: a documented, versioned schema (``audit-report.schema.json``).

``schema_version`` follows semantic versioning: a minor bump only adds
optional fields; a major bump may remove or change them.
"""

from __future__ import annotations

import json
from datetime import UTC
from importlib import resources
from typing import Any

from securestore.audit.model import Result
from securestore.audit.runner import AuditReport

__all__ = [
    "SCHEMA_VERSION",
    "JsonReport",
    "load_schema",
    "report_document",
    "result_record",
    "timestamp",
]

#: The version of the JSON document layout.
SCHEMA_VERSION = "1.1"

_SCHEMA_FILE = "audit-report.schema.json"


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the document :class:`JsonReport` renders."""
    text = resources.files(__package__).joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def timestamp(report: AuditReport) -> str:
    """``generated_at`` as RFC 3339 UTC with a ``Z`` suffix (naive times are local)."""
    return report.generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_record(result: Result, report: AuditReport) -> dict[str, Any]:
    """One result as a JSON object (see the schema's ``result``)."""
    sup = result.suppressed_by
    record: dict[str, Any] = {
        "check_id": result.check_id,
        "bucket": result.bucket,
        "account": result.account,
        "status": result.status.value,
        "severity": result.severity.value,
        "title": result.check.title,
        "message": result.message,
        "region": result.region,
        "arn": result.arn,
        "suppressed": sup is not None,
        "suppression": None
        if sup is None
        else {
            "reason": sup.reason,
            "expires": sup.expires.isoformat() if sup.expires else None,
        },
        "details": dict(result.details),
    }
    if report.framework is not None:
        record["requirements"] = [r.id for r in report.framework.requirements_for(result.check_id)]
    return record


def report_document(report: AuditReport) -> dict[str, Any]:
    """The whole report as a JSON-compatible dictionary."""
    opts = report.options
    summary: dict[str, Any] = {
        "buckets": len(report.buckets),
        "checks": len(report.checks),
        "results": len(report.results),
        **report.counts(),
        "api_calls": report.total_api_calls,
    }
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "securestore", "version": report.tool_version},
        "generated_at": timestamp(report),
        "accounts": [
            {
                "account_id": a.account_id,
                "name": a.name,
                "status": a.status,
                "buckets": a.buckets,
                "error": a.error,
            }
            for a in report.accounts
        ],
        "options": {
            "require": opts.require.value,
            "allowed_kms_keys": sorted(opts.allowed_kms_keys),
            "require_vpc_endpoint": opts.require_vpc_endpoint,
            "sample_objects": opts.sample_objects,
        },
        "summary": summary,
        "errors": list(report.errors),
        "checks": [
            {
                "id": c.id,
                "title": c.title,
                "severity": c.severity.value,
                "rationale": c.rationale,
                "remediation": c.remediation,
                "references": list(c.references),
            }
            for c in report.checks
        ],
        "results": [result_record(r, report) for r in report.results],
        "suppressions": [
            {
                "check_id": s.suppression.check_id,
                "bucket": s.suppression.bucket,
                "reason": s.suppression.reason,
                "expires": s.suppression.expires.isoformat() if s.suppression.expires else None,
                "state": s.state.value,
                "matched": s.matched,
            }
            for s in report.suppressions
        ],
        "api_calls": dict(sorted(report.api_calls.items())),
        "compliance": None,
    }
    if report.framework is not None:
        fw = report.framework
        doc["compliance"] = {
            "framework": {"id": fw.id, "name": fw.name, "version": fw.version},
            "requirements": [
                {
                    "id": s.requirement.id,
                    "title": s.requirement.title,
                    "checks": list(s.requirement.checks),
                    "status": s.status.value,
                    "passed": s.passed,
                    "failed": s.failed,
                    "errors": s.errors,
                    "suppressed": s.suppressed,
                }
                for s in report.requirement_summaries()
            ],
        }
    return doc


class JsonReport:
    """The versioned JSON document, indented, keys in a fixed order, newline-terminated."""

    def __init__(self, *, indent: int | None = 2) -> None:
        self._indent = indent

    def render(self, report: AuditReport) -> str:
        """The report as JSON text."""
        return json.dumps(report_document(report), indent=self._indent, ensure_ascii=False) + "\n"

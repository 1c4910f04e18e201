"""SARIF 2.1.0 for code-scanning tools (GitHub code scanning and others).

Rules come from check metadata; one result per unsuppressed or suppressed FAIL
and per ERROR, located at the bucket's ARN (both as the artifact URI and as a
logical location). Suppressed findings carry a SARIF ``suppressions`` entry, so
they stay visible but are not alerts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from securestore.audit.model import CheckMeta, Result, Severity, Status
from securestore.audit.reports.json_report import timestamp
from securestore.audit.runner import AuditReport

__all__ = ["SARIF_SCHEMA_URI", "SarifReport"]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/securestore/securestore/blob/main/docs/audit.md"

#: GitHub's security-severity scale (0-10): >= 9 critical, >= 7 high, >= 4 medium.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFORMATIONAL: "0.0",
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}


def _rule_name(meta: CheckMeta) -> str:
    words = re.findall(r"[A-Za-z0-9]+", meta.title)
    return "".join(w[:1].upper() + w[1:] for w in words)


def _rule(meta: CheckMeta) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": meta.id,
        "name": _rule_name(meta),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.rationale},
        "help": {
            "text": f"{meta.rationale}\n\nRemediation: {meta.remediation}",
            "markdown": f"{meta.rationale}\n\n**Remediation:** {meta.remediation}",
        },
        "defaultConfiguration": {"level": _LEVEL[meta.severity]},
        "properties": {
            "tags": ["security", "aws", "s3", meta.concern],
            "security-severity": _SECURITY_SEVERITY[meta.severity],
            "precision": "very-high",
        },
    }
    if meta.references:
        rule["helpUri"] = meta.references[0]
    return rule


def fingerprint(result: Result) -> str:
    """A stable identity for a finding across runs: check id and bucket ARN."""
    return hashlib.sha256(f"{result.check_id}|{result.arn}".encode()).hexdigest()[:32]


class SarifReport:
    """SARIF 2.1.0 log with one run."""

    def render(self, report: AuditReport) -> str:
        """The report as SARIF JSON text."""
        index = {meta.id: i for i, meta in enumerate(report.checks)}
        results = [
            self._result(r, index[r.check_id])
            for r in report.results
            if r.status in (Status.FAIL, Status.ERROR) and r.check_id in index
        ]
        invocation: dict[str, Any] = {
            "executionSuccessful": not report.errors,
            "endTimeUtc": timestamp(report),
        }
        if report.errors:
            invocation["toolExecutionNotifications"] = [
                {"level": "error", "message": {"text": e}} for e in report.errors
            ]
        log = {
            "$schema": SARIF_SCHEMA_URI,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "securestore",
                            "semanticVersion": report.tool_version,
                            "informationUri": INFORMATION_URI,
                            "rules": [_rule(m) for m in report.checks],
                        }
                    },
                    "automationDetails": {"id": "securestore-audit/"},
                    "invocations": [invocation],
                    "results": results,
                }
            ],
        }
        return json.dumps(log, indent=2, ensure_ascii=False) + "\n"

    @staticmethod
    def _result(result: Result, rule_index: int) -> dict[str, Any]:
        error = result.status is Status.ERROR
        out: dict[str, Any] = {
            "ruleId": result.check_id,
            "ruleIndex": rule_index,
            "kind": "fail",
            "level": "warning" if error else _LEVEL[result.severity],
            "message": {"text": f"{result.bucket}: {result.message}"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": result.arn}},
                    "logicalLocations": [
                        {
                            "name": result.bucket,
                            "fullyQualifiedName": result.arn,
                            "kind": "resource",
                        }
                    ],
                }
            ],
            "partialFingerprints": {"securestoreFinding/v1": fingerprint(result)},
            "properties": {
                "status": result.status.value,
                "region": result.region,
                "account": result.account,
            },
        }
        if result.suppressed_by is not None:
            out["suppressions"] = [
                {"kind": "external", "justification": result.suppressed_by.reason}
            ]
        return out

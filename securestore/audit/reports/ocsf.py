"""OCSF Compliance Finding (class_uid 2003, OCSF 1.3) JSON: one finding per result.

A configuration check is a compliance evaluation, not a detection of activity:
OCSF's Compliance Finding is the class that carries the ``compliance`` object
(Detection Findings have none, and strict consumers drop it there). Each
audit-level error (the audit could not run) is one more finding with
``status_code`` ``AUDIT_ERROR`` and compliance status Unknown.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from securestore.audit.model import Result, Severity, Status
from securestore.audit.reports.json_report import timestamp
from securestore.audit.reports.sarif import fingerprint
from securestore.audit.runner import AuditReport

__all__ = ["OCSF_VERSION", "OcsfReport"]

OCSF_VERSION = "1.3.0"

_CLASS_UID = 2003
_CLASS_NAME = "Compliance Finding"
_CATEGORY_UID = 2
_ACTIVITY_CREATE = 1
_SEVERITY_ID = {
    Severity.INFORMATIONAL: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}
# Finding status: 1 New, 3 Suppressed, 4 Resolved, 99 Other.
_STATUS = {
    Status.FAIL: (1, "New"),
    Status.ERROR: (1, "New"),
    Status.PASS: (4, "Resolved"),
    Status.SKIP: (99, "Other"),
    Status.INFO: (99, "Other"),
}
# Compliance status: 1 Pass, 2 Warning, 3 Fail, 0 Unknown, 99 Other.
_COMPLIANCE = {
    Status.PASS: (1, "Pass"),
    Status.FAIL: (3, "Fail"),
    Status.ERROR: (0, "Unknown"),
    Status.SKIP: (99, "Other"),
    Status.INFO: (2, "Warning"),
}


class OcsfReport:
    """A JSON array of OCSF Compliance Finding events."""

    def render(self, report: AuditReport) -> str:
        """The report as an OCSF JSON array."""
        millis = int(report.generated_at.astimezone(UTC).timestamp() * 1000)
        findings = [self._finding(r, report, millis) for r in report.results]
        findings += [self._audit_error(e, report, millis) for e in report.errors]
        return json.dumps(findings, indent=2, ensure_ascii=False) + "\n"

    @staticmethod
    def _audit_error(error: str, report: AuditReport, millis: int) -> dict[str, Any]:
        uid = "audit-error-" + hashlib.sha256(error.encode("utf-8")).hexdigest()[:32]
        return {
            "metadata": _metadata(report, "AUDIT", uid),
            **_class(),
            "time": millis,
            "time_dt": timestamp(report),
            "severity_id": _SEVERITY_ID[Severity.HIGH],
            "severity": "High",
            "status_id": 1,
            "status": "New",
            "status_code": "AUDIT_ERROR",
            "status_detail": error,
            "message": f"the audit could not run: {error}",
            "finding_info": {
                "uid": uid,
                "title": "The audit could not run",
                "desc": "Collection failed for the whole audit or a whole bucket "
                "(connection or credential failure); nothing below it was judged.",
                "types": ["AUDIT"],
                "created_time": millis,
            },
            "compliance": {"status_id": 0, "status": "Unknown", "control": "AUDIT"},
        }

    @staticmethod
    def _finding(result: Result, report: AuditReport, millis: int) -> dict[str, Any]:
        meta = result.check
        status_id, status = (3, "Suppressed") if result.suppressed else _STATUS[result.status]
        comp_id, comp = _COMPLIANCE[result.status]
        compliance: dict[str, Any] = {"status_id": comp_id, "status": comp, "control": meta.id}
        if report.framework is not None:
            compliance["standards"] = [f"{report.framework.name} {report.framework.version}"]
            compliance["requirements"] = [r.id for r in report.framework.requirements_for(meta.id)]
        finding: dict[str, Any] = {
            "metadata": _metadata(report, meta.id, fingerprint(result)),
            **_class(),
            "time": millis,
            "time_dt": timestamp(report),
            "severity_id": _SEVERITY_ID[result.severity],
            "severity": result.severity.value.capitalize(),
            "status_id": status_id,
            "status": status,
            "status_code": result.status.value,
            "status_detail": result.message,
            "message": f"{result.bucket}: {meta.title}: {result.status.value}",
            "finding_info": {
                "uid": fingerprint(result),
                "title": meta.title,
                "desc": meta.rationale,
                "types": [meta.concern],
                "created_time": millis,
            },
            "cloud": {
                "provider": "AWS",
                "region": result.region,
                **({"account": {"uid": result.account}} if result.account else {}),
            },
            "resources": [
                {
                    "uid": result.arn,
                    "name": result.bucket,
                    "type": "AWS::S3::Bucket",
                    "region": result.region,
                    "cloud_partition": result.arn.split(":")[1] if result.arn else "aws",
                }
            ],
            "remediation": {"desc": meta.remediation, "references": list(meta.references)},
            "compliance": compliance,
            "unmapped": {"details": dict(result.details)},
        }
        if result.suppressed_by is not None:
            finding["unmapped"]["suppression_reason"] = result.suppressed_by.reason
        return finding


def _metadata(report: AuditReport, event_code: str, uid: str) -> dict[str, Any]:
    return {
        "version": OCSF_VERSION,
        "product": {
            "name": "securestore",
            "vendor_name": "securestore",
            "version": report.tool_version,
        },
        "event_code": event_code,
        "uid": uid,
    }


def _class() -> dict[str, Any]:
    return {
        "category_uid": _CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": _CLASS_UID,
        "class_name": _CLASS_NAME,
        "activity_id": _ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": _CLASS_UID * 100 + _ACTIVITY_CREATE,
        "type_name": f"{_CLASS_NAME}: Create",
    }

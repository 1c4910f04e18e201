"""The bucket encryption auditor.

The pure core (no AWS calls, no boto3): snapshots in :mod:`.model`, policy
analysis in :mod:`.policy`, checks in :mod:`.checks` collected by
:class:`Registry`, compliance frameworks in :mod:`.compliance`, suppressions in
:mod:`.suppress`, :func:`run_checks` and :func:`exit_status` in :mod:`.runner`,
and report formats in :mod:`.reports`. AWS I/O lives only in
:mod:`securestore.audit.collect` (snapshots) and :mod:`securestore.audit.harden`
(fixes), which callers import explicitly.

Typical use::

    from securestore.audit import AuditOptions, Registry, exit_status, run_checks
    from securestore.audit.collect import Collector
    from securestore.audit.reports import renderer_for

    collection = Collector(connection).collect(["my-bucket"])
    report = run_checks(collection.snapshots, registry=Registry.default(),
                        options=AuditOptions(), errors=collection.errors)
    print(renderer_for("table").render(report))
    code = exit_status(report)
"""

from __future__ import annotations

from securestore.audit.check import Check, check
from securestore.audit.compliance import (
    Framework,
    Requirement,
    available_frameworks,
    load_framework,
)
from securestore.audit.model import (
    BucketSnapshot,
    CheckMeta,
    Collected,
    CollectionError,
    EncryptionRule,
    Grant,
    KeySnapshot,
    LifecycleRule,
    LoggingConfig,
    ObjectLockConfig,
    ObjectSample,
    Outcome,
    PublicAccessBlock,
    Result,
    Severity,
    Status,
    Suppression,
    Versioning,
)
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.audit.registry import ENTRY_POINT_GROUP, Registry
from securestore.audit.runner import AuditReport, exit_status, run_checks
from securestore.audit.suppress import load_suppressions, parse_suppressions

__all__ = [
    "ENTRY_POINT_GROUP",
    "AuditOptions",
    "AuditReport",
    "BucketSnapshot",
    "Check",
    "CheckMeta",
    "Collected",
    "CollectionError",
    "EncryptionRequirement",
    "EncryptionRule",
    "Framework",
    "Grant",
    "KeySnapshot",
    "LifecycleRule",
    "LoggingConfig",
    "ObjectLockConfig",
    "ObjectSample",
    "Outcome",
    "PublicAccessBlock",
    "Registry",
    "Requirement",
    "Result",
    "Severity",
    "Status",
    "Suppression",
    "Versioning",
    "available_frameworks",
    "check",
    "exit_status",
    "load_framework",
    "load_suppressions",
    "parse_suppressions",
    "run_checks",
]

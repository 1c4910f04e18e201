"""The audit's data model: what collection produces and what checks return.

Everything here is plain, immutable data so that checks are pure functions and
tests build snapshots by hand. A snapshot field holds either the collected value
or the :class:`CollectionError` that prevented collecting it; a check that reads
a failed field yields an ``ERROR`` result, never a silent pass.

"Not configured" is a value, not an error: a bucket without a policy has
``policy == Collected.ok(None)``.

The model is split by concept: :mod:`securestore.audit.collected` (a value or
its collection error), :mod:`securestore.audit.snapshot` (buckets and keys),
:mod:`securestore.audit.samples` (sampled objects); this module holds statuses,
severities, check metadata and results, and re-exports the rest so that
``securestore.audit.model`` stays the one import for all of it.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from securestore.audit.collected import (
    AUDIT_LEVEL_CODES,
    Collected,
    CollectionError,
    Unavailable,
)
from securestore.audit.samples import ObjectCoverage, ObjectSample
from securestore.audit.snapshot import (
    CROSS_ACCOUNT,
    DEFAULT_S3_KEY_ALIAS,
    KEY_NOT_FOUND,
    KMS_ALGORITHMS,
    AccountPublicAccess,
    BucketSnapshot,
    EncryptionRule,
    Grant,
    KeySnapshot,
    LifecycleRule,
    LoggingConfig,
    ObjectLockConfig,
    PublicAccessBlock,
    Versioning,
)

__all__ = [
    "AUDIT_LEVEL_CODES",
    "CROSS_ACCOUNT",
    "DEFAULT_S3_KEY_ALIAS",
    "KEY_NOT_FOUND",
    "KMS_ALGORITHMS",
    "AccountPublicAccess",
    "BucketSnapshot",
    "CheckMeta",
    "Collected",
    "CollectionError",
    "EncryptionRule",
    "Grant",
    "KeySnapshot",
    "LifecycleRule",
    "LoggingConfig",
    "ObjectCoverage",
    "ObjectLockConfig",
    "ObjectSample",
    "Outcome",
    "PublicAccessBlock",
    "Result",
    "Severity",
    "Status",
    "Suppression",
    "Unavailable",
    "Versioning",
]


class Status(enum.StrEnum):
    """The outcome of one check on one bucket."""

    PASS = "PASS"  # noqa: S105 - a status, not a password
    """The bucket meets the check."""
    FAIL = "FAIL"
    """The bucket does not meet the check: a finding."""
    ERROR = "ERROR"
    """The check could not be evaluated (for example an API call was denied)."""
    SKIP = "SKIP"
    """The check does not apply (for example no KMS key is in use)."""
    INFO = "INFO"
    """Informational: reported, never a failure."""


class Severity(enum.StrEnum):
    """How much a failing check matters; ordered from ``INFORMATIONAL`` to ``CRITICAL``."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for informational up to 4 for critical."""
        return _SEVERITY_ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank


_SEVERITY_ORDER = tuple(Severity)


@dataclass(frozen=True)
class CheckMeta:
    """The stable description of a check.

    ``id`` never changes once published (``S3.TLS.1``); ``references`` are URLs.
    """

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()
    #: Optional collection the check reads (``lifecycle``, ``monitoring``):
    #: collected only when a selected check needs it.
    needs: frozenset[str] = frozenset()

    @property
    def concern(self) -> str:
        """The id without its number: ``S3.TLS`` for ``S3.TLS.1``, ``KMS`` for ``KMS.2``."""
        return self.id.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: a status, a one-line message and details.

    ``details`` holds JSON-compatible values (str, int, bool, lists, dicts).
    """

    status: Status
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suppression:
    """An accepted finding: ``check_id`` on buckets matching ``bucket`` (a glob).

    ``expires`` is the last day the suppression applies; ``None`` never expires.
    """

    check_id: str
    bucket: str
    reason: str
    expires: date | None = None

    def matches(self, check_id: str, bucket: str) -> bool:
        """True if this suppression names ``check_id`` and ``bucket`` matches its glob."""
        return check_id == self.check_id and fnmatch.fnmatchcase(bucket, self.bucket)

    def expired(self, today: date) -> bool:
        """True once ``today`` is past ``expires``."""
        return self.expires is not None and today > self.expires


@dataclass(frozen=True)
class Result:
    """One check's outcome on one bucket, with the suppression that accepted it, if any.

    ``account`` is the AWS account that owns the bucket, when known (the runner
    fills it in from the snapshot).
    """

    check: CheckMeta
    bucket: str
    status: Status
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None
    arn: str = ""
    suppressed_by: Suppression | None = None
    severity_override: Severity | None = None
    account: str | None = None

    @property
    def check_id(self) -> str:
        """The check's stable id."""
        return self.check.id

    @property
    def severity(self) -> Severity:
        """This result's severity: the check's, unless the finding is mitigated
        (``severity_override``, with the reason in ``details["mitigated_by"]``)."""
        return self.severity_override or self.check.severity

    @property
    def suppressed(self) -> bool:
        """True if an active suppression accepted this result."""
        return self.suppressed_by is not None

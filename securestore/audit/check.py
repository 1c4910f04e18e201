"""A check: stable metadata plus a pure function of a bucket snapshot.

Checks are declared with :func:`check`::

    @check(
        "S3.DATA.1",
        title="Versioning is enabled",
        severity=Severity.MEDIUM,
        rationale="...",
        remediation="...",
    )
    def versioning(snapshot: BucketSnapshot, options: AuditOptions) -> Outcome:
        ...

A check reads snapshot fields with ``Collected.get()``; when a field it needs
failed to collect, :meth:`Check.run` turns that into an ``ERROR`` result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from securestore.audit.model import (
    BucketSnapshot,
    CheckMeta,
    Outcome,
    Result,
    Severity,
    Status,
    Unavailable,
)
from securestore.audit.options import AuditOptions
from securestore.errors import ConfigurationError

__all__ = ["OPTIONAL_COLLECTION", "Check", "CheckFunction", "check", "needed_collection"]

#: Collection that is made only for checks that declare they need it.
OPTIONAL_COLLECTION = frozenset({"lifecycle", "monitoring"})

CheckFunction = Callable[[BucketSnapshot, AuditOptions], Outcome]

_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(\.[A-Z][A-Z0-9]*)*\.[0-9]+$")


@dataclass(frozen=True)
class Check:
    """A check's metadata and its function."""

    meta: CheckMeta
    function: CheckFunction

    @property
    def id(self) -> str:
        """The check's stable id."""
        return self.meta.id

    def run(self, snapshot: BucketSnapshot, options: AuditOptions) -> Result:
        """Evaluate the check on ``snapshot``; never raises for bad or missing data.

        A field that failed to collect, a malformed policy, or an exception in a
        (third-party) check function each yield an ``ERROR`` result.
        """
        try:
            outcome = self.function(snapshot, options)
        except Unavailable as exc:
            outcome = Outcome(
                Status.ERROR,
                f"could not evaluate: {exc.error}",
                {"operation": exc.error.operation, "error_code": exc.error.code},
            )
        except ConfigurationError as exc:
            outcome = Outcome(Status.ERROR, f"could not evaluate: {exc.message}")
        except Exception as exc:  # a broken plug-in must not abort the whole audit
            outcome = Outcome(Status.ERROR, f"check {self.id} raised {type(exc).__name__}: {exc}")
        region = snapshot.region.value if snapshot.region.is_ok else None
        return Result(
            check=self.meta,
            bucket=snapshot.name,
            status=outcome.status,
            message=outcome.message,
            details=dict(outcome.details),
            region=region,
            arn=snapshot.arn,
        )


def check(
    check_id: str,
    *,
    title: str,
    severity: Severity,
    rationale: str,
    remediation: str,
    references: Iterable[str] = (),
    needs: Iterable[str] = (),
) -> Callable[[CheckFunction], Check]:
    """Declare a check: decorate a function ``(snapshot, options) -> Outcome``.

    ``needs`` names the optional collection the check reads (``lifecycle``,
    ``monitoring``; see :func:`needed_collection`).

    Raises:
        ConfigurationError: ``check_id`` is not of the form ``GROUP.n``
            (``S3.TLS.1``, ``KMS.2``).
    """
    if not _ID_RE.match(check_id):
        raise ConfigurationError(f"invalid check id {check_id!r}: expected e.g. S3.TLS.1")
    meta = CheckMeta(
        id=check_id,
        title=title,
        severity=severity,
        rationale=" ".join(rationale.split()),
        remediation=" ".join(remediation.split()),
        references=tuple(references),
        needs=frozenset(needs),
    )

    def wrap(function: CheckFunction) -> Check:
        return Check(meta=meta, function=function)

    return wrap


def needed_collection(checks: Iterable[Check]) -> frozenset[str]:
    """The optional collection (:data:`OPTIONAL_COLLECTION`) ``checks`` need."""
    return frozenset(need for c in checks for need in c.meta.needs)

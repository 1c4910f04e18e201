"""Running checks over snapshots, the resulting :class:`AuditReport`, and exit codes.

Everything here is pure: snapshots in, a report out. Time is injected
(``now``) so reports are reproducible.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from securestore.audit.check import Check
from securestore.audit.compliance import Framework, RequirementSummary, summarise
from securestore.audit.model import BucketSnapshot, CheckMeta, Result, Severity, Status, Suppression
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.audit.registry import Registry
from securestore.audit.suppress import SuppressionStatus, apply_suppressions

__all__ = [
    "EXIT_AUDIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "MITIGATED_SEVERITY",
    "AccountOutcome",
    "AuditReport",
    "assemble_report",
    "evaluate",
    "exit_status",
    "run_checks",
    "selected_checks",
]

#: Nothing at or above the threshold failed.
EXIT_OK = 0
#: At least one unsuppressed FAIL or ERROR at or above the threshold.
EXIT_FINDINGS = 1
#: The audit itself could not run (for example the bucket list could not be read).
EXIT_AUDIT_FAILED = 4

TOOL_NAME = "securestore"

#: The severity of a public-access finding that a public access block setting
#: currently neutralises (as Security Hub's S3.2/S3.3 count such buckets as
#: blocked): still a FAIL, since turning the setting off exposes the bucket.
MITIGATED_SEVERITY = Severity.LOW

# Check id -> (PublicAccessBlock attribute, S3's name of the setting) that neutralises it.
_MITIGATIONS = {
    "S3.PUBLIC.3": ("ignore_public_acls", "IgnorePublicAcls"),
    "S3.PUBLIC.5": ("restrict_public_buckets", "RestrictPublicBuckets"),
}


@dataclass(frozen=True)
class AccountOutcome:
    """How one account of an organization-wide audit went.

    ``error`` is set when the account could not be audited at all (its role
    could not be assumed, its buckets could not be listed); its results are
    then empty and the error is also one of the report's ``errors``.
    """

    account_id: str
    name: str = ""
    buckets: int = 0
    error: str | None = None

    @property
    def status(self) -> str:
        """``audited`` or ``error``."""
        return "error" if self.error is not None else "audited"


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit: every result plus what is needed to render it.

    ``checks`` are the checks that ran (SARIF rules come from them);
    ``errors`` are audit-level problems (not per-check); ``api_calls`` counts
    the AWS calls made per bucket (``""`` for account-level calls);
    ``accounts`` is set by an organization-wide audit, one entry per account.
    """

    results: tuple[Result, ...]
    checks: tuple[CheckMeta, ...]
    buckets: tuple[str, ...]
    generated_at: datetime
    options: AuditOptions = field(default_factory=AuditOptions)
    suppressions: tuple[SuppressionStatus, ...] = ()
    framework: Framework | None = None
    errors: tuple[str, ...] = ()
    api_calls: Mapping[str, int] = field(default_factory=dict)
    tool_version: str = "0.1.0"
    accounts: tuple[AccountOutcome, ...] = ()

    def counts(self) -> dict[str, int]:
        """Results per status (``PASS``...), plus ``SUPPRESSED`` for accepted ones.

        Suppressed results are counted only under ``SUPPRESSED``.
        """
        counter: Counter[str] = Counter()
        for r in self.results:
            counter["SUPPRESSED" if r.suppressed else r.status.value] += 1
        return {k: counter.get(k, 0) for k in [*(s.value for s in Status), "SUPPRESSED"]}

    def findings(self, threshold: Severity = Severity.INFORMATIONAL) -> tuple[Result, ...]:
        """Unsuppressed FAIL and ERROR results at or above ``threshold``."""
        return tuple(
            r
            for r in self.results
            if r.status in (Status.FAIL, Status.ERROR)
            and not r.suppressed
            and r.severity >= threshold
        )

    def requirement_summaries(self) -> tuple[RequirementSummary, ...]:
        """Results grouped by the framework's requirements (empty without a framework)."""
        if self.framework is None:
            return ()
        return summarise(self.framework, self.results)

    @property
    def total_api_calls(self) -> int:
        """All AWS calls the collection made."""
        return sum(self.api_calls.values())


def run_checks(
    snapshots: Iterable[BucketSnapshot],
    *,
    registry: Registry,
    options: AuditOptions | None = None,
    suppressions: Sequence[Suppression] = (),
    framework: Framework | None = None,
    errors: Sequence[str] = (),
    account_api_calls: int = 0,
    now: datetime | None = None,
    tool_version: str = "0.1.0",
) -> AuditReport:
    """Run every check of ``registry`` on every snapshot and build the report.

    With a ``framework`` only the checks it maps are run, so the report answers
    exactly that framework, and each by the framework's definition: options a
    requirement fixes override ``options``, and checks of requirements limited
    to some buckets are skipped on the others. Public-access findings that a
    public access block setting neutralises get :data:`MITIGATED_SEVERITY`.
    Results are ordered by bucket, then check id order of the registry.
    """
    snaps = sorted(snapshots, key=lambda s: s.name)
    calls = {s.name: s.api_calls for s in snaps}
    if account_api_calls:
        calls[""] = account_api_calls
    return assemble_report(
        evaluate(snaps, registry=registry, options=options, framework=framework),
        checks=selected_checks(registry, framework),
        buckets=[s.name for s in snaps],
        options=options,
        suppressions=suppressions,
        framework=framework,
        errors=errors,
        api_calls=calls,
        now=now,
        tool_version=tool_version,
    )


def selected_checks(registry: Registry, framework: Framework | None) -> tuple[CheckMeta, ...]:
    """The checks a run evaluates: all of ``registry``, or those ``framework`` maps."""
    return tuple(c.meta for c in registry if framework is None or c.id in framework.check_ids)


def evaluate(
    snapshots: Iterable[BucketSnapshot],
    *,
    registry: Registry,
    options: AuditOptions | None = None,
    framework: Framework | None = None,
) -> tuple[Result, ...]:
    """The results of the checks on ``snapshots`` before suppressions, by bucket.

    Each result carries the snapshot's account. :func:`run_checks` is this plus
    :func:`assemble_report`; an organization-wide audit evaluates each account
    apart (and keeps its results in a checkpoint) and assembles once.
    """
    opts = options or AuditOptions()
    checks = [c for c in registry if framework is None or c.id in framework.check_ids]
    return tuple(
        replace(
            _not_applicable(c, s, framework)
            or _mitigate(c.run(s, _options(c, framework, opts)), s),
            account=s.account_id,
        )
        for s in sorted(snapshots, key=lambda s: s.name)
        for c in checks
    )


def assemble_report(
    results: Iterable[Result],
    *,
    checks: Sequence[CheckMeta],
    buckets: Sequence[str],
    options: AuditOptions | None = None,
    suppressions: Sequence[Suppression] = (),
    framework: Framework | None = None,
    errors: Sequence[str] = (),
    api_calls: Mapping[str, int] | None = None,
    now: datetime | None = None,
    tool_version: str = "0.1.0",
    accounts: Sequence[AccountOutcome] = (),
) -> AuditReport:
    """The report of already evaluated ``results``: suppressions are applied here."""
    when = now or datetime.now(UTC)
    applied, states = apply_suppressions(results, suppressions, today=when.date())
    return AuditReport(
        results=applied,
        checks=tuple(checks),
        buckets=tuple(buckets),
        generated_at=when,
        options=options or AuditOptions(),
        suppressions=states,
        framework=framework,
        errors=tuple(errors),
        api_calls=dict(api_calls or {}),
        tool_version=tool_version,
        accounts=tuple(accounts),
    )


def _options(check: Check, framework: Framework | None, options: AuditOptions) -> AuditOptions:
    """``options`` with what the framework's requirements for ``check`` fix."""
    if framework is None:
        return options
    fixed = framework.options_for(check.id)
    if "require" in fixed:
        return replace(options, require=EncryptionRequirement.parse(fixed["require"]))
    return options


def _not_applicable(
    check: Check, snapshot: BucketSnapshot, framework: Framework | None
) -> Result | None:
    """A SKIP when every requirement mapping ``check`` is about other buckets."""
    if framework is None:
        return None
    scopes = framework.scopes_for(check.id)
    if not scopes or None in scopes:
        return None
    known = snapshot.cloudtrail_bucket
    if scopes != {"cloudtrail-buckets"} or known is None or not known.is_ok or known.value:
        return None  # unknown: judged like any bucket rather than skipped unseen
    ids = ", ".join(r.id for r in framework.requirements_for(check.id))
    return Result(
        check=check.meta,
        bucket=snapshot.name,
        status=Status.SKIP,
        message=f"not applicable: {framework.id} {ids} is about CloudTrail buckets, and no "
        "trail delivers its logs to this bucket",
        region=snapshot.region.value if snapshot.region.is_ok else None,
        arn=snapshot.arn,
    )


def _mitigate(result: Result, snapshot: BucketSnapshot) -> Result:
    entry = _MITIGATIONS.get(result.check_id)
    if entry is None or result.status is not Status.FAIL:
        return result
    attribute, setting = entry
    if not getattr(snapshot.effective_public_access_block(), attribute):
        return result
    return replace(
        result,
        severity_override=min(result.severity, MITIGATED_SEVERITY),
        details={**result.details, "mitigated_by": setting},
    )


def exit_status(report: AuditReport, fail_on: Severity = Severity.LOW) -> int:
    """The process exit code for CI.

    ``4`` when the audit could not run (audit-level errors such as an unreadable
    bucket list or a bucket that does not exist),
    ``1`` when an unsuppressed FAIL or ERROR at or above ``fail_on`` remains,
    else ``0``. An ERROR counts as a finding: a check that could not run is not
    a pass.
    """
    if report.errors:
        return EXIT_AUDIT_FAILED
    return EXIT_FINDINGS if report.findings(fail_on) else EXIT_OK

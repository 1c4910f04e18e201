"""The parts of a harden plan: each change with its diff, the plan, and what apply did.

Pure data (no AWS calls); :mod:`securestore.audit.harden` plans and applies them.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AppliedChange",
    "ApplyOutcome",
    "Change",
    "ChangeKind",
    "EncryptionChange",
    "HardenPlan",
    "KeyRotationChange",
    "LifecycleChange",
    "PolicyChange",
    "PublicAccessBlockChange",
    "Sse",
]

#: The server-side encryption harden configures: SSE-S3 or SSE-KMS.
Sse = Literal["s3", "kms"]


class ChangeKind(enum.StrEnum):
    """What a change configures."""

    ENCRYPTION = "default-encryption"
    KEY_ROTATION = "key-rotation"
    POLICY = "bucket-policy"
    PUBLIC_ACCESS_BLOCK = "public-access-block"
    LIFECYCLE = "lifecycle"


@dataclass(frozen=True, kw_only=True)
class Change:
    """One planned change: what it is, and its before/after text for the diff.

    ``target`` names what changes (``s3://bucket`` or a KMS key ARN);
    ``before`` is empty when nothing is configured yet.
    """

    kind: ChangeKind
    target: str
    summary: str
    before: str
    after: str

    def diff(self) -> str:
        """A unified diff of ``before`` to ``after``, labelled with the target and kind."""
        lines = difflib.unified_diff(
            self.before.splitlines(),
            self.after.splitlines(),
            fromfile=f"{self.target} {self.kind} (current)",
            tofile=f"{self.target} {self.kind} (hardened)",
            lineterm="",
        )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class EncryptionChange(Change):
    """Set the bucket's default encryption to ``configuration`` (S3's
    ``ServerSideEncryptionConfiguration``)."""

    configuration: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class KeyRotationChange(Change):
    """Enable automatic rotation of the KMS key ``key_id`` in ``region``."""

    key_id: str
    region: str


@dataclass(frozen=True, kw_only=True)
class PolicyChange(Change):
    """Merge a TLS-only Deny into the bucket policy.

    ``document`` is the merged policy as planned;
    :func:`~securestore.audit.harden.apply` re-reads the policy and merges into the
    current one instead when it changed meanwhile.
    """

    bucket_arn: str
    statement: Mapping[str, Any] = field(hash=False)
    previous: Mapping[str, Any] | None = field(hash=False)
    document: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class PublicAccessBlockChange(Change):
    """Turn on all four bucket-level public access block settings."""

    configuration: Mapping[str, bool] = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class LifecycleChange(Change):
    """Add a rule aborting incomplete multipart uploads after ``days``.

    :func:`~securestore.audit.harden.apply` re-reads the lifecycle configuration and
    merges into what it finds (S3 replaces the whole configuration on every write).
    """

    days: int


@dataclass(frozen=True)
class HardenPlan:
    """What harden would change on one bucket; empty when the bucket is already hardened.

    ``notes`` explain what harden deliberately leaves alone (a stronger
    encryption it does not weaken, a public statement it does not remove).
    ``not_possible`` lists the steps harden cannot carry out (the TLS statements
    would push the bucket policy over S3's size limit); the other changes are
    still planned, and the bucket is then only partly hardened.
    """

    bucket: str
    region: str
    sse: Sse
    kms_key_id: str | None
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    not_possible: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every step harden would take is in ``changes`` (or not needed)."""
        return not self.not_possible

    @property
    def empty(self) -> bool:
        """True when there is nothing to change."""
        return not self.changes

    def diff(self) -> str:
        """Every change's diff, in the order they are applied."""
        return "".join(change.diff() for change in self.changes)


class ApplyOutcome(enum.StrEnum):
    """What :func:`~securestore.audit.harden.apply` did with one change."""

    APPLIED = "applied"
    """Written as planned."""
    MERGED = "merged"
    """The policy changed after planning; the statement was merged into the new one."""
    ALREADY_DONE = "already-done"
    """The policy changed after planning and already enforces TLS: nothing written."""


@dataclass(frozen=True)
class AppliedChange:
    """One change as :func:`~securestore.audit.harden.apply` carried it out."""

    change: Change
    outcome: ApplyOutcome
    message: str

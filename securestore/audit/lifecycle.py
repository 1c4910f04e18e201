"""The lifecycle rule harden adds: abort incomplete multipart uploads (pure).

S3 replaces a bucket's whole lifecycle configuration on every write, so the
rule is always merged into the rules read just before: no rule is removed or
changed, and nothing is added when an enabled rule without a filter already
aborts incomplete uploads (``S3.DATA.6``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from securestore.audit.answers import lifecycle_rules
from securestore.errors import ConfigurationError

__all__ = [
    "ABORT_RULE_ID",
    "DEFAULT_ABORT_DAYS",
    "MAX_LIFECYCLE_RULES",
    "abort_rule",
    "aborts_everywhere",
    "merge_abort_rule",
]

#: The ID of the rule harden adds (a number is appended if it is taken).
ABORT_RULE_ID = "AbortIncompleteMultipartUploads"

#: Days after initiation before an incomplete upload is aborted, unless told otherwise.
DEFAULT_ABORT_DAYS = 7

#: S3's limit on the number of rules in one lifecycle configuration.
MAX_LIFECYCLE_RULES = 1000


def abort_rule(days: int = DEFAULT_ABORT_DAYS, rule_id: str = ABORT_RULE_ID) -> dict[str, Any]:
    """An enabled rule over the whole bucket that aborts uploads after ``days``.

    Raises:
        ConfigurationError: ``days`` is not a positive number of days.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigurationError(
            f"invalid number of days {days!r} for aborting incomplete multipart uploads",
            hint="give a whole number of days, at least 1",
        )
    return {
        "ID": rule_id,
        "Status": "Enabled",
        "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


def aborts_everywhere(rules: Sequence[Mapping[str, Any]]) -> bool:
    """True if an enabled rule without a prefix or filter aborts incomplete uploads."""
    return any(
        r.enabled and r.whole_bucket and r.abort_days is not None
        for r in lifecycle_rules({"Rules": list(rules)})
    )


def merge_abort_rule(
    rules: Sequence[Mapping[str, Any]], days: int = DEFAULT_ABORT_DAYS
) -> list[dict[str, Any]] | None:
    """``rules`` plus the abort rule, or ``None`` when they already abort everywhere.

    Every existing rule is kept as it is; the new rule gets a free ID.

    Raises:
        ConfigurationError: invalid ``days``, or the configuration already has
            S3's maximum number of rules.
    """
    rule = abort_rule(days)
    if aborts_everywhere(rules):
        return None
    if len(rules) >= MAX_LIFECYCLE_RULES:
        raise ConfigurationError(
            f"the lifecycle configuration already has {len(rules)} rules, S3's maximum",
            hint="add AbortIncompleteMultipartUpload to an existing rule without a filter",
        )
    taken = {str(r.get("ID", "")) for r in rules}
    rule_id, n = ABORT_RULE_ID, 1
    while rule_id in taken:
        n += 1
        rule_id = f"{ABORT_RULE_ID}{n}"
    rule["ID"] = rule_id
    return [dict(r) for r in rules] + [rule]

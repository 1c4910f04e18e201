"""The TLS Deny statements harden merges into a bucket policy, and the policy's JSON forms.

Pure: the verdicts are those of :mod:`securestore.audit.policy`, the analysis behind
``S3.TLS.1`` and ``S3.TLS.2``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from securestore.audit.policy import Policy, minimum_tls, parse_policy, tls_only
from securestore.audit.statements import (
    TLS_SID,
    TLS_VERSION_SID,
    tls_statement,
    tls_version_statement,
)
from securestore.errors import ConfigurationError

__all__ = [
    "POLICY_SIZE_LIMIT",
    "added_sids",
    "compact_json",
    "load_policy",
    "merge_tls_statement",
    "policy_size",
    "pretty_json",
    "tls_enforced",
]

#: S3's limit on the size of a bucket policy, in bytes.
POLICY_SIZE_LIMIT = 20 * 1024

_POLICY_VERSION = "2012-10-17"


def tls_enforced(policy: Policy | None, bucket_arn: str) -> bool:
    """True if the policy already denies every plain-HTTP request, by every principal,
    to every S3 action on the bucket and its objects.

    The verdict is :func:`~securestore.audit.policy.tls_only`'s, the one behind
    ``S3.TLS.1``: an ``s3:TlsVersion`` Deny alone does not count (plain HTTP
    carries no TLS version), nor does a list of actions short of ``s3:*``.
    """
    return tls_only(policy, bucket_arn).denied


def merge_tls_statement(
    document: Mapping[str, Any] | None,
    bucket_arn: str,
    *,
    limit: int | None = POLICY_SIZE_LIMIT,
) -> dict[str, Any] | None:
    """``document`` with the TLS statements it lacks appended, or ``None`` when it has both.

    The TLS-only statement is added unless :func:`tls_enforced`; the minimum-version
    statement unless ``S3.TLS.2``'s analysis finds TLS < 1.2 denied already. Every
    existing statement and top-level element is kept as it is; a single
    ``Statement`` object becomes a one-element list. New Sids are :data:`TLS_SID`
    and :data:`TLS_VERSION_SID`, numbered (``DenyInsecureTransport2``...) if taken.

    Raises:
        ConfigurationError: ``document`` is not a valid policy, or the merged
            policy would exceed ``limit`` bytes (:data:`POLICY_SIZE_LIMIT`;
            ``None``: not checked here).
    """
    if document is not None and not isinstance(document, Mapping):
        raise ConfigurationError("malformed policy: the document is not a JSON object")
    parsed = parse_policy({"Statement": [], **document}) if document else None
    taken = {st.sid.lower() for st in parsed.statements if st.sid} if parsed else set()
    added: list[dict[str, Any]] = []
    if not tls_enforced(parsed, bucket_arn):
        added.append(tls_statement(bucket_arn, _free_sid(taken, TLS_SID)))
    if not minimum_tls(parsed, bucket_arn).denied:
        added.append(tls_version_statement(bucket_arn, _free_sid(taken, TLS_VERSION_SID)))
    if not added:
        return None
    merged: dict[str, Any] = dict(document) if document else {"Version": _POLICY_VERSION}
    existing = merged.get("Statement", [])
    statements = [existing] if isinstance(existing, Mapping) else list(existing)
    merged["Statement"] = [*statements, *added]
    size = policy_size(merged)
    if limit is not None and size > limit:
        raise ConfigurationError(
            f"the merged bucket policy would be {size} bytes, over S3's limit of {limit}",
            hint="shorten the existing policy, then run harden again",
        )
    return merged


def policy_size(document: Mapping[str, Any]) -> int:
    """The size S3 counts for ``document``: its compact JSON, in bytes."""
    return len(compact_json(document).encode("utf-8"))


def _free_sid(taken: set[str], base: str) -> str:
    sid, n = base, 1
    while sid.lower() in taken:
        n += 1
        sid = f"{base}{n}"
    taken.add(sid.lower())
    return sid


def added_sids(previous: Mapping[str, Any] | None, merged: Mapping[str, Any]) -> list[str]:
    """The Sids of the statements ``merged`` appended to ``previous``."""
    before = previous.get("Statement", []) if previous else []
    count = 1 if isinstance(before, Mapping) else len(before)
    return [str(st.get("Sid")) for st in merged["Statement"][count:]]


def compact_json(document: Mapping[str, Any]) -> str:
    """The policy as S3 stores it (and counts its size): JSON without spaces."""
    return json.dumps(document, separators=(",", ":"))


def pretty_json(document: Mapping[str, Any] | None) -> str:
    """The document indented for a diff; empty when there is none."""
    return json.dumps(document, indent=2) + "\n" if document is not None else ""


def load_policy(text: str) -> dict[str, Any]:
    """Parse a stored policy; a malformed one is a :class:`ConfigurationError`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"malformed policy: invalid JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise ConfigurationError("malformed policy: the document is not a JSON object")
    return document

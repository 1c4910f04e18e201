"""AWS answers turned into audit model values (pure: no boto3, no calls).

Each function takes one parsed botocore response (a dict) and returns the value a
snapshot field holds; :func:`map_answer` applies one to a :class:`Collected`
answer and records an answer that does not have the expected shape as a
``UnexpectedResponse`` collection error instead of raising.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from securestore.audit.model import (
    Collected,
    CollectionError,
    EncryptionRule,
    Grant,
    LifecycleRule,
    LoggingConfig,
    ObjectLockConfig,
    PublicAccessBlock,
)

__all__ = [
    "Absent",
    "acl_grants",
    "alias_arns",
    "arn_account",
    "bucket_region",
    "encryption_rules",
    "key_metadata",
    "lifecycle_rules",
    "logging_config",
    "map_answer",
    "object_lock",
    "public_access_block",
    "reference_region",
    "replication_targets",
]

T = TypeVar("T")


class Absent(Exception):  # noqa: N818 - control flow: the resource is not configured
    """An answer that says "not configured": a valid empty value, not an error."""


def key_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """DescribeKey's ``KeyMetadata``; raises ValueError without ``KeyId``/``Arn``."""
    meta = response["KeyMetadata"]
    for name in ("KeyId", "Arn"):
        if not isinstance(meta.get(name), str) or not meta[name]:
            raise ValueError(f"DescribeKey answered without KeyMetadata.{name}")
    return dict(meta)


def alias_arns(response: dict[str, Any]) -> tuple[str, ...]:
    """ListAliases: the alias ARNs, sorted."""
    return tuple(sorted(str(a["AliasArn"]) for a in response.get("Aliases", [])))


def arn_account(arn: str) -> str | None:
    """The account field of an ARN, if any."""
    parts = arn.split(":")
    return parts[4] if arn.startswith("arn:") and len(parts) > 5 and parts[4] else None


def map_answer(
    collected: Collected[Any], convert: Callable[[Any], T], *, absent: Any = None
) -> Collected[T]:
    """``convert`` applied to a collected answer; :class:`Absent` becomes ``absent``.

    An answer of an unexpected shape (whatever ``convert`` raises) becomes an
    ``UnexpectedResponse`` collection error: one odd answer costs one field.
    """
    if not collected.is_ok:
        return Collected.failed(collected.error)  # type: ignore[arg-type]
    value = collected.get()
    if isinstance(value, Absent):
        return Collected.ok(absent)
    try:
        return Collected.ok(convert(value))
    except Exception as exc:
        return Collected.failed(CollectionError("parse", "UnexpectedResponse", repr(exc)))


def bucket_region(constraint: str | None) -> str:
    """GetBucketLocation's ``LocationConstraint`` as a region name."""
    if not constraint:
        return "us-east-1"
    return "eu-west-1" if constraint == "EU" else constraint


def reference_region(reference: str) -> str | None:
    """The region of a KMS key reference that is an ARN, else None."""
    parts = reference.split(":")
    return parts[3] if reference.startswith("arn:") and len(parts) > 4 and parts[3] else None


def encryption_rules(response: dict[str, Any]) -> tuple[EncryptionRule, ...]:
    """GetBucketEncryption: the default encryption rules."""
    rules = []
    for rule in response["ServerSideEncryptionConfiguration"]["Rules"]:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        rules.append(
            EncryptionRule(
                algorithm=default["SSEAlgorithm"],
                kms_key_id=default.get("KMSMasterKeyID") or None,
                bucket_key_enabled=bool(rule.get("BucketKeyEnabled", False)),
                blocked_encryption_types=tuple(
                    str(t)
                    for t in (rule.get("BlockedEncryptionTypes") or {}).get("EncryptionType", [])
                ),
            )
        )
    return tuple(rules)


def _whole_bucket(rule: dict[str, Any]) -> bool:
    """True when neither the legacy ``Prefix`` nor a ``Filter`` narrows ``rule``."""
    if rule.get("Prefix"):
        return False
    selector = rule.get("Filter")
    if not selector:
        return True
    # Any other filter element (Tag, And, ObjectSizeGreaterThan/LessThan) narrows it.
    return set(selector) <= {"Prefix"} and not selector.get("Prefix")


def lifecycle_rules(response: dict[str, Any]) -> tuple[LifecycleRule, ...]:
    """GetBucketLifecycleConfiguration: each rule's id, state, scope and abort action."""
    out = []
    for index, rule in enumerate(response["Rules"]):
        abort = rule.get("AbortIncompleteMultipartUpload")
        days = abort.get("DaysAfterInitiation") if isinstance(abort, dict) else None
        out.append(
            LifecycleRule(
                id=str(rule.get("ID") or f"#{index + 1}"),
                enabled=rule.get("Status") == "Enabled",
                whole_bucket=_whole_bucket(rule),
                abort_days=int(days) if days is not None else None,
                document=json.dumps(rule, sort_keys=True, default=str),
            )
        )
    return tuple(out)


def public_access_block(config: dict[str, Any]) -> PublicAccessBlock:
    """A ``PublicAccessBlockConfiguration``."""
    return PublicAccessBlock(
        block_public_acls=bool(config.get("BlockPublicAcls")),
        ignore_public_acls=bool(config.get("IgnorePublicAcls")),
        block_public_policy=bool(config.get("BlockPublicPolicy")),
        restrict_public_buckets=bool(config.get("RestrictPublicBuckets")),
    )


def acl_grants(response: dict[str, Any]) -> tuple[Grant, ...]:
    """GetBucketAcl: the grants."""
    out = []
    for grant in response.get("Grants", []):
        grantee = grant.get("Grantee", {})
        kind = grantee.get("Type", "")
        who = grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress") or ""
        out.append(Grant(kind, who, grant.get("Permission", "")))
    return tuple(out)


def logging_config(response: dict[str, Any]) -> LoggingConfig | None:
    """GetBucketLogging: the target, or None when logging is off."""
    enabled = response.get("LoggingEnabled")
    if not enabled:
        return None
    return LoggingConfig(enabled["TargetBucket"], enabled.get("TargetPrefix", ""))


def object_lock(response: dict[str, Any]) -> ObjectLockConfig | None:
    """GetObjectLockConfiguration: the lock state and default retention."""
    config = response.get("ObjectLockConfiguration", {})
    if config.get("ObjectLockEnabled") != "Enabled":
        return ObjectLockConfig(False)
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    return ObjectLockConfig(
        True, retention.get("Mode"), retention.get("Days"), retention.get("Years")
    )


def replication_targets(response: dict[str, Any]) -> tuple[str, ...] | None:
    """GetBucketReplication: the destinations of enabled rules, or None."""
    rules = response.get("ReplicationConfiguration", {}).get("Rules", [])
    targets = sorted(
        {
            r["Destination"]["Bucket"]
            for r in rules
            if r.get("Status") == "Enabled" and "Destination" in r
        }
    )
    return tuple(targets) or None

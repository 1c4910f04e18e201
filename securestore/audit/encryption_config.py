"""S3's ``ServerSideEncryptionConfiguration`` documents and audit rules (pure).

harden writes default encryption as these documents; every rule it writes
blocks SSE-C (``BlockedEncryptionTypes``, ``S3.ENC.6``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from securestore.audit.model import EncryptionRule

__all__ = ["rules_document", "rules_from_document", "with_sse_c_blocked"]


def rules_document(rules: tuple[EncryptionRule, ...]) -> dict[str, Any] | None:
    """The configuration document of ``rules``; ``None`` for no rules."""
    if not rules:
        return None
    out = []
    for rule in rules:
        default: dict[str, Any] = {"SSEAlgorithm": rule.algorithm}
        if rule.kms_key_id:
            default["KMSMasterKeyID"] = rule.kms_key_id
        entry: dict[str, Any] = {
            "ApplyServerSideEncryptionByDefault": default,
            "BucketKeyEnabled": rule.bucket_key_enabled,
        }
        if rule.blocked_encryption_types:
            entry["BlockedEncryptionTypes"] = {
                "EncryptionType": list(rule.blocked_encryption_types)
            }
        out.append(entry)
    return {"Rules": out}


def with_sse_c_blocked(rule: EncryptionRule) -> EncryptionRule:
    """``rule`` with SSE-C added to its blocked types (``NONE`` means none blocked)."""
    if rule.blocks_sse_c:
        return rule
    kept = tuple(t for t in rule.blocked_encryption_types if t != "NONE")
    return replace(rule, blocked_encryption_types=(*kept, "SSE-C"))


def rules_from_document(configuration: Mapping[str, Any]) -> tuple[EncryptionRule, ...]:
    """The rules of a configuration document (the inverse of :func:`rules_document`)."""
    out = []
    for rule in configuration["Rules"]:
        default = rule["ApplyServerSideEncryptionByDefault"]
        out.append(
            EncryptionRule(
                default["SSEAlgorithm"],
                default.get("KMSMasterKeyID"),
                bool(rule.get("BucketKeyEnabled")),
                tuple(rule.get("BlockedEncryptionTypes", {}).get("EncryptionType", ())),
            )
        )
    return tuple(out)

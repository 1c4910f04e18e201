"""Planning a bucket's hardening: a :class:`~securestore.audit.model.BucketSnapshot` in,
a :class:`~securestore.audit.harden_changes.HardenPlan` out (pure: no AWS calls).

What is planned, and the rules that keep it safe, are described in
:mod:`securestore.audit.harden`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from securestore.audit.encryption_config import (
    rules_document,
    rules_from_document,
    with_sse_c_blocked,
)
from securestore.audit.harden_changes import (
    Change,
    ChangeKind,
    EncryptionChange,
    HardenPlan,
    KeyRotationChange,
    LifecycleChange,
    PolicyChange,
    PublicAccessBlockChange,
    Sse,
)
from securestore.audit.harden_tls import (
    POLICY_SIZE_LIMIT,
    added_sids,
    load_policy,
    merge_tls_statement,
    policy_size,
    pretty_json,
)
from securestore.audit.lifecycle import DEFAULT_ABORT_DAYS, abort_rule, merge_abort_rule
from securestore.audit.model import (
    KMS_ALGORITHMS,
    BucketSnapshot,
    Collected,
    EncryptionRule,
    KeySnapshot,
    PublicAccessBlock,
)
from securestore.audit.policy import parse_policy, public_statements, tls_locks
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    KeyUnavailableError,
    StorageError,
)

__all__ = ["check_arguments", "plan", "required"]


def plan(
    snapshot: BucketSnapshot,
    *,
    sse: Sse,
    kms_key_id: str | None = None,
    key: KeySnapshot | None = None,
    abort_multipart_days: int = DEFAULT_ABORT_DAYS,
) -> HardenPlan:
    """Plan the changes that harden ``snapshot``'s bucket (pure: no AWS calls).

    Args:
        snapshot: the bucket as collected; ``region``, ``encryption``, ``policy``
            and ``public_access_block`` must have been collected.
        sse: ``"s3"`` for SSE-S3 or ``"kms"`` for SSE-KMS with a bucket key.
        kms_key_id: the customer managed key for ``sse="kms"`` (id, ARN or alias).
        key: that key's metadata; when omitted it is looked up in
            ``snapshot.keys``, and rotation is planned if the key is unknown.
        abort_multipart_days: days after which the added lifecycle rule aborts
            incomplete multipart uploads (``S3.DATA.6``).

    Raises:
        ConfigurationError: invalid arguments, a malformed existing policy, or a
            key that is not a customer managed symmetric key.
        KeyUnavailableError: the key is disabled or pending deletion.
        AccessDeniedError, StorageError: a field the plan needs was not collected.
    """
    check_arguments(sse, kms_key_id)
    abort_rule(abort_multipart_days)  # validate before anything is planned
    region = required(snapshot.region, snapshot.name) or "us-east-1"
    if kms_key_id and key is None:
        key = _known_key(snapshot, kms_key_id)
    if key is not None:
        _usable(key)
        if sse == "kms" and key.region is not None and key.region != region:
            raise ConfigurationError(
                f"KMS key {key.arn} is in {key.region}, the bucket in {region}: SSE-KMS "
                "needs a key in the bucket's region",
                hint=f"pass a customer managed key of {region}",
            )
    notes: list[str] = []
    not_possible: list[str] = []
    changes: list[Change] = []
    encryption = _encryption_change(snapshot, sse, kms_key_id, key, notes)
    encryption = _block_sse_c(snapshot, encryption)
    if encryption is not None:
        changes.append(encryption)
    if sse == "kms" and (encryption is not None or _uses_key(snapshot, kms_key_id, key)):
        rotation = _rotation_change(kms_key_id, key, region)
        if rotation is not None:
            changes.append(rotation)
    policy_change = _policy_change(snapshot, notes, not_possible)
    if policy_change is not None:
        changes.append(policy_change)
    block = _public_access_block_change(snapshot)
    if block is not None:
        changes.append(block)
    lifecycle = _lifecycle_change(snapshot, abort_multipart_days)
    if lifecycle is not None:
        changes.append(lifecycle)
    return HardenPlan(
        bucket=snapshot.name,
        region=region,
        sse=sse,
        kms_key_id=kms_key_id,
        changes=tuple(changes),
        notes=tuple(notes),
        not_possible=tuple(not_possible),
    )


def check_arguments(sse: str, kms_key_id: str | None) -> None:
    """Refuse an unknown ``sse``, SSE-KMS without a key, or a key given for SSE-S3."""
    if sse not in ("s3", "kms"):
        raise ConfigurationError(f"unknown server-side encryption {sse!r}", hint="use s3 or kms")
    if sse == "kms" and not kms_key_id:
        raise ConfigurationError(
            "SSE-KMS needs a key", hint="pass --kms-key-id with a customer managed key"
        )
    if sse == "s3" and kms_key_id:
        raise ConfigurationError(
            "a KMS key was given for SSE-S3", hint="use --sse kms with --kms-key-id"
        )


def required(collected: Collected[Any], bucket: str) -> Any:
    """The collected value, or the library error that explains why it is missing."""
    error = collected.error
    if error is None:
        return collected.value
    message = f"cannot plan: {error}"
    if error.code in ("AccessDenied", "403", "Forbidden"):
        raise AccessDeniedError(
            message, bucket=bucket, code=error.code, hint="harden needs read access to the bucket"
        )
    raise StorageError(message, bucket=bucket, code=error.code)


def _known_key(snapshot: BucketSnapshot, reference: str) -> KeySnapshot | None:
    direct = snapshot.keys.get(reference)
    if direct is not None and direct.is_ok:
        return direct.value
    for collected in snapshot.keys.values():
        if collected.is_ok and collected.value is not None and collected.value.matches(reference):
            return collected.value
    return None


def _usable(key: KeySnapshot) -> None:
    if not key.customer_managed:
        raise ConfigurationError(
            f"KMS key {key.arn} is AWS managed",
            hint="harden configures a customer managed key (S3.ENC.3); create one with "
            "'aws kms create-key'",
        )
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise ConfigurationError(
            f"KMS key {key.arn} is {key.key_spec}; S3 needs a symmetric key",
            hint="pass a SYMMETRIC_DEFAULT customer managed key",
        )
    if key.state != "Enabled" or key.deletion_date is not None:
        raise KeyUnavailableError(
            f"KMS key {key.arn} is {key.state}: data written under it could not be read",
            hint="enable the key (or cancel its deletion), or pass another key",
        )


def _same_key(
    snapshot: BucketSnapshot, rule: EncryptionRule, reference: str, key: KeySnapshot | None
) -> bool:
    configured = rule.kms_key_id
    if configured is None:
        return False
    if configured == reference or (key is not None and key.matches(configured)):
        return True
    known = snapshot.keys.get(configured)
    return (
        key is not None
        and known is not None
        and known.is_ok
        and known.value is not None
        and known.value.key_id == key.key_id
    )


def _uses_key(snapshot: BucketSnapshot, reference: str | None, key: KeySnapshot | None) -> bool:
    if reference is None or not snapshot.encryption.is_ok:
        return False
    return any(
        rule.algorithm in KMS_ALGORITHMS and _same_key(snapshot, rule, reference, key)
        for rule in snapshot.encryption.value or ()
    )


def _block_sse_c(
    snapshot: BucketSnapshot, change: EncryptionChange | None
) -> EncryptionChange | None:
    """The encryption change with SSE-C blocked in every rule it writes; when no
    change is planned, one that only adds the block to the rules the bucket keeps."""
    if change is not None:
        rules = rules_from_document(change.configuration)
        blocked = tuple(with_sse_c_blocked(r) for r in rules)
        configuration = rules_document(blocked)
        assert configuration is not None
        return replace(
            change,
            summary=change.summary + ", blocking SSE-C",
            after=pretty_json(configuration),
            configuration=configuration,
        )
    current: tuple[EncryptionRule, ...] = required(snapshot.encryption, snapshot.name) or ()
    if not current or all(r.blocks_sse_c for r in current):
        return None  # no rules: the encryption change itself carries the block
    configuration = rules_document(tuple(with_sse_c_blocked(r) for r in current))
    assert configuration is not None
    return EncryptionChange(
        kind=ChangeKind.ENCRYPTION,
        target=f"s3://{snapshot.name}",
        summary="block SSE-C (customer-provided keys) in the default encryption, keeping its rules",
        before=pretty_json(rules_document(current)),
        after=pretty_json(configuration),
        configuration=configuration,
    )


def _encryption_change(
    snapshot: BucketSnapshot,
    sse: Sse,
    reference: str | None,
    key: KeySnapshot | None,
    notes: list[str],
) -> EncryptionChange | None:
    rules: tuple[EncryptionRule, ...] = required(snapshot.encryption, snapshot.name) or ()
    target = f"s3://{snapshot.name}"
    if any(r.algorithm == "aws:kms:dsse" for r in rules):
        notes.append("default encryption is DSSE-KMS, which is kept: harden never weakens it")
        return None
    if sse == "s3":
        if rules:
            if any(r.algorithm in KMS_ALGORITHMS for r in rules):
                notes.append(
                    "default encryption is already SSE-KMS and is kept: harden never weakens it"
                )
            return None
        wanted = EncryptionRule("AES256")
        summary = "set default encryption to SSE-S3"
    else:
        assert reference is not None
        if (
            len(rules) == 1
            and rules[0].algorithm == "aws:kms"
            and rules[0].bucket_key_enabled
            and _same_key(snapshot, rules[0], reference, key)
        ):
            return None
        key_ref = key.arn if key is not None else reference
        wanted = EncryptionRule("aws:kms", key_ref, bucket_key_enabled=True)
        summary = f"set default encryption to SSE-KMS with key {key_ref} and the S3 Bucket Key"
    configuration = rules_document((wanted,))
    assert configuration is not None
    return EncryptionChange(
        kind=ChangeKind.ENCRYPTION,
        target=target,
        summary=summary,
        before=pretty_json(rules_document(rules)),
        after=pretty_json(configuration),
        configuration=configuration,
    )


def _rotation_change(
    reference: str | None, key: KeySnapshot | None, bucket_region: str
) -> KeyRotationChange | None:
    if reference is None:
        return None
    if key is not None and key.rotation_enabled.is_ok and key.rotation_enabled.value:
        return None
    if key is None:
        before = "KeyRotationEnabled: unknown\n"
    elif key.rotation_enabled.is_ok:
        before = "KeyRotationEnabled: false\n"
    else:
        before = f"KeyRotationEnabled: unknown ({key.rotation_enabled.error})\n"
    arn = key.arn if key is not None else reference
    parts = arn.split(":")
    region = parts[3] if arn.startswith("arn:") and len(parts) > 4 and parts[3] else bucket_region
    return KeyRotationChange(
        kind=ChangeKind.KEY_ROTATION,
        target=arn,
        summary=f"enable automatic rotation of KMS key {arn}",
        before=before,
        after="KeyRotationEnabled: true\n",
        key_id=key.key_id if key is not None else reference,
        region=region,
    )


def _policy_change(
    snapshot: BucketSnapshot, notes: list[str], not_possible: list[str]
) -> PolicyChange | None:
    text: str | None = required(snapshot.policy, snapshot.name)
    document = load_policy(text) if text else None
    merged = merge_tls_statement(document, snapshot.arn, limit=None)
    if merged is not None and policy_size(merged) > POLICY_SIZE_LIMIT:
        # Not a reason to drop the encryption and public access fixes: plan them,
        # and report this step as not possible.
        not_possible.append(
            f"the TLS statements would make the bucket policy {policy_size(merged)} bytes, "
            f"over S3's limit of {POLICY_SIZE_LIMIT}: shorten the policy, then run harden "
            "again (S3.TLS.1, S3.TLS.2)"
        )
        merged = None
    if document:
        for st, _ in tls_locks(parse_policy(document)):
            notes.append(
                f"bucket policy statement {st.label} denies requests over TLS too; harden "
                "keeps it (it never rewrites statements): fix its condition (S3.TLS.3)"
            )
        for st, _ in public_statements(parse_policy(document)):
            notes.append(
                f"bucket policy statement {st.label} allows public access; harden keeps it "
                "(it never removes statements) and RestrictPublicBuckets limits it to AWS "
                "services and the bucket owner's account: review it (S3.PUBLIC.5)"
            )
    if merged is None:
        return None
    sids = added_sids(document, merged)
    statement = merged["Statement"][-len(sids)]
    return PolicyChange(
        kind=ChangeKind.POLICY,
        target=f"s3://{snapshot.name}",
        summary=f"add TLS Deny statement{'s' if len(sids) > 1 else ''} {', '.join(sids)} "
        "to the bucket policy",
        before=pretty_json(document),
        after=pretty_json(merged),
        bucket_arn=snapshot.arn,
        statement=statement,
        previous=document,
        document=merged,
    )


def _block_document(block: PublicAccessBlock) -> dict[str, bool]:
    return {
        "BlockPublicAcls": block.block_public_acls,
        "IgnorePublicAcls": block.ignore_public_acls,
        "BlockPublicPolicy": block.block_public_policy,
        "RestrictPublicBuckets": block.restrict_public_buckets,
    }


def _public_access_block_change(snapshot: BucketSnapshot) -> PublicAccessBlockChange | None:
    current: PublicAccessBlock | None = required(snapshot.public_access_block, snapshot.name)
    if current is not None and not current.missing():
        return None
    wanted = _block_document(PublicAccessBlock.all_on())
    missing = current.missing() if current is not None else tuple(wanted)
    return PublicAccessBlockChange(
        kind=ChangeKind.PUBLIC_ACCESS_BLOCK,
        target=f"s3://{snapshot.name}",
        summary="turn on bucket public access block " + ", ".join(missing),
        before=pretty_json(_block_document(current) if current is not None else None),
        after=pretty_json(wanted),
        configuration=wanted,
    )


def _lifecycle_change(snapshot: BucketSnapshot, days: int) -> LifecycleChange | None:
    rules = required(snapshot.lifecycle, snapshot.name) or ()
    documents = [json.loads(r.document) for r in rules if r.document]
    merged = merge_abort_rule(documents, days)
    if merged is None:
        return None
    before = {"Rules": documents} if documents else None
    return LifecycleChange(
        kind=ChangeKind.LIFECYCLE,
        target=f"s3://{snapshot.name}",
        summary=f"add lifecycle rule {merged[-1]['ID']} aborting incomplete multipart uploads "
        f"after {days} days (existing rules kept)",
        before=pretty_json(before),
        after=pretty_json({"Rules": merged}),
        days=days,
    )

"""Fixing what the audit finds: plan a bucket's hardening, then apply it.

Planning is pure: :func:`plan` turns a :class:`~securestore.audit.model.BucketSnapshot`
into a :class:`HardenPlan`, a list of changes that each carry a human-readable
unified diff. :func:`apply` makes the boto3 calls; :func:`plan_bucket` reads the
bucket (through :class:`~securestore.audit.collect.Collector`) and plans.

What a plan can contain, in the order it is applied:

1. default encryption: SSE-S3, or SSE-KMS under the given customer managed key
   with the S3 Bucket Key enabled (``S3.ENC.1``-``S3.ENC.4``), with SSE-C
   blocked (``S3.ENC.6``; merged into the rules a bucket keeps);
2. automatic rotation of that key (``KMS.1``);
3. TLS Deny statements merged into the bucket policy: one refusing plain HTTP
   (``S3.TLS.1``), one refusing TLS older than 1.2 (``S3.TLS.2``);
4. all four bucket-level public access block settings (``S3.PUBLIC.1``);
5. a lifecycle rule aborting incomplete multipart uploads (``S3.DATA.6``), merged
   into the existing rules (:mod:`securestore.audit.lifecycle`).

The policy is written before the public access block because S3 refuses a
``PutBucketPolicy`` whose document is public once ``BlockPublicPolicy`` is on,
and harden keeps every existing statement, public or not.

Rules that keep harden safe to run repeatedly and on shared buckets:

* it never removes or rewrites a policy statement: the TLS statements are
  appended, each only when the existing statements do not already do its job by
  the analysis the audit uses (:func:`merge_tls_statement`);
* it never weakens encryption: a bucket already under SSE-KMS or DSSE-KMS keeps
  it when ``sse="s3"`` is asked, and DSSE-KMS is kept when ``sse="kms"`` is asked;
* :func:`apply` re-reads the bucket policy right before writing it and merges into
  what it finds, so a statement added since planning is kept. S3 has no
  conditional ``PutBucketPolicy``, so a change landing between that read and the
  write can still be lost; the window is one round trip;
* a second plan on a hardened bucket is empty.

The account-level public access block (``S3.PUBLIC.2``) is out of scope: it changes
every bucket of the account, which a per-bucket command should not do silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions

from securestore.audit.collect import ClientFactory, Collector
from securestore.audit.harden_changes import (
    AppliedChange,
    ApplyOutcome,
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
from securestore.audit.harden_plan import check_arguments, plan, required
from securestore.audit.harden_tls import (
    POLICY_SIZE_LIMIT,
    added_sids,
    compact_json,
    load_policy,
    merge_tls_statement,
    tls_enforced,
)
from securestore.audit.lifecycle import DEFAULT_ABORT_DAYS, merge_abort_rule
from securestore.audit.model import KeySnapshot
from securestore.audit.statements import (
    TLS_SID,
    TLS_VERSION_SID,
    tls_statement,
    tls_version_statement,
)
from securestore.errors import ConfigurationError, KeyUnavailableError, NotFoundError
from securestore.transport import translate_error

__all__ = [
    "POLICY_SIZE_LIMIT",
    "TLS_SID",
    "TLS_VERSION_SID",
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
    "apply",
    "merge_tls_statement",
    "plan",
    "plan_bucket",
    "tls_enforced",
    "tls_statement",
    "tls_version_statement",
]


#: ``on_applied(done)`` after each change :func:`apply` carries out.
AppliedCallback = Callable[[AppliedChange], None]


def plan_bucket(
    clients: ClientFactory,
    bucket: str,
    *,
    sse: Sse,
    kms_key_id: str | None = None,
    region: str | None = None,
    abort_multipart_days: int = DEFAULT_ABORT_DAYS,
) -> HardenPlan:
    """Read ``bucket`` (and the KMS key) through ``clients`` and :func:`plan` its hardening.

    Raises:
        NotFoundError: the bucket does not exist.
        KeyUnavailableError: the KMS key cannot be described (missing, no access).
        ConfigurationError, AccessDeniedError, StorageError: see :func:`plan`.
    """
    check_arguments(sse, kms_key_id)
    collector = Collector(clients, max_workers=1, region=region)
    collection = collector.collect([bucket], account_level=False)
    if not collection.snapshots:
        raise NotFoundError(
            "bucket does not exist", bucket=bucket, hint="check the name, or create it first"
        )
    snapshot = collection.snapshots[0]
    key: KeySnapshot | None = None
    if sse == "kms" and kms_key_id:
        bucket_region = required(snapshot.region, bucket) or "us-east-1"
        described = collector.key(kms_key_id, bucket_region)
        if described.error is not None:
            raise KeyUnavailableError(
                f"KMS key {kms_key_id} cannot be used: {described.error}",
                bucket=bucket,
                hint="check the key id and that the credentials may describe it",
            )
        key = described.value
        if key is not None and not key.exists:
            raise KeyUnavailableError(
                f"KMS key {kms_key_id} cannot be used: it does not exist",
                bucket=bucket,
                hint="check the key id, alias and region",
            )
    return plan(
        snapshot,
        sse=sse,
        kms_key_id=kms_key_id,
        key=key,
        abort_multipart_days=abort_multipart_days,
    )


def apply(
    plan: HardenPlan,
    clients: ClientFactory,
    *,
    on_applied: AppliedCallback | None = None,
) -> tuple[AppliedChange, ...]:
    """Carry out ``plan``'s changes in order; each call is idempotent.

    The bucket policy is re-read right before it is written, and the TLS
    statement merged into what is found then (see the module docstring).
    ``on_applied`` is called after each change, so a caller can report progress
    before a later change fails.

    Raises:
        SecureStoreError: a call failed (translated from botocore); the changes
            before it remain applied.
    """
    done: list[AppliedChange] = []
    s3 = clients.client("s3", region_name=plan.region)
    for change in plan.changes:
        if isinstance(change, EncryptionChange):
            _call(
                plan,
                s3.put_bucket_encryption,
                "PutBucketEncryption",
                Bucket=plan.bucket,
                ServerSideEncryptionConfiguration=change.configuration,
            )
            result = AppliedChange(change, ApplyOutcome.APPLIED, change.summary)
        elif isinstance(change, KeyRotationChange):
            kms = clients.client("kms", region_name=change.region)
            _call(plan, kms.enable_key_rotation, "EnableKeyRotation", KeyId=change.key_id)
            result = AppliedChange(change, ApplyOutcome.APPLIED, change.summary)
        elif isinstance(change, PolicyChange):
            result = _apply_policy(plan, change, s3)
        elif isinstance(change, LifecycleChange):
            result = _apply_lifecycle(plan, change, s3)
        elif isinstance(change, PublicAccessBlockChange):
            _call(
                plan,
                s3.put_public_access_block,
                "PutPublicAccessBlock",
                Bucket=plan.bucket,
                PublicAccessBlockConfiguration=change.configuration,
            )
            result = AppliedChange(change, ApplyOutcome.APPLIED, change.summary)
        else:
            raise ConfigurationError(f"unknown change kind {change.kind}")
        done.append(result)
        if on_applied is not None:
            on_applied(result)
    return tuple(done)


def _apply_policy(plan: HardenPlan, change: PolicyChange, s3: Any) -> AppliedChange:
    current_text = _read_policy(plan, s3)
    current = load_policy(current_text) if current_text else None
    merged = merge_tls_statement(current, change.bucket_arn)
    if merged is None:
        return AppliedChange(
            change,
            ApplyOutcome.ALREADY_DONE,
            "the bucket policy changed since planning and already denies plain HTTP and "
            "TLS older than 1.2: nothing written",
        )
    _call(
        plan,
        s3.put_bucket_policy,
        "PutBucketPolicy",
        Bucket=plan.bucket,
        Policy=compact_json(merged),
    )
    if current == (dict(change.previous) if change.previous is not None else None):
        return AppliedChange(change, ApplyOutcome.APPLIED, change.summary)
    sids = ", ".join(added_sids(current, merged))
    return AppliedChange(
        change,
        ApplyOutcome.MERGED,
        f"the bucket policy changed since planning; added TLS Deny statement(s) {sids} to "
        "the current policy, keeping every statement",
    )


def _apply_lifecycle(plan: HardenPlan, change: LifecycleChange, s3: Any) -> AppliedChange:
    try:
        current = s3.get_bucket_lifecycle_configuration(Bucket=plan.bucket)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise translate_error(
                exc, bucket=plan.bucket, action="GetBucketLifecycleConfiguration"
            ) from exc
        current = {}
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(
            exc, bucket=plan.bucket, action="GetBucketLifecycleConfiguration"
        ) from exc
    merged = merge_abort_rule(current.get("Rules", []), change.days)
    if merged is None:
        return AppliedChange(
            change,
            ApplyOutcome.ALREADY_DONE,
            "the lifecycle configuration changed since planning and already aborts "
            "incomplete multipart uploads: nothing written",
        )
    extra = {}
    if current.get("TransitionDefaultMinimumObjectSize"):
        extra["TransitionDefaultMinimumObjectSize"] = current["TransitionDefaultMinimumObjectSize"]
    _call(
        plan,
        s3.put_bucket_lifecycle_configuration,
        "PutBucketLifecycleConfiguration",
        Bucket=plan.bucket,
        LifecycleConfiguration={"Rules": merged},
        **extra,
    )
    return AppliedChange(change, ApplyOutcome.APPLIED, change.summary)


def _read_policy(plan: HardenPlan, s3: Any) -> str | None:
    try:
        text: str = s3.get_bucket_policy(Bucket=plan.bucket)["Policy"]
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return None
        raise translate_error(exc, bucket=plan.bucket, action="GetBucketPolicy") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=plan.bucket, action="GetBucketPolicy") from exc
    return text


def _call(plan: HardenPlan, method: Callable[..., Any], operation: str, **kwargs: Any) -> None:
    try:
        method(**kwargs)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, bucket=plan.bucket, action=operation) from exc

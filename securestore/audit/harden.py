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

import difflib
import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import botocore.exceptions

from securestore.audit.collect import ClientFactory, Collector
from securestore.audit.encryption_config import (
    rules_document,
    rules_from_document,
    with_sse_c_blocked,
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
from securestore.audit.policy import (
    Policy,
    minimum_tls,
    parse_policy,
    public_statements,
    tls_locks,
    tls_only,
)
from securestore.audit.statements import (
    TLS_SID,
    TLS_VERSION_SID,
    tls_statement,
    tls_version_statement,
)
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    KeyUnavailableError,
    NotFoundError,
    StorageError,
)
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

#: The server-side encryption harden configures: SSE-S3 or SSE-KMS.
Sse = Literal["s3", "kms"]

#: S3's limit on the size of a bucket policy, in bytes.
POLICY_SIZE_LIMIT = 20 * 1024

_POLICY_VERSION = "2012-10-17"


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

    ``document`` is the merged policy as planned; :func:`apply` re-reads the
    policy and merges into the current one instead when it changed meanwhile.
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

    :func:`apply` re-reads the lifecycle configuration and merges into what it
    finds (S3 replaces the whole configuration on every write).
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
    """What :func:`apply` did with one change."""

    APPLIED = "applied"
    """Written as planned."""
    MERGED = "merged"
    """The policy changed after planning; the statement was merged into the new one."""
    ALREADY_DONE = "already-done"
    """The policy changed after planning and already enforces TLS: nothing written."""


@dataclass(frozen=True)
class AppliedChange:
    """One change as :func:`apply` carried it out."""

    change: Change
    outcome: ApplyOutcome
    message: str


# --- the TLS statement -----------------------------------------------------------------------


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
    return len(_compact(document).encode("utf-8"))


def _free_sid(taken: set[str], base: str) -> str:
    sid, n = base, 1
    while sid.lower() in taken:
        n += 1
        sid = f"{base}{n}"
    taken.add(sid.lower())
    return sid


def _added_sids(previous: Mapping[str, Any] | None, merged: Mapping[str, Any]) -> list[str]:
    before = previous.get("Statement", []) if previous else []
    count = 1 if isinstance(before, Mapping) else len(before)
    return [str(st.get("Sid")) for st in merged["Statement"][count:]]


def _compact(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _pretty(document: Mapping[str, Any] | None) -> str:
    return json.dumps(document, indent=2) + "\n" if document is not None else ""


# --- planning --------------------------------------------------------------------------------


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
    _check_arguments(sse, kms_key_id)
    abort_rule(abort_multipart_days)  # validate before anything is planned
    region = _need(snapshot.region, snapshot.name) or "us-east-1"
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


def _check_arguments(sse: str, kms_key_id: str | None) -> None:
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


def _need(collected: Collected[Any], bucket: str) -> Any:
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
            after=_pretty(configuration),
            configuration=configuration,
        )
    current: tuple[EncryptionRule, ...] = _need(snapshot.encryption, snapshot.name) or ()
    if not current or all(r.blocks_sse_c for r in current):
        return None  # no rules: the encryption change itself carries the block
    configuration = rules_document(tuple(with_sse_c_blocked(r) for r in current))
    assert configuration is not None
    return EncryptionChange(
        kind=ChangeKind.ENCRYPTION,
        target=f"s3://{snapshot.name}",
        summary="block SSE-C (customer-provided keys) in the default encryption, keeping its rules",
        before=_pretty(rules_document(current)),
        after=_pretty(configuration),
        configuration=configuration,
    )


def _encryption_change(
    snapshot: BucketSnapshot,
    sse: Sse,
    reference: str | None,
    key: KeySnapshot | None,
    notes: list[str],
) -> EncryptionChange | None:
    rules: tuple[EncryptionRule, ...] = _need(snapshot.encryption, snapshot.name) or ()
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
        before=_pretty(rules_document(rules)),
        after=_pretty(configuration),
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
    text: str | None = _need(snapshot.policy, snapshot.name)
    document = _load(text) if text else None
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
    sids = _added_sids(document, merged)
    statement = merged["Statement"][-len(sids)]
    return PolicyChange(
        kind=ChangeKind.POLICY,
        target=f"s3://{snapshot.name}",
        summary=f"add TLS Deny statement{'s' if len(sids) > 1 else ''} {', '.join(sids)} "
        "to the bucket policy",
        before=_pretty(document),
        after=_pretty(merged),
        bucket_arn=snapshot.arn,
        statement=statement,
        previous=document,
        document=merged,
    )


def _load(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"malformed policy: invalid JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise ConfigurationError("malformed policy: the document is not a JSON object")
    return document


def _block_document(block: PublicAccessBlock) -> dict[str, bool]:
    return {
        "BlockPublicAcls": block.block_public_acls,
        "IgnorePublicAcls": block.ignore_public_acls,
        "BlockPublicPolicy": block.block_public_policy,
        "RestrictPublicBuckets": block.restrict_public_buckets,
    }


def _public_access_block_change(snapshot: BucketSnapshot) -> PublicAccessBlockChange | None:
    current: PublicAccessBlock | None = _need(snapshot.public_access_block, snapshot.name)
    if current is not None and not current.missing():
        return None
    wanted = _block_document(PublicAccessBlock.all_on())
    missing = current.missing() if current is not None else tuple(wanted)
    return PublicAccessBlockChange(
        kind=ChangeKind.PUBLIC_ACCESS_BLOCK,
        target=f"s3://{snapshot.name}",
        summary="turn on bucket public access block " + ", ".join(missing),
        before=_pretty(_block_document(current) if current is not None else None),
        after=_pretty(wanted),
        configuration=wanted,
    )


def _lifecycle_change(snapshot: BucketSnapshot, days: int) -> LifecycleChange | None:
    rules = _need(snapshot.lifecycle, snapshot.name) or ()
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
        before=_pretty(before),
        after=_pretty({"Rules": merged}),
        days=days,
    )


# --- I/O -------------------------------------------------------------------------------------

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
    _check_arguments(sse, kms_key_id)
    collector = Collector(clients, max_workers=1, region=region)
    collection = collector.collect([bucket], account_level=False)
    if not collection.snapshots:
        raise NotFoundError(
            "bucket does not exist", bucket=bucket, hint="check the name, or create it first"
        )
    snapshot = collection.snapshots[0]
    key: KeySnapshot | None = None
    if sse == "kms" and kms_key_id:
        bucket_region = _need(snapshot.region, bucket) or "us-east-1"
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
    current = _load(current_text) if current_text else None
    merged = merge_tls_statement(current, change.bucket_arn)
    if merged is None:
        return AppliedChange(
            change,
            ApplyOutcome.ALREADY_DONE,
            "the bucket policy changed since planning and already denies plain HTTP and "
            "TLS older than 1.2: nothing written",
        )
    _call(
        plan, s3.put_bucket_policy, "PutBucketPolicy", Bucket=plan.bucket, Policy=_compact(merged)
    )
    if current == (dict(change.previous) if change.previous is not None else None):
        return AppliedChange(change, ApplyOutcome.APPLIED, change.summary)
    sids = ", ".join(_added_sids(current, merged))
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

"""Bucket snapshots: what collection knows about one bucket and the KMS keys it uses.

Plain, immutable data so that checks are pure functions and tests build
snapshots by hand (see :mod:`securestore.audit.collected` for how a failed field
is recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from securestore.audit.collected import Collected, CollectionError, Unavailable
from securestore.audit.iam import Policy, parse_policy, partition_for_region
from securestore.audit.samples import ObjectCoverage, ObjectSample

if TYPE_CHECKING:
    from securestore.audit.monitoring import AccountMonitoring

__all__ = [
    "CROSS_ACCOUNT",
    "DEFAULT_S3_KEY_ALIAS",
    "KEY_NOT_FOUND",
    "KMS_ALGORITHMS",
    "AccountPublicAccess",
    "BucketSnapshot",
    "EncryptionRule",
    "Grant",
    "KeySnapshot",
    "LifecycleRule",
    "LoggingConfig",
    "ObjectLockConfig",
    "PublicAccessBlock",
    "Versioning",
]

#: S3's algorithm values that use KMS.
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})

#: The AWS managed key S3 uses when a KMS rule names no key.
DEFAULT_S3_KEY_ALIAS = "alias/aws/s3"

#: ``KeySnapshot.state`` of a configured key KMS does not know.
KEY_NOT_FOUND = "NotFound"

#: ``CollectionError.code`` of a key policy that cannot be read by design:
#: KMS serves GetKeyPolicy only to the key's own account.
CROSS_ACCOUNT = "CrossAccount"


@dataclass(frozen=True)
class EncryptionRule:
    """One default-encryption rule of a bucket.

    ``algorithm`` is S3's value: ``AES256``, ``aws:kms`` or ``aws:kms:dsse``.
    """

    algorithm: str
    kms_key_id: str | None = None
    bucket_key_enabled: bool = False
    #: S3's ``BlockedEncryptionTypes`` of the rule (``("SSE-C",)`` refuses
    #: uploads with customer-provided keys).
    blocked_encryption_types: tuple[str, ...] = ()

    @property
    def blocks_sse_c(self) -> bool:
        """True when the rule refuses SSE-C (customer-provided key) requests."""
        return "SSE-C" in self.blocked_encryption_types


@dataclass(frozen=True)
class PublicAccessBlock:
    """The four public access block flags (bucket or account level)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @classmethod
    def all_on(cls) -> PublicAccessBlock:
        """All four flags set."""
        return cls(True, True, True, True)

    def missing(self) -> tuple[str, ...]:
        """The names (S3 spelling) of the flags that are off."""
        flags = {
            "BlockPublicAcls": self.block_public_acls,
            "IgnorePublicAcls": self.ignore_public_acls,
            "BlockPublicPolicy": self.block_public_policy,
            "RestrictPublicBuckets": self.restrict_public_buckets,
        }
        return tuple(name for name, on in flags.items() if not on)


AccountPublicAccess = PublicAccessBlock


@dataclass(frozen=True)
class Grant:
    """One ACL grant: ``grantee_type`` is ``CanonicalUser``, ``Group`` or
    ``AmazonCustomerByEmail``; ``grantee`` the id, URI or e-mail address."""

    grantee_type: str
    grantee: str
    permission: str


@dataclass(frozen=True)
class Versioning:
    """Versioning state: ``status`` is ``Enabled``, ``Suspended`` or ``None`` (never
    enabled); ``mfa_delete`` is ``Enabled``, ``Disabled`` or ``None`` (not reported)."""

    status: str | None = None
    mfa_delete: str | None = None


@dataclass(frozen=True)
class LoggingConfig:
    """Server access logging target."""

    target_bucket: str
    target_prefix: str = ""


@dataclass(frozen=True)
class LifecycleRule:
    """One lifecycle rule, as far as the checks need it.

    ``whole_bucket`` is True when no prefix, tag or size filter narrows the rule;
    ``abort_days`` is ``AbortIncompleteMultipartUpload.DaysAfterInitiation``
    (``None`` when the rule has no such action); ``document`` the rule as S3
    returned it, as JSON text (for harden's diffs).
    """

    id: str
    enabled: bool
    whole_bucket: bool
    abort_days: int | None = None
    document: str = ""


@dataclass(frozen=True)
class ObjectLockConfig:
    """Object Lock: whether it is enabled and the default retention, if any."""

    enabled: bool
    mode: str | None = None
    days: int | None = None
    years: int | None = None


@dataclass(frozen=True)
class KeySnapshot:
    """The metadata of one KMS key a bucket uses.

    ``manager`` is ``CUSTOMER`` or ``AWS``; ``state`` KMS's ``KeyState``
    (``Enabled``, ``Disabled``, ``PendingDeletion``, ...) or :data:`KEY_NOT_FOUND`
    for a configured key KMS does not know. ``aliases`` are the ARNs of the key's
    aliases, as ListAliases reports them in the key's own account and region.
    ``rotation_enabled`` and ``policy`` (the key policy JSON text) are collected
    separately and may fail on their own.
    """

    key_id: str
    arn: str
    manager: str
    state: str
    deletion_date: datetime | None = None
    key_spec: str = "SYMMETRIC_DEFAULT"
    origin: str = "AWS_KMS"
    aliases: tuple[str, ...] = ()
    rotation_enabled: Collected[bool] = field(default_factory=lambda: Collected.ok(False))
    policy: Collected[str | None] = field(default_factory=lambda: Collected.ok(None))

    @classmethod
    def not_found(cls, reference: str) -> KeySnapshot:
        """A configured key that does not exist (DescribeKey: NotFoundException)."""
        missing: CollectionError = CollectionError("DescribeKey", "NotFoundException", reference)
        return cls(
            key_id=reference,
            arn=reference,
            manager="UNKNOWN",
            state=KEY_NOT_FOUND,
            rotation_enabled=Collected.failed(missing),
            policy=Collected.failed(missing),
        )

    @property
    def exists(self) -> bool:
        """False for a configured key that KMS does not know."""
        return self.state != KEY_NOT_FOUND

    @property
    def customer_managed(self) -> bool:
        """True for a customer managed key."""
        return self.manager == "CUSTOMER"

    @property
    def account(self) -> str | None:
        """The account that owns the key (from its ARN), if known."""
        parts = self.arn.split(":")
        return parts[4] if self.arn.startswith("arn:") and len(parts) > 5 and parts[4] else None

    @property
    def region(self) -> str | None:
        """The key's region (from its ARN), if known."""
        parts = self.arn.split(":")
        return parts[3] if self.arn.startswith("arn:") and len(parts) > 5 and parts[3] else None

    def matches(self, reference: str) -> bool:
        """True if ``reference`` names this key.

        A key ARN must be this key's ARN and an alias ARN one of its alias ARNs
        (same account, region and name: an alias of the same name elsewhere is
        another key). A key id or a bare alias name names this key when it is
        this key's id or the name of one of its aliases (which exist only in the
        key's own account and region).
        """
        if reference == self.arn:
            return True
        if reference.startswith("arn:"):
            return ":alias/" in reference and reference in self.aliases
        if reference.startswith("alias/"):
            return any(a.endswith(":" + reference) for a in self.aliases)
        return reference == self.key_id


def _ok_none() -> Collected[Any]:
    return Collected.ok(None)


@dataclass(frozen=True)
class BucketSnapshot:
    """Everything the checks need to know about one bucket, as collected.

    ``keys`` maps each KMS key reference that appears in the bucket's default
    encryption rules (as written there) to that key's metadata.
    ``objects`` is ``None`` when object sampling was not requested;
    ``object_coverage`` says how much of the bucket the sample covers.
    ``account_id`` is the audited account (the credentials' account);
    ``every_call_failed`` says that collection got no answer at all.
    ``cloudtrail_bucket`` says whether a trail delivers its logs to the bucket
    (``None``: not collected; only frameworks with CloudTrail-only requirements
    need it). ``lifecycle`` holds the lifecycle rules (empty: none configured);
    ``monitoring`` the account's monitoring services in the bucket's region,
    shared by every bucket there (``None``: not collected).
    """

    name: str
    region: Collected[str] = field(default_factory=lambda: Collected.ok("us-east-1"))
    partition: str = "aws"
    account_id: str | None = None
    encryption: Collected[tuple[EncryptionRule, ...]] = field(
        default_factory=lambda: Collected.ok(())
    )
    policy: Collected[str | None] = field(default_factory=_ok_none)
    public_access_block: Collected[PublicAccessBlock | None] = field(default_factory=_ok_none)
    account_public_access_block: Collected[PublicAccessBlock | None] = field(
        default_factory=_ok_none
    )
    acl: Collected[tuple[Grant, ...]] = field(default_factory=lambda: Collected.ok(()))
    ownership: Collected[str | None] = field(default_factory=_ok_none)
    versioning: Collected[Versioning] = field(default_factory=lambda: Collected.ok(Versioning()))
    logging: Collected[LoggingConfig | None] = field(default_factory=_ok_none)
    object_lock: Collected[ObjectLockConfig | None] = field(default_factory=_ok_none)
    replication: Collected[tuple[str, ...] | None] = field(default_factory=_ok_none)
    keys: Mapping[str, Collected[KeySnapshot]] = field(default_factory=dict)
    objects: Collected[tuple[ObjectSample, ...]] | None = None
    object_coverage: ObjectCoverage | None = None
    api_calls: int = 0
    every_call_failed: bool = False
    cloudtrail_bucket: Collected[bool] | None = None
    lifecycle: Collected[tuple[LifecycleRule, ...]] = field(
        default_factory=lambda: Collected.ok(())
    )
    monitoring: Collected[AccountMonitoring] | None = None

    @property
    def arn(self) -> str:
        """The bucket's ARN (S3 bucket ARNs carry neither region nor account), in the
        partition of its region (``arn:aws-cn:``, ``arn:aws-us-gov:``) unless
        ``partition`` names another one."""
        partition = self.partition
        if partition == "aws" and self.region.is_ok:
            partition = partition_for_region(self.region.value)
        return f"arn:{partition}:s3:::{self.name}"

    @property
    def objects_arn(self) -> str:
        """The ARN pattern of every object in the bucket."""
        return f"{self.arn}/*"

    def effective_public_access_block(self) -> PublicAccessBlock:
        """The union of the bucket and account flags, counting only collected values."""
        parts = [
            c.value
            for c in (self.public_access_block, self.account_public_access_block)
            if c.is_ok and c.value is not None
        ]
        return PublicAccessBlock(
            block_public_acls=any(p.block_public_acls for p in parts),
            ignore_public_acls=any(p.ignore_public_acls for p in parts),
            block_public_policy=any(p.block_public_policy for p in parts),
            restrict_public_buckets=any(p.restrict_public_buckets for p in parts),
        )

    def parsed_policy(self) -> Policy | None:
        """The bucket policy, parsed; ``None`` when the bucket has none.

        Raises:
            Unavailable: the policy could not be collected.
            ConfigurationError: the policy is malformed.
        """
        text = self.policy.get()
        return parse_policy(text) if text else None

    def kms_key_references(self) -> tuple[str, ...]:
        """The KMS keys named by the default encryption rules, as written there.

        A KMS rule without a key id uses the AWS managed key ``alias/aws/s3``.

        Raises:
            Unavailable: the encryption configuration could not be collected.
        """
        refs: list[str] = []
        for rule in self.encryption.get():
            if rule.algorithm in KMS_ALGORITHMS:
                ref = rule.kms_key_id or DEFAULT_S3_KEY_ALIAS
                if ref not in refs:
                    refs.append(ref)
        return tuple(refs)

    def key(self, reference: str) -> KeySnapshot:
        """The metadata of the key ``reference`` names.

        Raises:
            Unavailable: the key's metadata could not be collected (or never was).
        """
        collected = self.keys.get(reference)
        if collected is None:
            raise Unavailable(CollectionError("DescribeKey", "NotCollected", reference))
        return collected.get()

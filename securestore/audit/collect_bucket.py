"""One bucket's settings, as :class:`~securestore.audit.collect.Collector` reads them.

Each read is one API call through the collector's counting ``call``; a failed one is
recorded in its field (the checks that need it report ERROR), never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from securestore.audit.answers import (
    acl_grants,
    encryption_rules,
    lifecycle_rules,
    logging_config,
    map_answer,
    object_lock,
    public_access_block,
    replication_targets,
)
from securestore.audit.model import (
    BucketSnapshot,
    Collected,
    CollectionError,
    EncryptionRule,
    Grant,
    LifecycleRule,
    LoggingConfig,
    ObjectLockConfig,
    PublicAccessBlock,
    Versioning,
)

__all__ = ["BucketCall", "BucketSettings", "read_settings", "unreachable"]

#: ``call(operation, method, **kwargs)``: one counted call about the bucket (its name given).
BucketCall = Callable[..., Collected[Any]]


@dataclass(frozen=True)
class BucketSettings:
    """The bucket's own configuration, one collected answer per field."""

    encryption: Collected[tuple[EncryptionRule, ...]]
    policy: Collected[str | None]
    public_access_block: Collected[PublicAccessBlock | None]
    acl: Collected[tuple[Grant, ...]]
    ownership: Collected[str | None]
    versioning: Collected[Versioning]
    logging: Collected[LoggingConfig | None]
    object_lock: Collected[ObjectLockConfig | None]
    replication: Collected[tuple[str, ...] | None]
    lifecycle: Collected[tuple[LifecycleRule, ...]]


def read_settings(call: BucketCall, s3: Any, *, lifecycle: bool) -> BucketSettings:
    """Read the bucket's settings with ``s3`` (a client of the bucket's region).

    ``lifecycle``: read its lifecycle rules too; when False the field records
    ``NotCollected``.
    """
    return BucketSettings(
        encryption=map_answer(
            call("GetBucketEncryption", s3.get_bucket_encryption), encryption_rules, absent=()
        ),
        policy=map_answer(call("GetBucketPolicy", s3.get_bucket_policy), lambda r: r["Policy"]),
        public_access_block=map_answer(
            call("GetPublicAccessBlock", s3.get_public_access_block),
            lambda r: public_access_block(r["PublicAccessBlockConfiguration"]),
        ),
        acl=map_answer(call("GetBucketAcl", s3.get_bucket_acl), acl_grants),
        ownership=map_answer(
            call("GetBucketOwnershipControls", s3.get_bucket_ownership_controls),
            lambda r: r["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        ),
        versioning=map_answer(
            call("GetBucketVersioning", s3.get_bucket_versioning),
            lambda r: Versioning(r.get("Status"), r.get("MFADelete")),
        ),
        logging=map_answer(call("GetBucketLogging", s3.get_bucket_logging), logging_config),
        object_lock=map_answer(
            call("GetObjectLockConfiguration", s3.get_object_lock_configuration), object_lock
        ),
        replication=map_answer(
            call("GetBucketReplication", s3.get_bucket_replication), replication_targets
        ),
        lifecycle=(
            map_answer(
                call("GetBucketLifecycleConfiguration", s3.get_bucket_lifecycle_configuration),
                lifecycle_rules,
                absent=(),
            )
            if lifecycle
            else Collected.failed(
                CollectionError("GetBucketLifecycleConfiguration", "NotCollected", "not requested")
            )
        ),
    )


def unreachable(
    name: str,
    error: CollectionError,
    account_pab: Collected[PublicAccessBlock | None],
    calls: int,
) -> BucketSnapshot:
    """A snapshot whose every field records ``error`` (nothing else was asked)."""
    failed: Collected[Any] = Collected.failed(error)
    return BucketSnapshot(
        name=name,
        region=failed,
        encryption=failed,
        policy=failed,
        public_access_block=failed,
        account_public_access_block=account_pab,
        acl=failed,
        ownership=failed,
        versioning=failed,
        logging=failed,
        object_lock=failed,
        replication=failed,
        lifecycle=failed,
        api_calls=calls,
        every_call_failed=True,
    )

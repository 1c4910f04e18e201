"""The IAM actions the auditor and ``harden`` call (pure data).

One list, three users: ``securestore iam-policy --audit/--harden`` prints identity
policies from it, the role templates in ``docs/roles/`` grant it, and
``tests/audit/test_org_roles.py`` checks both against the calls a real run makes.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_READS",
    "AUDIT_ACTIONS",
    "BUCKET_READS",
    "HARDEN_ACTIONS",
    "HARDEN_BUCKET_WRITES",
    "HARDEN_KEY_WRITES",
    "KEY_LISTING",
    "KEY_READS",
    "OBJECT_SAMPLE_BUCKET",
    "OBJECT_SAMPLE_OBJECTS",
]

#: Account-wide reads (no resource-level permissions): the bucket list, the account's
#: public access block and the continual-monitoring services (MON.n).
ACCOUNT_READS = frozenset(
    {
        "s3:ListAllMyBuckets",
        "s3:GetAccountPublicAccessBlock",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrailStatus",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeConfigurationRecorders",
        "guardduty:GetDetector",
        "guardduty:ListDetectors",
        "securityhub:DescribeHub",
    }
)

#: Reads of one bucket's configuration.
BUCKET_READS = frozenset(
    {
        "s3:GetBucketAcl",
        "s3:GetBucketLocation",
        "s3:GetBucketLogging",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketPolicy",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketVersioning",
        "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
    }
)

#: Reads of the KMS keys the buckets use.
KEY_READS = frozenset({"kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus"})

#: Alias resolution (``--allowed-kms-key alias/...``): ListAliases has no resource level.
KEY_LISTING = frozenset({"kms:ListAliases"})

#: ``--sample-objects N``: listing the bucket and HEADs of the sampled objects.
OBJECT_SAMPLE_BUCKET = frozenset({"s3:ListBucket"})
OBJECT_SAMPLE_OBJECTS = frozenset({"s3:GetObject"})

#: What harden changes on a bucket, and on its KMS key.
HARDEN_BUCKET_WRITES = frozenset(
    {
        "s3:PutBucketPolicy",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
    }
)
HARDEN_KEY_WRITES = frozenset({"kms:EnableKeyRotation"})

#: Everything a full audit may call, object sample included.
AUDIT_ACTIONS = (
    ACCOUNT_READS
    | BUCKET_READS
    | KEY_READS
    | KEY_LISTING
    | OBJECT_SAMPLE_BUCKET
    | OBJECT_SAMPLE_OBJECTS
)

#: Everything harden calls: it plans from a full snapshot of the bucket, then writes.
HARDEN_ACTIONS = BUCKET_READS | KEY_READS | KEY_LISTING | HARDEN_BUCKET_WRITES | HARDEN_KEY_WRITES

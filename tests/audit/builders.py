"""Snapshot builders and canonical policies for the audit tests (plain data, no AWS)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from securestore.audit import (
    BucketSnapshot,
    Collected,
    CollectionError,
    EncryptionRule,
    KeySnapshot,
    LifecycleRule,
    LoggingConfig,
    ObjectLockConfig,
    PublicAccessBlock,
    Versioning,
)
from securestore.audit.monitoring import (
    AccountMonitoring,
    Detector,
    EventScope,
    Recorder,
    TrailLogging,
)

BUCKET = "example-bucket"
ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"

TLS_STATEMENT: dict[str, Any] = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


#: An account whose monitoring passes every MON check in eu-west-1.
MONITORED = AccountMonitoring(
    region="eu-west-1",
    guardduty=Collected.ok((Detector("d-1", enabled=True, s3_protection=True),)),
    trails=Collected.ok(
        (
            TrailLogging(
                "org-trail",
                home_region="us-east-1",
                multi_region=True,
                logging=True,
                s3_data=(EventScope(read=True, write=True),),
                kms_events=True,
            ),
        )
    ),
    recorders=Collected.ok((Recorder("default", recording=True, all_supported=True),)),
    security_hub=Collected.ok(True),
)

#: A lifecycle rule that aborts incomplete multipart uploads everywhere.
ABORT_RULE = LifecycleRule(
    "abort-uploads",
    enabled=True,
    whole_bucket=True,
    abort_days=7,
    document=json.dumps(
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "Filter": {},
            "ID": "abort-uploads",
            "Status": "Enabled",
        },
        sort_keys=True,
    ),
)


def policy(*statements: dict[str, Any]) -> str:
    """A policy document's JSON text with ``statements``."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def denied(code: str = "AccessDenied", operation: str = "GetBucketPolicy") -> Collected[Any]:
    """A field whose collection failed."""
    return Collected.failed(CollectionError(operation, code, "Access Denied"))


#: Key administration for the account, without the right to use the key on data.
KEY_ADMIN_STATEMENT: dict[str, Any] = {
    "Sid": "Administration",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": [
        "kms:Create*",
        "kms:Describe*",
        "kms:Enable*",
        "kms:List*",
        "kms:Put*",
        "kms:Update*",
        "kms:Revoke*",
        "kms:Disable*",
        "kms:Get*",
        "kms:Delete*",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
    ],
    "Resource": "*",
}

#: Data use by the account, through S3 only.
KEY_USE_VIA_S3_STATEMENT: dict[str, Any] = {
    "Sid": "UseThroughS3",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*"],
    "Resource": "*",
    "Condition": {
        "StringEquals": {
            "kms:CallerAccount": "111122223333",
            "kms:ViaService": "s3.eu-west-1.amazonaws.com",
        }
    },
}


def customer_key(**changes: Any) -> KeySnapshot:
    """A healthy customer managed key."""
    key = KeySnapshot(
        key_id=KEY_ID,
        arn=KEY_ARN,
        manager="CUSTOMER",
        state="Enabled",
        aliases=("arn:aws:kms:eu-west-1:111122223333:alias/data",),
        rotation_enabled=Collected.ok(True),
        policy=Collected.ok(
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [KEY_ADMIN_STATEMENT, KEY_USE_VIA_S3_STATEMENT],
                }
            )
        ),
    )
    return replace(key, **changes)


def compliant(**changes: Any) -> BucketSnapshot:
    """A bucket that passes every built-in check (with SSE-KMS)."""
    snap = BucketSnapshot(
        name=BUCKET,
        region=Collected.ok("eu-west-1"),
        account_id="111122223333",
        encryption=Collected.ok((EncryptionRule("aws:kms", KEY_ARN, True, ("SSE-C",)),)),
        policy=Collected.ok(
            policy(
                TLS_STATEMENT,
                {
                    "Sid": "DenyOldTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [ARN, f"{ARN}/*"],
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                },
                {
                    "Sid": "DenyOtherEncryption",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": f"{ARN}/*",
                    "Condition": {
                        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}
                    },
                },
                {
                    "Sid": "DenyOtherKeys",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": f"{ARN}/*",
                    "Condition": {
                        "StringNotEquals": {
                            "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN
                        }
                    },
                },
                {
                    "Sid": "OnlyFromVpce",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [ARN, f"{ARN}/*"],
                    "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
                },
            )
        ),
        public_access_block=Collected.ok(PublicAccessBlock.all_on()),
        account_public_access_block=Collected.ok(PublicAccessBlock.all_on()),
        acl=Collected.ok(()),
        ownership=Collected.ok("BucketOwnerEnforced"),
        versioning=Collected.ok(Versioning("Enabled", "Enabled")),
        logging=Collected.ok(None),
        object_lock=Collected.ok(None),
        replication=Collected.ok(None),
        keys={KEY_ARN: Collected.ok(customer_key())},
        lifecycle=Collected.ok((ABORT_RULE,)),
        monitoring=Collected.ok(MONITORED),
    )
    snap = replace(
        snap,
        logging=Collected.ok(LoggingConfig("example-logs", "example-bucket/")),
        object_lock=Collected.ok(ObjectLockConfig(True, "GOVERNANCE", days=30)),
        replication=Collected.ok(("arn:aws:s3:::example-replica",)),
    )
    return replace(snap, **changes)

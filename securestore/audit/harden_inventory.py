"""``harden --inventory``: a daily Parquet S3 Inventory with the encryption fields.

:func:`inventory_configuration` builds the ``InventoryConfiguration`` of
``PutBucketInventoryConfiguration`` (pure); :func:`plan_inventory` compares it
with what the bucket has under the same id; :func:`apply_inventory` writes it.
The report goes to a central bucket (``s3://CENTRAL/PREFIX``), in Parquet,
daily, current versions, with every field ``audit --inventory`` reads
(``EncryptionStatus``, ``BucketKeyStatus``, ``Size``, ``LastModifiedDate``, ...),
itself encrypted with SSE-S3 (or SSE-KMS under a given key).

S3 only delivers when the destination bucket's policy lets the S3 service write
there for this source bucket; harden does not change the destination (often
another account's bucket) and instead prints the statement it needs
(:func:`destination_policy_statement`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from securestore.audit.collect import ClientFactory
from securestore.audit.iam.document import partition_for_region
from securestore.errors import ConfigurationError
from securestore.location import S3Url
from securestore.transport import translate_error

__all__ = [
    "INVENTORY_FIELDS",
    "INVENTORY_ID",
    "InventoryChange",
    "apply_inventory",
    "destination_policy_statement",
    "inventory_configuration",
    "plan_inventory",
]

#: The configuration id harden uses (the ``config-ID`` in the delivered keys).
INVENTORY_ID = "securestore-daily"

# "No such configuration" as AWS documents it, and as other S3 implementations say it.
_NONE_CONFIGURED = frozenset({"NoSuchConfiguration", "NoSuchInventoryConfig"})

#: The optional fields configured: what the inventory audit reads, and what explains it.
INVENTORY_FIELDS = (
    "Size",
    "LastModifiedDate",
    "StorageClass",
    "ETag",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "BucketKeyStatus",
    "ObjectLockMode",
    "ChecksumAlgorithm",
)


@dataclass(frozen=True)
class InventoryChange:
    """The inventory configuration to write; ``before`` is empty when there is none."""

    bucket: str
    configuration: Mapping[str, Any] = field(hash=False)
    before: str
    after: str
    summary: str

    def diff(self) -> str:
        """A unified diff of the current to the planned configuration."""
        lines = difflib.unified_diff(
            self.before.splitlines(),
            self.after.splitlines(),
            fromfile=f"s3://{self.bucket} inventory {INVENTORY_ID} (current)",
            tofile=f"s3://{self.bucket} inventory {INVENTORY_ID} (hardened)",
            lineterm="",
        )
        return "\n".join(lines) + "\n"


def _destination(url: str) -> tuple[str, str]:
    location = S3Url.parse(url)
    # A trailing '/' in the prefix makes S3 deliver under keys with '//' that the manifest
    # then names with a single '/': strip it.
    return location.bucket, location.key.strip("/")


def inventory_configuration(
    destination: str,
    *,
    config_id: str = INVENTORY_ID,
    destination_account: str | None = None,
    kms_key_arn: str | None = None,
    partition: str = "aws",
) -> dict[str, Any]:
    """The ``InventoryConfiguration`` delivering a daily Parquet inventory to ``destination``
    (``s3://BUCKET[/PREFIX]``).

    Raises:
        ConfigurationError: ``destination`` is not an ``s3://`` bucket URL, or
            ``kms_key_arn`` is not a key ARN (S3 requires the ARN here).
    """
    bucket, prefix = _destination(destination)
    target: dict[str, Any] = {
        "Bucket": f"arn:{partition}:s3:::{bucket}",
        "Format": "Parquet",
    }
    if destination_account:
        target["AccountId"] = destination_account
    if prefix:
        target["Prefix"] = prefix
    if kms_key_arn:
        if not kms_key_arn.startswith("arn:") or ":key/" not in kms_key_arn:
            raise ConfigurationError(
                f"the inventory's KMS key must be a key ARN: {kms_key_arn}",
                hint="give arn:aws:kms:REGION:ACCOUNT:key/ID",
            )
        target["Encryption"] = {"SSEKMS": {"KeyId": kms_key_arn}}
    else:
        target["Encryption"] = {"SSES3": {}}
    return {
        "Id": config_id,
        "IsEnabled": True,
        "Destination": {"S3BucketDestination": target},
        "IncludedObjectVersions": "Current",
        "OptionalFields": list(INVENTORY_FIELDS),
        "Schedule": {"Frequency": "Daily"},
    }


def destination_policy_statement(
    destination: str, *, source_bucket: str, source_account: str | None, partition: str = "aws"
) -> dict[str, Any]:
    """The statement the destination bucket's policy needs so that S3 can deliver the
    inventory of ``source_bucket`` (AWS's documented form for inventory delivery)."""
    bucket, _ = _destination(destination)
    condition: dict[str, Any] = {
        "ArnLike": {"aws:SourceArn": f"arn:{partition}:s3:::{source_bucket}"}
    }
    if source_account:
        condition["StringEquals"] = {
            "aws:SourceAccount": source_account,
            "s3:x-amz-acl": "bucket-owner-full-control",
        }
    return {
        "Sid": "S3InventoryDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:{partition}:s3:::{bucket}/*",
        "Condition": condition,
    }


def _pretty(document: Mapping[str, Any] | None) -> str:
    return "" if document is None else json.dumps(document, indent=2, sort_keys=True) + "\n"


def _normalised(document: Mapping[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(document))
    if isinstance(doc.get("OptionalFields"), list):
        doc["OptionalFields"] = sorted(doc["OptionalFields"])
    return dict(doc)


def _satisfies(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """True when ``current`` delivers what ``wanted`` asks: enabled, daily, Parquet, to the
    same bucket and prefix, encrypted as asked, with at least the wanted fields (listing
    all versions as well as current ones is more, not less)."""
    have = current.get("Destination", {}).get("S3BucketDestination", {})
    want = wanted["Destination"]["S3BucketDestination"]
    encryption = have.get("Encryption")
    if "SSEKMS" in want["Encryption"]:
        wanted_key = want["Encryption"]["SSEKMS"]["KeyId"]
        encrypted = isinstance(encryption, dict) and (
            encryption.get("SSEKMS", {}).get("KeyId") == wanted_key
        )
    else:
        # SSE-S3 is an empty element (<SSE-S3/>), which some servers echo as an empty
        # Encryption: any encryption element that is not SSE-KMS is SSE-S3.
        encrypted = isinstance(encryption, dict) and "SSEKMS" not in encryption
    return (
        current.get("IsEnabled") is True
        and current.get("Schedule", {}).get("Frequency") == "Daily"
        and have.get("Format") == "Parquet"
        and have.get("Bucket") == want["Bucket"]
        and have.get("Prefix", "") == want.get("Prefix", "")
        and encrypted
        and not current.get("Filter")
        and set(wanted["OptionalFields"]) <= set(current.get("OptionalFields", []))
    )


def plan_inventory(
    clients: ClientFactory,
    bucket: str,
    destination: str,
    *,
    region: str | None = None,
    kms_key_arn: str | None = None,
    destination_account: str | None = None,
) -> InventoryChange | None:
    """The change that configures the inventory on ``bucket``; ``None`` when it is already
    configured exactly so.

    Raises:
        SecureStoreError: GetBucketInventoryConfiguration failed (not "none configured").
    """
    wanted = inventory_configuration(
        destination,
        destination_account=destination_account,
        kms_key_arn=kms_key_arn,
        partition=partition_for_region(region),
    )
    s3 = clients.client("s3", region_name=region)
    try:
        current: dict[str, Any] | None = s3.get_bucket_inventory_configuration(
            Bucket=bucket, Id=INVENTORY_ID
        )["InventoryConfiguration"]
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in _NONE_CONFIGURED:
            raise translate_error(
                exc, bucket=bucket, action="GetBucketInventoryConfiguration"
            ) from exc
        current = None
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="GetBucketInventoryConfiguration") from exc
    if current is not None and _satisfies(current, wanted):
        return None
    verb = "replace" if current is not None else "add"
    return InventoryChange(
        bucket=bucket,
        configuration=wanted,
        before=_pretty(_normalised(current) if current is not None else None),
        after=_pretty(_normalised(wanted)),
        summary=f"{verb} the daily Parquet inventory {INVENTORY_ID} with the encryption "
        f"fields, delivered to {destination}",
    )


def apply_inventory(
    clients: ClientFactory, change: InventoryChange, *, region: str | None = None
) -> None:
    """Write the planned configuration (PutBucketInventoryConfiguration; idempotent).

    Raises:
        SecureStoreError: the call failed (translated from botocore).
    """
    s3 = clients.client("s3", region_name=region)
    try:
        s3.put_bucket_inventory_configuration(
            Bucket=change.bucket,
            Id=INVENTORY_ID,
            InventoryConfiguration=dict(change.configuration),
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(
            exc, bucket=change.bucket, action="PutBucketInventoryConfiguration"
        ) from exc

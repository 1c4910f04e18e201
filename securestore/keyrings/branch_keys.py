"""The branch key store of the AWS KMS Hierarchical keyring: branch keys in DynamoDB under KMS.

Follows ``framework/branch-key-store.md`` of the AWS Encryption SDK specification
(version 0.9.0), so tables written here are read by the AWS Cryptographic
Material Providers Library (MPL) and the other way round:

- one table, partition key ``branch-key-id`` (S), sort key ``type`` (S)
  ("CreateKeyStore", "KeySchema");
- each branch key has a DECRYPT_ONLY item per version (``type`` =
  ``branch:version:<uuid>``), one ACTIVE item (``type`` = ``branch:ACTIVE``, with
  ``version`` = ``branch:version:<uuid>``) and one ``beacon:ACTIVE`` item; every item
  holds ``enc`` (B, a KMS ciphertext of 32 random bytes), ``kms-arn``,
  ``create-time`` and ``hierarchy-version`` (N, 1), plus custom context as
  ``aws-crypto-ec:NAME`` attributes ("Record Format");
- ``enc`` is bound by KMS to an encryption context made of every other attribute
  of its item plus ``tablename`` = the logical key store name ("Encryption
  Context"), so moving an item to another branch key, version, table or key store
  makes KMS refuse it;
- keys are created with ``GenerateDataKeyWithoutPlaintext`` and the ACTIVE copy
  with ``ReEncrypt`` ("Wrapped Branch Key Creation"), written in one
  ``TransactWriteItems``; rotation replaces the ACTIVE item only if it is still
  the one read ("VersionKey").

The KMS configuration is one key ARN (spec: "KMS Key ARN", exact match) or
discovery (``kms_key_arn=None``: reads only, with the ARN stored in each item).
The plaintext branch key leaves this module only inside :class:`BranchKeyMaterials`.
The record format (items, contexts, checks) is in :mod:`.branch_key_records`, the
KMS calls (generate, re-encrypt, authenticate, decrypt) in :mod:`.branch_key_kms`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import (
    BranchKeyNotFoundError,
    BranchKeyStoreError,
    ConfigurationError,
)
from securestore.keyrings.branch_key_kms import BranchKeyKms, KeyStoreKmsClient, error_code
from securestore.keyrings.branch_key_records import (
    ACTIVE_TYPE,
    BEACON_TYPE,
    CUSTOM_PREFIX,
    VERSION_PREFIX,
    BranchKeyMaterials,
    canonical_version,
    item_context,
    new_item,
    timestamp,
)
from securestore.keyrings.kms_arn import check_arn, quote

__all__ = [
    "ACTIVE_TYPE",
    "BEACON_TYPE",
    "BranchKeyMaterials",
    "BranchKeyStore",
    "DynamoDbClient",
    "KeyStoreKmsClient",
    "VERSION_PREFIX",
]


class DynamoDbClient(Protocol):
    """The part of a boto3 DynamoDB client the key store uses."""

    def describe_table(self, **kwargs: Any) -> dict[str, Any]:
        """DynamoDB DescribeTable."""
        ...

    def create_table(self, **kwargs: Any) -> dict[str, Any]:
        """DynamoDB CreateTable."""
        ...

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        """DynamoDB GetItem."""
        ...

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        """DynamoDB TransactWriteItems."""
        ...


class BranchKeyStore:
    """Branch keys kept in one DynamoDB table, wrapped by one KMS key.

    Args:
        table_name: the DynamoDB table.
        kms_key_arn: the KMS key ARN (never an alias) that wraps the branch keys;
            ``None`` for discovery, which can only read (spec "Discovery").
        dynamodb: a boto3 DynamoDB client.
        kms: a boto3 KMS client.
        logical_name: the logical key store name bound into every item's KMS
            context (defaults to ``table_name``; keep it when restoring a backup
            under another table name).
        grant_tokens: KMS grant tokens for every KMS call.
    """

    def __init__(
        self,
        table_name: str,
        *,
        kms_key_arn: str | None,
        dynamodb: DynamoDbClient,
        kms: KeyStoreKmsClient,
        logical_name: str | None = None,
        grant_tokens: Sequence[str] = (),
    ) -> None:
        if not table_name:
            raise ConfigurationError("a branch key store needs a DynamoDB table name")
        if kms_key_arn is not None:
            arn = check_arn(kms_key_arn)
            if isinstance(arn, str) or arn.resource_type != "key":
                why = arn if isinstance(arn, str) else "an alias ARN, not a key ARN"
                raise ConfigurationError(
                    f"the branch key store's KMS key must be a key ARN: {quote(kms_key_arn)} "
                    f"is {why}"
                )
        self.table_name = table_name
        self.logical_name = logical_name if logical_name is not None else table_name
        if not self.logical_name:
            raise ConfigurationError("the logical key store name must not be empty")
        self.kms_key_arn = kms_key_arn
        self._ddb = dynamodb
        self._kms = BranchKeyKms(
            kms,
            table_name=table_name,
            logical_name=self.logical_name,
            kms_key_arn=kms_key_arn,
            grant_tokens=grant_tokens,
        )

    def __repr__(self) -> str:
        return (
            f"BranchKeyStore(table_name={self.table_name!r}, logical_name={self.logical_name!r}, "
            f"kms_key_arn={self.kms_key_arn!r})"
        )

    # -- CreateKeyStore ---------------------------------------------------------------

    def create_table(self) -> str:
        """Create the table if it does not exist (spec "CreateKeyStore"); return its ARN.

        An existing table is accepted only with the key schema the spec requires.
        """
        try:
            table = self._ddb.describe_table(TableName=self.table_name)["Table"]
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise self._ddb_error("DescribeTable", error) from error
            table = self._create_table()
        except BotoCoreError as error:
            raise self._ddb_error("DescribeTable", error) from error
        schema = {(k.get("AttributeName"), k.get("KeyType")) for k in table.get("KeySchema", [])}
        if schema != {("branch-key-id", "HASH"), ("type", "RANGE")}:
            raise BranchKeyStoreError(
                f"table {quote(self.table_name)} exists without the branch key store's key "
                "schema (branch-key-id HASH, type RANGE)",
                hint="choose another table name for the key store",
            )
        return str(table.get("TableArn", ""))

    def _create_table(self) -> dict[str, Any]:
        try:
            response = self._ddb.create_table(
                TableName=self.table_name,
                KeySchema=[
                    {"AttributeName": "branch-key-id", "KeyType": "HASH"},
                    {"AttributeName": "type", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "branch-key-id", "AttributeType": "S"},
                    {"AttributeName": "type", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except (ClientError, BotoCoreError) as error:
            raise self._ddb_error("CreateTable", error) from error
        description: dict[str, Any] = response["TableDescription"]
        return description

    # -- CreateKey / VersionKey ---------------------------------------------------------

    def create_branch_key(
        self,
        branch_key_id: str | None = None,
        *,
        encryption_context: Mapping[str, str] | None = None,
    ) -> str:
        """Create a branch key with its first version; return its id (spec "CreateKey").

        Without ``branch_key_id`` a v4 UUID is used. A chosen id needs a non-empty
        ``encryption_context`` (the spec requires it), which is bound to every
        version. An existing id is refused, never overwritten.
        """
        configured = self._writable_key("create a branch key")
        context = dict(encryption_context or {})
        if branch_key_id is not None:
            if not branch_key_id:
                raise ConfigurationError("a branch key id must not be empty")
            if not context:
                raise ConfigurationError(
                    "a branch key with a chosen id needs an encryption context",
                    hint="add --context NAME=VALUE, or let the store choose the id",
                )
        for name, value in context.items():
            if not isinstance(name, str) or not isinstance(value, str) or not name:
                raise ConfigurationError("branch key context names and values must be strings")
        branch_key_id = branch_key_id if branch_key_id is not None else str(uuid.uuid4())
        created = timestamp()
        version = str(uuid.uuid4())
        custom = {CUSTOM_PREFIX + name: value for name, value in context.items()}
        base = {
            "branch-key-id": branch_key_id,
            "create-time": created,
            "kms-arn": configured,
            **custom,
        }
        decrypt_only, active = self._kms.wrapped_pair(base, version, configured)
        beacon_item = {**base, "type": BEACON_TYPE}
        beacon = self._kms.generate(beacon_item, configured)
        items = [
            (new_item({**base, "type": VERSION_PREFIX + version}, decrypt_only), None),
            (
                new_item(
                    {**base, "type": ACTIVE_TYPE, "version": VERSION_PREFIX + version}, active
                ),
                None,
            ),
            (new_item(beacon_item, beacon), None),
        ]
        self._transact(items, branch_key_id)
        return branch_key_id

    def version_branch_key(self, branch_key_id: str) -> str:
        """Rotate: a new version becomes ACTIVE, old versions stay for decryption.

        Returns the new version (spec "VersionKey"). The ACTIVE item is read,
        authenticated by KMS ``ReEncrypt`` and replaced only if it is unchanged
        when written, so two concurrent rotations cannot both win.
        """
        configured = self._writable_key("rotate a branch key")
        item = self._get_item(branch_key_id, ACTIVE_TYPE)
        context = self._context(item, branch_key_id, ACTIVE_TYPE)
        if context["kms-arn"] != configured:
            raise BranchKeyStoreError(
                f"branch key {quote(branch_key_id)} is wrapped by {quote(context['kms-arn'])}, "
                "not by this key store's KMS key",
            )
        old_enc = item["enc"]["B"]
        self._kms.authenticate(old_enc, context, configured, branch_key_id)
        version = str(uuid.uuid4())
        base = {
            "branch-key-id": branch_key_id,
            "create-time": timestamp(),
            "kms-arn": configured,
            **{k: v for k, v in context.items() if k.startswith(CUSTOM_PREFIX)},
        }
        decrypt_only, active = self._kms.wrapped_pair(base, version, configured)
        items = [
            (new_item({**base, "type": VERSION_PREFIX + version}, decrypt_only), None),
            (
                new_item(
                    {**base, "type": ACTIVE_TYPE, "version": VERSION_PREFIX + version}, active
                ),
                old_enc,
            ),
        ]
        self._transact(items, branch_key_id)
        return version

    def _writable_key(self, action: str) -> str:
        if self.kms_key_arn is None:
            raise ConfigurationError(
                f"a discovery key store cannot {action}",
                hint="configure the key store with its KMS key ARN",
            )
        return self.kms_key_arn

    def _transact(self, items: Sequence[tuple[dict[str, Any], bytes | None]], key_id: str) -> None:
        """One TransactWriteItems: new items must not exist; a replaced one must be unchanged."""
        writes: list[dict[str, Any]] = []
        for item, replaces in items:
            put: dict[str, Any] = {"Item": item, "TableName": self.table_name}
            if replaces is None:
                put["ConditionExpression"] = "attribute_not_exists(#id)"
                put["ExpressionAttributeNames"] = {"#id": "branch-key-id"}
            else:
                put["ConditionExpression"] = "attribute_exists(#id) AND #enc = :encOld"
                put["ExpressionAttributeNames"] = {"#id": "branch-key-id", "#enc": "enc"}
                put["ExpressionAttributeValues"] = {":encOld": {"B": replaces}}
            writes.append({"Put": put})
        try:
            self._ddb.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                raise BranchKeyStoreError(
                    f"branch key {quote(key_id)} was not written: it already exists, or it "
                    "changed while being rotated",
                    hint="read the key store again, then retry",
                ) from error
            raise self._ddb_error("TransactWriteItems", error) from error
        except BotoCoreError as error:
            raise self._ddb_error("TransactWriteItems", error) from error

    # -- GetActiveBranchKey / GetBranchKeyVersion ---------------------------------------

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        """The ACTIVE version of a branch key, decrypted (spec "GetActiveBranchKey")."""
        return self._materials(branch_key_id, ACTIVE_TYPE)

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        """One version of a branch key, decrypted (spec "GetBranchKeyVersion")."""
        if canonical_version(version) is None:
            raise BranchKeyNotFoundError(
                f"branch key version {quote(version)} is not a UUID: no such version"
            )
        return self._materials(branch_key_id, VERSION_PREFIX + version)

    def _materials(self, branch_key_id: str, item_type: str) -> BranchKeyMaterials:
        item = self._get_item(branch_key_id, item_type)
        context = self._context(item, branch_key_id, item_type)
        key_arn = self.kms_key_arn or context["kms-arn"]
        if self.kms_key_arn is None:
            stored = check_arn(context["kms-arn"])
            if isinstance(stored, str) or stored.resource_type != "key":
                raise BranchKeyStoreError(
                    f"branch key {quote(branch_key_id)} names no usable KMS key ARN"
                )
        elif context["kms-arn"] != self.kms_key_arn:
            raise BranchKeyStoreError(
                f"branch key {quote(branch_key_id)} is wrapped by {quote(context['kms-arn'])}, "
                "not by this key store's KMS key",
                hint="configure the key store with the KMS key that wraps its branch keys",
            )
        version_field = context["version"] if item_type == ACTIVE_TYPE else item_type
        version = canonical_version(version_field.removeprefix(VERSION_PREFIX))
        if not version_field.startswith(VERSION_PREFIX) or version is None:
            raise BranchKeyStoreError(
                f"branch key {quote(branch_key_id)} has a malformed version {quote(version_field)}"
            )
        key = self._kms.decrypt(item["enc"]["B"], context, key_arn, branch_key_id)
        custom = {
            name.removeprefix(CUSTOM_PREFIX): value
            for name, value in context.items()
            if name.startswith(CUSTOM_PREFIX)
        }
        return BranchKeyMaterials(branch_key_id, version, key, custom)

    def _get_item(self, branch_key_id: str, item_type: str) -> dict[str, Any]:
        if not branch_key_id:
            raise ConfigurationError("a branch key id must not be empty")
        try:
            response = self._ddb.get_item(
                TableName=self.table_name,
                Key={"branch-key-id": {"S": branch_key_id}, "type": {"S": item_type}},
                ConsistentRead=True,
            )
        except ClientError as error:
            raise self._ddb_error("GetItem", error) from error
        except BotoCoreError as error:
            raise self._ddb_error("GetItem", error) from error
        item = response.get("Item")
        if not item:
            what = "active version" if item_type == ACTIVE_TYPE else quote(item_type)
            raise BranchKeyNotFoundError(
                f"branch key {quote(branch_key_id)} has no {what} in key store "
                f"{quote(self.table_name)}",
                hint="create it with `securestore keys create-branch-key`, or check the "
                "branch key id and table",
            )
        result: dict[str, Any] = item
        return result

    def _context(
        self, item: Mapping[str, Any], branch_key_id: str, item_type: str
    ) -> dict[str, str]:
        return item_context(
            item,
            branch_key_id,
            item_type,
            logical_name=self.logical_name,
            table_name=self.table_name,
        )

    # -- errors -------------------------------------------------------------------------

    def _ddb_error(self, operation: str, error: Exception) -> BranchKeyStoreError:
        detail = error_code(error) if isinstance(error, ClientError) else type(error).__name__
        hint = None
        if detail == "ResourceNotFoundException":
            hint = "check the key store table name (`keys create-branch-key` creates it)"
        return BranchKeyStoreError(
            f"DynamoDB {operation} failed on key store table {quote(self.table_name)}: {detail}",
            hint=hint,
        )

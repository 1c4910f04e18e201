"""Branch key store records: the DynamoDB item format and its KMS encryption context.

Pure data (no AWS calls), after ``framework/branch-key-store.md`` of the AWS
Encryption SDK specification: "Record Format", "Encryption Context" (with its
ACTIVE, DECRYPT_ONLY and beacon variants, and custom context as
``aws-crypto-ec:NAME``) and "Branch Key Materials From Authenticated Encryption
Context". :mod:`securestore.keyrings.branch_keys` does the DynamoDB and KMS calls.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from securestore.errors import BranchKeyStoreError
from securestore.keyrings.kms_arn import quote

__all__ = [
    "ACTIVE_TYPE",
    "BEACON_TYPE",
    "BRANCH_KEY_LENGTH",
    "CUSTOM_PREFIX",
    "HIERARCHY_VERSION",
    "TABLE_FIELD",
    "VERSION_PREFIX",
    "BranchKeyMaterials",
    "canonical_version",
    "item_context",
    "kms_context",
    "new_item",
    "timestamp",
]

ACTIVE_TYPE = "branch:ACTIVE"
BEACON_TYPE = "beacon:ACTIVE"
VERSION_PREFIX = "branch:version:"
CUSTOM_PREFIX = "aws-crypto-ec:"
HIERARCHY_VERSION = "1"
BRANCH_KEY_LENGTH = 32
# Spec "Encryption Context": the logical key store name, never an item attribute.
TABLE_FIELD = "tablename"
_REQUIRED_STRINGS = ("branch-key-id", "type", "create-time", "kms-arn")


@dataclass(frozen=True)
class BranchKeyMaterials:
    """A decrypted branch key (spec ``framework/structures.md``, "Branch Key Materials").

    ``version`` is the version UUID as a string; ``encryption_context`` is the custom
    context the branch key was created with (without the ``aws-crypto-ec:`` prefix).
    ``key`` is a ``bytearray`` so the cache can wipe it; it never appears in ``repr``.
    """

    branch_key_id: str
    version: str
    key: bytearray = field(repr=False)
    encryption_context: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "encryption_context", MappingProxyType(dict(self.encryption_context))
        )

    @property
    def version_bytes(self) -> bytes:
        """The version as the 16 bytes of its UUID (the form stored in data keys)."""
        return uuid.UUID(self.version).bytes


def canonical_version(text: str) -> str | None:
    """``text`` if it is a UUID in its canonical lowercase form, else ``None``.

    Data keys carry the version as 16 bytes and readers turn them back into this
    form, so a version stored any other way could never be found again.
    """
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return None
    return text if str(parsed) == text else None


def timestamp() -> str:
    """ISO 8601 in UTC to the microsecond (spec "Branch Key and Beacon Key Creation")."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kms_context(item: Mapping[str, str], logical_name: str) -> dict[str, str]:
    """An item's KMS encryption context (spec "Encryption Context")."""
    return {**item, "hierarchy-version": HIERARCHY_VERSION, TABLE_FIELD: logical_name}


def new_item(strings: Mapping[str, str], enc: bytes) -> dict[str, Any]:
    item: dict[str, Any] = {name: {"S": value} for name, value in strings.items()}
    item["enc"] = {"B": enc}
    item["hierarchy-version"] = {"N": HIERARCHY_VERSION}
    return item


def item_context(
    item: Mapping[str, Any],
    branch_key_id: str,
    item_type: str,
    *,
    logical_name: str,
    table_name: str,
) -> dict[str, str]:
    """The KMS encryption context of a stored item, after checking its record format.

    Spec "Record Format" and "Encryption Context": every attribute but ``enc``
    goes in, as strings; ``tablename`` is the logical name, never read from the item.
    """

    def malformed(why: str) -> BranchKeyStoreError:
        return BranchKeyStoreError(
            f"branch key {quote(branch_key_id)} has a malformed item in {quote(table_name)}: {why}"
        )

    context: dict[str, str] = {}
    for name, value in item.items():
        if name == "enc":
            if not isinstance(value, Mapping) or not isinstance(value.get("B"), bytes):
                raise malformed("enc is not binary")
            continue
        if name == "hierarchy-version":
            if not isinstance(value, Mapping) or value.get("N") != HIERARCHY_VERSION:
                raise malformed("hierarchy-version is not 1")
            context[name] = HIERARCHY_VERSION
            continue
        if name == TABLE_FIELD:
            raise malformed(f"{TABLE_FIELD} must not be stored")
        text = value.get("S") if isinstance(value, Mapping) else None
        if not isinstance(text, str) or len(value) != 1:
            raise malformed(f"{quote(name)} is not a string")
        context[name] = text
    missing = [n for n in (*_REQUIRED_STRINGS, "hierarchy-version") if n not in context]
    if "enc" not in item:
        missing.append("enc")
    if item_type == ACTIVE_TYPE and "version" not in context:
        missing.append("version")
    if missing:
        raise malformed("missing " + ", ".join(missing))
    if context["branch-key-id"] != branch_key_id or context["type"] != item_type:
        raise malformed("it names another branch key or type")
    if item_type != ACTIVE_TYPE and "version" in context:
        raise malformed("only the ACTIVE item has a version attribute")
    context[TABLE_FIELD] = logical_name
    return context

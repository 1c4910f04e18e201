"""KMS key ARNs as the keyrings read them: strict syntax, multi-Region keys, MRK match.

The provider info of an ``aws-kms`` data key comes from an unauthenticated
message header and its region becomes part of a host name, so only ARNs that
look like AWS's are accepted: the rules of spec
``framework/aws-kms/aws-kms-key-arn.md``, stricter on partition, region, account
and key id syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "KeyArn",
    "check_arn",
    "check_identifier",
    "is_region",
    "mrk_match",
    "parse_key_arn",
    "quote",
]

_PARTITION = re.compile(r"aws(-cn|-us-gov|-iso(-[a-z])?|-eusc)?")
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z0-9/_-]{1,256}")


@dataclass(frozen=True)
class KeyArn:
    """The parts of a KMS ARN ``arn:PARTITION:kms:REGION:ACCOUNT:key/ID`` (or ``alias/NAME``)."""

    partition: str
    region: str
    account: str
    resource_type: str
    resource_id: str

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:kms:{self.region}:{self.account}:"
            f"{self.resource_type}/{self.resource_id}"
        )

    @property
    def multi_region(self) -> bool:
        """Whether this names a multi-Region key (``key/mrk-...``; an alias never does)."""
        return self.resource_type == "key" and self.resource_id.startswith("mrk-")

    def in_region(self, region: str) -> KeyArn:
        """The same ARN in another region (for a multi-Region key: its replica there)."""
        return KeyArn(self.partition, region, self.account, self.resource_type, self.resource_id)


def quote(text: str) -> str:
    """Untrusted text for a message: shortened, and escaped by ``repr``."""
    return repr(text[:120] + ("..." if len(text) > 120 else ""))


def is_region(name: str) -> bool:
    """Whether ``name`` has the syntax of an AWS region name (``eu-west-1``)."""
    return _REGION.fullmatch(name) is not None


def check_arn(value: str) -> KeyArn | str:
    """The parsed ARN, or why ``value`` is not a valid KMS key or alias ARN (escaped)."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
        return "not a KMS ARN"
    _, partition, _, region, account, resource = parts
    kind, _, resource_id = resource.partition("/")
    if not _PARTITION.fullmatch(partition):
        return f"partition {quote(partition)} is not an AWS partition"
    if not is_region(region):
        return f"region {quote(region)} is not a region name"
    if not _ACCOUNT.fullmatch(account):
        return f"account {quote(account)} is not a 12-digit account id"
    if (kind == "key" and _KEY_ID.fullmatch(resource_id)) or (
        kind == "alias" and _ALIAS.fullmatch(resource_id)
    ):
        return KeyArn(partition, region, account, kind, resource_id)
    return f"resource {quote(resource)} is neither key/ID nor alias/NAME"


def parse_key_arn(value: str) -> KeyArn | None:
    """Split a KMS key or alias ARN, or return ``None`` when ``value`` is not a valid one.

    Valid means: partition ``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso*`` or
    ``aws-eusc``; a region name such as ``eu-west-1``; a 12-digit account; and
    ``key/ID`` or ``alias/NAME``.
    """
    arn = check_arn(value)
    return arn if isinstance(arn, KeyArn) else None


def check_identifier(key_id: str) -> str | None:
    """Why ``key_id`` is not a key ARN, alias ARN, ``alias/NAME`` or key id; ``None`` if it is."""
    if key_id.startswith("arn:"):
        arn = check_arn(key_id)
        return arn if isinstance(arn, str) else None
    if key_id.startswith("alias/"):
        valid = _ALIAS.fullmatch(key_id.removeprefix("alias/")) is not None
    else:
        valid = _KEY_ID.fullmatch(key_id) is not None
    return None if valid else "not a key ARN, alias or key id"


def mrk_match(configured: str, stored: str) -> bool:
    """Whether a data key stored for ``stored`` may be decrypted with ``configured``.

    True for identical identifiers, and for two ARNs of the same multi-Region key
    in any regions (spec ``framework/aws-kms/aws-kms-mrk-match-for-decrypt.md``:
    partition, account and resource compared, region ignored).
    """
    if configured == stored:
        return True
    one, two = parse_key_arn(configured), parse_key_arn(stored)
    if one is None or two is None or not (one.multi_region and two.multi_region):
        return False
    return one.in_region(two.region) == two

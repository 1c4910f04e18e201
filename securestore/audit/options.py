"""What the caller asks of an audit: :class:`AuditOptions`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from securestore.errors import ConfigurationError

__all__ = ["CLIENT_SIDE_METADATA_KEYS", "AuditOptions", "EncryptionRequirement"]


class EncryptionRequirement(enum.Enum):
    """The weakest server-side encryption the caller accepts, ordered by strength."""

    SSE_S3 = "sse-s3"
    KMS = "kms"
    DSSE_KMS = "dsse-kms"

    @property
    def rank(self) -> int:
        """1 for SSE-S3, 2 for SSE-KMS, 3 for DSSE-KMS."""
        return {"sse-s3": 1, "kms": 2, "dsse-kms": 3}[self.value]

    @classmethod
    def parse(cls, text: str) -> EncryptionRequirement:
        """Parse ``sse-s3``, ``kms`` (or ``sse-kms``) or ``dsse-kms``."""
        aliases = {"sse-kms": "kms", "aes256": "sse-s3", "s3": "sse-s3"}
        value = aliases.get(text.lower(), text.lower())
        try:
            return cls(value)
        except ValueError:
            raise ConfigurationError(
                f"unknown encryption requirement {text!r}",
                hint="use sse-s3, kms or dsse-kms",
            ) from None


#: The S3 algorithm value of each requirement level (``x-amz-server-side-encryption``).
ALGORITHM_RANK = {"AES256": 1, "aws:kms": 2, "aws:kms:dsse": 3}

#: User-metadata names (without ``x-amz-meta-``) that mark an object as encrypted
#: on the client by the Amazon S3 Encryption Client (v1/v2 and v3 names).
CLIENT_SIDE_METADATA_KEYS: frozenset[str] = frozenset(
    {
        "x-amz-key",
        "x-amz-key-v2",
        "x-amz-iv",
        "x-amz-matdesc",
        "x-amz-wrap-alg",
        "x-amz-cek-alg",
        "x-amz-c",
        "x-amz-3",
        "x-amz-w",
        "x-amz-d",
        "x-amz-i",
    }
)


@dataclass(frozen=True)
class AuditOptions:
    """Options that shape the checks' verdicts.

    Args:
        require: the weakest default encryption accepted (``S3.ENC.2``, ``S3.OBJ.1``).
        allowed_kms_keys: key ids, key ARNs or aliases a bucket may use; empty
            means any key (``S3.ENC.5`` is then skipped).
        require_vpc_endpoint: make ``S3.NET.1`` a failure instead of information.
        sample_objects: objects to sample per bucket for ``S3.OBJ.n``, spread over
            the bucket's listing; 0 skips them.
        object_budget: the most objects the whole audit inspects (``None``:
            no bound but ``sample_objects`` per bucket); buckets left without
            their sample report partial coverage.
        object_seconds: the longest time the object scan may take, from its first
            object (``None``: no bound); past it, the rest is partial coverage.
        max_listed_keys: the most keys listed per bucket to spread the sample over.
        client_side_metadata_keys: user-metadata names that mark client-side
            encrypted objects (securestore/ESDK objects are also recognised by
            their message header).
    """

    require: EncryptionRequirement = EncryptionRequirement.SSE_S3
    allowed_kms_keys: frozenset[str] = frozenset()
    require_vpc_endpoint: bool = False
    sample_objects: int = 0
    client_side_metadata_keys: frozenset[str] = field(default=CLIENT_SIDE_METADATA_KEYS)
    object_budget: int | None = None
    object_seconds: float | None = None
    max_listed_keys: int = 100_000

    def __post_init__(self) -> None:
        if self.sample_objects < 0:
            raise ConfigurationError("sample_objects must not be negative")
        if self.object_budget is not None and self.object_budget < 0:
            raise ConfigurationError("object_budget must not be negative")
        if self.object_seconds is not None and self.object_seconds <= 0:
            raise ConfigurationError("object_seconds must be positive")
        if self.max_listed_keys < 1:
            raise ConfigurationError("max_listed_keys must be at least 1")

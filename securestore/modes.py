"""Server-side encryption modes and what S3 reports about stored objects.

A mode says what it adds to a write request (:meth:`EncryptionMode.request_params`)
and whether a stored object satisfies it (:meth:`EncryptionMode.check`). The
store checks every write response against the mode that was asked for, and a
read can demand a mode with ``require=``.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from securestore.errors import ConfigurationError

__all__ = [
    "UNREPORTED_KEY",
    "BucketDefault",
    "DsseKms",
    "EncryptionMode",
    "SseKms",
    "SseS3",
    "StoredEncryption",
    "kms_key_matches",
    "parse_mode",
    "unconfirmed_alias",
]

# The values S3 uses for x-amz-server-side-encryption.
AES256 = "AES256"
AWS_KMS = "aws:kms"
AWS_KMS_DSSE = "aws:kms:dsse"

_MODE_NAMES = {AES256: "sse-s3", AWS_KMS: "sse-kms", AWS_KMS_DSSE: "dsse-kms"}

#: How a check's reason begins when a demanded KMS key cannot be confirmed.
UNREPORTED_KEY = "stored with a KMS key that the server does not report"


@dataclass(frozen=True)
class StoredEncryption:
    """How S3 reports an object (or a write) is encrypted.

    ``client_side`` holds the securestore client-side marker metadata, which is
    informational only and never trusted for security decisions.
    """

    algorithm: str | None
    kms_key_id: str | None = None
    bucket_key_enabled: bool | None = None
    client_side: Mapping[str, str] | None = None

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> StoredEncryption:
        """Read the SSE fields of a PutObject/HeadObject/GetObject/... response."""
        bucket_key = response.get("BucketKeyEnabled")
        algorithm = response.get("ServerSideEncryption")
        key_id = response.get("SSEKMSKeyId")
        for name, value in (("ServerSideEncryption", algorithm), ("SSEKMSKeyId", key_id)):
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"malformed {name} in the response: not a string")
        return cls(
            algorithm=algorithm,
            kms_key_id=key_id,
            bucket_key_enabled=None if bucket_key is None else bool(bucket_key),
        )

    @property
    def sse_name(self) -> str:
        """``sse-s3``, ``sse-kms``, ``dsse-kms``, ``none``, or the raw algorithm name."""
        if self.algorithm is None:
            return "none"
        return _MODE_NAMES.get(self.algorithm, self.algorithm)

    def describe(self) -> str:
        """A one-line human description, e.g. ``sse-kms (arn:...; bucket key)``."""
        text = self.sse_name
        extras = []
        if self.kms_key_id:
            extras.append(self.kms_key_id)
        if self.bucket_key_enabled:
            extras.append("bucket key")
        if extras:
            text += f" ({'; '.join(extras)})"
        if self.client_side is not None:
            text = "client-side" if self.algorithm is None else f"client-side + {text}"
        return text


def kms_key_matches(asked: str, reported: str, resolved_arn: str | None = None) -> bool:
    """Whether the key S3 reports is the key that was asked for.

    ``asked`` may be a key id, key ARN, alias name or alias ARN; ``resolved_arn``
    is its key ARN when the caller could look it up. S3 reports a key ARN.
    """
    if asked == reported or (resolved_arn is not None and reported == resolved_arn):
        return True
    if not asked.startswith(("arn:", "alias/")):
        # A bare key id matches the ARN that ends with it.
        return reported.endswith(f":key/{asked}") or (
            resolved_arn is not None and resolved_arn.endswith(f":key/{reported}")
        )
    if resolved_arn is not None and not reported.startswith("arn:"):
        return resolved_arn.endswith(f":key/{reported}")
    return False


class EncryptionMode(ABC):
    """What a write adds to its request, and which stored objects satisfy a read."""

    #: The name used by the CLI and in messages (``sse-s3``, ``sse-kms``, ...).
    name: str

    @abstractmethod
    def request_params(self) -> dict[str, Any]:
        """Parameters to add to PutObject / CreateMultipartUpload."""

    @abstractmethod
    def check(self, stored: StoredEncryption, *, resolved_key_arn: str | None = None) -> str | None:
        """Return ``None`` if ``stored`` satisfies this mode, else the reason it does not."""

    def check_write(
        self, stored: StoredEncryption, *, resolved_key_arn: str | None = None
    ) -> str | None:
        """Like :meth:`check`, for what S3 reports right after a write."""
        return self.check(stored, resolved_key_arn=resolved_key_arn)

    @property
    def kms_key_id(self) -> str | None:
        """The KMS key this mode names, if any."""
        return None

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class SseS3(EncryptionMode):
    """Server-side encryption with S3-managed keys (``AES256``)."""

    name = "sse-s3"

    def request_params(self) -> dict[str, Any]:
        return {"ServerSideEncryption": AES256}

    def check(self, stored: StoredEncryption, *, resolved_key_arn: str | None = None) -> str | None:
        if stored.algorithm != AES256:
            return f"stored as {stored.sse_name}, not sse-s3"
        return None


@dataclass(frozen=True)
class BucketDefault(EncryptionMode):
    """No encryption header: the bucket's default encryption applies.

    For a write into a bucket whose default encryption cannot be read (a role
    without ``s3:GetEncryptionConfiguration``): naming SSE-S3 instead would
    override a default of SSE-KMS (S3 applies a default only to requests that ask
    for no encryption). A write is verified to be stored with server-side
    encryption of some kind; which one is the bucket's choice.
    """

    name = "bucket-default"

    def request_params(self) -> dict[str, Any]:
        return {}

    def check(self, stored: StoredEncryption, *, resolved_key_arn: str | None = None) -> str | None:
        if stored.algorithm not in _MODE_NAMES:
            return f"stored as {stored.sse_name}, not with server-side encryption"
        return None


def _encode_context(context: Mapping[str, str] | None) -> dict[str, Any]:
    if not context:
        return {}
    for k, v in context.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigurationError("encryption context keys and values must be strings")
    payload = json.dumps(dict(context), sort_keys=True, separators=(",", ":"))
    return {"SSEKMSEncryptionContext": base64.b64encode(payload.encode()).decode()}


@dataclass(frozen=True)
class _KmsMode(EncryptionMode):
    """What SSE-KMS and DSSE-KMS share: a key, an optional context, the algorithm name."""

    key_id: str | None = None
    context: Mapping[str, str] | None = field(default=None, hash=False, kw_only=True)
    algorithm = AWS_KMS

    def __post_init__(self) -> None:
        # Inline, not securestore.arguments (which imports this module).
        if self.key_id is not None and not isinstance(self.key_id, str):
            kind = type(self.key_id).__name__
            raise ConfigurationError(
                f"key_id must be a KMS key id, ARN or alias (a str), not {kind}"
            )
        if self.context is not None and not isinstance(self.context, Mapping):
            raise ConfigurationError(
                f"context must be a mapping of str to str, not {type(self.context).__name__}"
            )
        if not isinstance(getattr(self, "bucket_key", True), bool):
            raise ConfigurationError("bucket_key must be True or False")
        if self.context is not None:
            _encode_context(self.context)
            object.__setattr__(self, "context", dict(self.context))
        if self.key_id is not None and not self.key_id.strip():
            raise ConfigurationError("an empty KMS key id was given")

    @property
    def kms_key_id(self) -> str | None:
        return self.key_id

    def request_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"ServerSideEncryption": self.algorithm}
        if self.key_id:
            params["SSEKMSKeyId"] = self.key_id
        params.update(_encode_context(self.context))
        return params

    def check(self, stored: StoredEncryption, *, resolved_key_arn: str | None = None) -> str | None:
        if stored.algorithm != self.algorithm:
            return f"stored as {stored.sse_name}, not {self.name}"
        if self.key_id is None:
            return None
        # A demanded key must be confirmed: a server that does not report the key
        # (some S3-compatible ones) cannot show that the object uses it.
        if not stored.kms_key_id:
            return f"{UNREPORTED_KEY}, so it cannot be confirmed to be {self.key_id}"
        if not kms_key_matches(self.key_id, stored.kms_key_id, resolved_key_arn):
            return f"stored with KMS key {stored.kms_key_id}, not {self.key_id}"
        return None


@dataclass(frozen=True)
class SseKms(_KmsMode):
    """Server-side encryption with a KMS key.

    Args:
        key_id: key id, key ARN, alias name or alias ARN; ``None`` uses the
            account's AWS-managed ``aws/s3`` key (on writes) or accepts any key
            (on reads).
        bucket_key: use an S3 Bucket Key (fewer KMS calls, lower cost).
        context: an additional KMS encryption context (string pairs).
    """

    bucket_key: bool = field(default=True, kw_only=True)
    name = "sse-kms"

    def request_params(self) -> dict[str, Any]:
        return {**super().request_params(), "BucketKeyEnabled": self.bucket_key}

    def check_write(
        self, stored: StoredEncryption, *, resolved_key_arn: str | None = None
    ) -> str | None:
        """Like :meth:`check`, and also that a requested bucket key was not refused."""
        reason = self.check(stored, resolved_key_arn=resolved_key_arn)
        if reason is None and self.bucket_key and stored.bucket_key_enabled is False:
            reason = "S3 reports the bucket key disabled although it was requested"
        return reason


@dataclass(frozen=True)
class DsseKms(_KmsMode):
    """Dual-layer server-side encryption with a KMS key (``aws:kms:dsse``).

    Args:
        key_id: key id, key ARN, alias name or alias ARN (``None``: the ``aws/s3`` key).
        context: an additional KMS encryption context (string pairs).
    """

    name = "dsse-kms"
    algorithm = AWS_KMS_DSSE


def parse_mode(
    name: str,
    *,
    kms_key_id: str | None = None,
    bucket_key: bool = True,
    context: Mapping[str, str] | None = None,
) -> EncryptionMode:
    """Build a server-side mode from its CLI name (``s3``/``sse-s3``, ``kms``, ``dsse-kms``)."""
    normalized = name.lower().removeprefix("sse-")
    if normalized in ("s3", "aes256"):
        if kms_key_id or context:
            raise ConfigurationError("a KMS key id or context only applies to kms and dsse-kms")
        return SseS3()
    if normalized in ("kms", "aws:kms"):
        return SseKms(kms_key_id, bucket_key=bucket_key, context=context)
    if normalized in ("dsse-kms", "dsse", "aws:kms:dsse"):
        return DsseKms(kms_key_id, context=context)
    raise ConfigurationError(
        f"unknown encryption mode {name!r}", hint="choose one of: s3, kms, dsse-kms"
    )


def unconfirmed_alias(
    mode: EncryptionMode, stored: StoredEncryption, resolved_key_arn: str | None
) -> str | None:
    """The alias ``mode`` names its KMS key by, if that key is all a write's check missed.

    Without the alias's key ARN (``kms:DescribeKey`` denied) the key ARN S3 reports
    cannot be matched to it; ``None`` when the key was resolved, is not named by an
    alias, or something else (the algorithm) differs.
    """
    alias = mode.kms_key_id
    if resolved_key_arn is not None or alias is None:
        return None
    if not alias.startswith("alias/") and not (alias.startswith("arn:") and ":alias/" in alias):
        return None
    return alias if mode.check_write(stored, resolved_key_arn=stored.kms_key_id) is None else None

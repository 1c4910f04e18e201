"""Talking to KMS for the keyrings of :mod:`securestore.keyrings.aws_kms`.

The client protocol, the KMS calls shared by the strict and discovery keyrings
(Decrypt of a message's data key or of an S3 Encryption Client data key), the
checks on KMS's answers, and the filter that keeps plaintext data keys out of
botocore's DEBUG logs. botocore errors become :class:`KeyUnavailableError` naming
the key, never key bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import KeyUnavailableError, NoMatchingKeyError
from securestore.keyrings.kms_arn import KeyArn, check_arn, quote
from securestore.message.materials import DecryptionMaterials, EncryptedDataKey

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "PROVIDER_ID",
    "ClientFactory",
    "KmsClient",
    "decrypt_one",
    "decrypt_s3ec",
    "edk_key_arn",
    "key_bytes",
    "no_match",
    "redact_botocore_logs",
    "skipped_key",
    "unavailable",
]

PROVIDER_ID = "aws-kms"
# KMS answers these when the ciphertext is not for this key or the context differs.
_NOT_OURS = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class _RedactKeyMaterial(logging.Filter):
    """Keep plaintext data keys out of botocore's DEBUG logs.

    At DEBUG, botocore logs request parameters and response bodies; for KMS those
    carry the plaintext data key (``Plaintext`` of GenerateDataKey, Encrypt and
    Decrypt). Such records keep their first words and lose the rest.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        if "Plaintext" in text:
            record.msg = "%s: [redacted by securestore: carries KMS key material]"
            record.args = (text.split(":", 1)[0][:120],)
        return True


_REDACTION_LOCK = threading.Lock()
_REDACTED_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth")


def redact_botocore_logs() -> None:
    """Install the redacting filter on botocore's loggers once per process."""
    with _REDACTION_LOCK:
        for name in _REDACTED_LOGGERS:
            target = logging.getLogger(name)
            if not any(isinstance(f, _RedactKeyMaterial) for f in target.filters):
                target.addFilter(_RedactKeyMaterial())


class KmsClient(Protocol):
    """The part of a boto3 KMS client the keyrings use."""

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        """KMS GenerateDataKey."""
        ...

    def encrypt(self, **kwargs: Any) -> dict[str, Any]:
        """KMS Encrypt."""
        ...

    def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        """KMS Decrypt."""
        ...


ClientFactory = Callable[[str], KmsClient]

#: Clients kept by a discovery keyring: a hostile header cannot make it hold more.
DEFAULT_MAX_CLIENTS = 8


def edk_key_arn(provider_info: bytes) -> KeyArn | str:
    """The key ARN an ``aws-kms`` data key names, or why it cannot be used."""
    try:
        text = provider_info.decode("utf-8")
    except UnicodeDecodeError:
        return "provider info is not UTF-8"
    arn = check_arn(text)
    if isinstance(arn, KeyArn) and arn.resource_type != "key":
        return "an alias ARN, not a key ARN"
    return arn


def skipped_key(provider_info: bytes, reason: str) -> str:
    """How a data key that was not tried is listed in a :class:`NoMatchingKeyError`."""
    text = provider_info.decode("utf-8", "replace")
    return f"aws-kms {quote(text)} (skipped: {reason})"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def unavailable(operation: str, key_id: str, error: Exception) -> KeyUnavailableError:
    """The error for a failed KMS call: the operation, the key and the error code only."""
    detail = _code(error) if isinstance(error, ClientError) else type(error).__name__
    if not detail.isalnum():  # the endpoint chose it: escape it
        detail = quote(detail)
    return KeyUnavailableError(f"KMS {operation} failed for key {key_id}: {detail}")


def key_bytes(response: Mapping[str, Any], length: int, key_id: str) -> bytearray:
    """The plaintext data key of a KMS answer, refused unless it has ``length`` bytes."""
    plain = response.get("Plaintext")
    if not isinstance(plain, bytes | bytearray) or len(plain) != length:
        raise KeyUnavailableError(f"KMS returned a data key of the wrong length for key {key_id}")
    return bytearray(plain)


def decrypt_one(
    client: KmsClient,
    key_id: str,
    edk: EncryptedDataKey,
    materials: DecryptionMaterials,
    grant_tokens: Sequence[str],
) -> bytearray | None:
    """Ask KMS to decrypt ``edk`` with ``key_id``; ``None`` if KMS says it is not ours.

    A response naming another key than ``key_id`` is refused: KMS would only do that
    if it used a key we did not ask for (spec: the response KeyId MUST equal it).
    """
    try:
        response = client.decrypt(
            KeyId=key_id,
            CiphertextBlob=edk.ciphertext,
            EncryptionContext=dict(materials.encryption_context),
            GrantTokens=list(grant_tokens),
        )
    except ClientError as error:
        if _code(error) in _NOT_OURS:
            return None
        raise unavailable("Decrypt", key_id, error) from error
    except BotoCoreError as error:
        raise unavailable("Decrypt", key_id, error) from error
    answered = response.get("KeyId")
    if answered != key_id:
        shown = quote(answered) if isinstance(answered, str) else "no key"
        raise KeyUnavailableError(
            f"KMS Decrypt for key {key_id} answered for {shown}; refused",
            hint="check the KMS endpoint in use: a genuine KMS names the key it used",
        )
    return key_bytes(response, materials.suite.key_length, key_id)


def decrypt_s3ec(
    client: KmsClient,
    key_id: str | None,
    blob: bytes,
    context: Mapping[str, str],
    grant_tokens: Sequence[str],
) -> tuple[bytearray, str] | None:
    """KMS Decrypt of an S3 Encryption Client data key: (data key, key ARN used) or ``None``.

    S3EC metadata does not name the KMS key; without ``key_id`` (discovery) KMS
    finds it from the ciphertext and the caller must check the ARN it answers.
    """
    request: dict[str, Any] = {
        "CiphertextBlob": blob,
        "EncryptionContext": dict(context),
        "GrantTokens": list(grant_tokens),
    }
    if key_id is not None:
        request["KeyId"] = key_id
    shown = key_id or "(discovery)"
    try:
        response = client.decrypt(**request)
    except ClientError as error:
        if _code(error) in _NOT_OURS:
            return None
        raise unavailable("Decrypt", shown, error) from error
    except BotoCoreError as error:
        raise unavailable("Decrypt", shown, error) from error
    answered = response.get("KeyId")
    if not isinstance(answered, str) or (key_id is not None and answered != key_id):
        raise KeyUnavailableError(
            f"KMS Decrypt for key {shown} answered for another key; refused",
            hint="check the KMS endpoint in use: a genuine KMS names the key it used",
        )
    return key_bytes(response, 32, shown), answered


def no_match(message: str, tried: Sequence[str], skipped: Sequence[str]) -> NoMatchingKeyError:
    """The error when no data key was unwrapped, listing the keys tried and skipped."""
    if skipped:
        message += "; unusable data keys: " + "; ".join(skipped)
    return NoMatchingKeyError(message, tried=(*tried, *skipped))

"""AWS KMS keyrings: :class:`AwsKmsKeyring` (one key, strict) and :class:`AwsKmsDiscoveryKeyring`.

Encrypted data keys have provider id ``aws-kms`` and the key ARN returned by
KMS as provider info. The encryption context is passed to every KMS call, so
KMS binds it too. KMS clients are injected (a boto3 KMS client, or a callable
from region name to client); this module creates none. botocore errors become
:class:`KeyUnavailableError` naming the key, never key bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import ConfigurationError, KeyUnavailableError, NoMatchingKeyError
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)

__all__ = [
    "PROVIDER_ID",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "DiscoveryFilter",
    "KmsClient",
    "parse_key_arn",
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


def _redact_botocore_logs() -> None:
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


@dataclass(frozen=True)
class KeyArn:
    """The parts of a KMS key ARN ``arn:PARTITION:kms:REGION:ACCOUNT:key/ID``."""

    partition: str
    region: str
    account: str
    resource_type: str
    resource_id: str


def parse_key_arn(value: str) -> KeyArn | None:
    """Split a KMS ARN, or return ``None`` when ``value`` is not one."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kms":
        return None
    kind, _, resource_id = parts[5].partition("/")
    if not all((parts[1], parts[3], parts[4], resource_id)) or kind not in ("key", "alias"):
        return None
    return KeyArn(parts[1], parts[3], parts[4], kind, resource_id)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def _unavailable(operation: str, key_id: str, error: Exception) -> KeyUnavailableError:
    detail = _code(error) if isinstance(error, ClientError) else type(error).__name__
    return KeyUnavailableError(f"KMS {operation} failed for key {key_id}: {detail}")


def _key_bytes(response: Mapping[str, Any], length: int, key_id: str) -> bytearray:
    plain = response.get("Plaintext")
    if not isinstance(plain, bytes | bytearray) or len(plain) != length:
        raise KeyUnavailableError(f"KMS returned a data key of the wrong length for key {key_id}")
    return bytearray(plain)


def _decrypt_one(
    client: KmsClient,
    key_id: str,
    edk: EncryptedDataKey,
    materials: DecryptionMaterials,
    grant_tokens: Sequence[str],
) -> bytearray | None:
    """Ask KMS to decrypt ``edk`` with ``key_id``; ``None`` if KMS says it is not ours."""
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
        raise _unavailable("Decrypt", key_id, error) from error
    except BotoCoreError as error:
        raise _unavailable("Decrypt", key_id, error) from error
    if response.get("KeyId") != key_id:
        return None
    return _key_bytes(response, materials.suite.key_length, key_id)


class AwsKmsKeyring:
    """One KMS key: generates or wraps data keys on encrypt, unwraps only its own on decrypt.

    ``key_id`` should be a key ARN (needed for decryption; an alias can only encrypt).
    Give ``client``, or ``client_factory`` (called with the ARN's region).
    """

    def __init__(
        self,
        key_id: str,
        *,
        client: KmsClient | None = None,
        client_factory: ClientFactory | None = None,
        grant_tokens: Sequence[str] = (),
    ) -> None:
        _redact_botocore_logs()
        if not key_id:
            raise ConfigurationError("a KMS keyring needs a key id")
        if client is None:
            arn = parse_key_arn(key_id)
            if client_factory is None or arn is None:
                raise ConfigurationError(
                    "a KMS keyring needs a client, or a client factory and a key ARN"
                )
            client = client_factory(arn.region)
        self.key_id = key_id
        self._client = client
        self._grant_tokens = tuple(grant_tokens)

    def __repr__(self) -> str:
        return f"AwsKmsKeyring(key_id={self.key_id!r})"

    def describe(self) -> str:
        """A secret-free description of the key, for error messages."""
        return f"aws-kms {self.key_id}"

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """GenerateDataKey when the materials have no data key yet, else Encrypt it."""
        context = dict(materials.encryption_context)
        try:
            if materials.data_key is None:
                response = self._client.generate_data_key(
                    KeyId=self.key_id,
                    NumberOfBytes=materials.suite.key_length,
                    EncryptionContext=context,
                    GrantTokens=list(self._grant_tokens),
                )
                data_key = _key_bytes(response, materials.suite.key_length, self.key_id)
            else:
                data_key = materials.data_key
                response = self._client.encrypt(
                    KeyId=self.key_id,
                    Plaintext=bytes(data_key),
                    EncryptionContext=context,
                    GrantTokens=list(self._grant_tokens),
                )
        except (ClientError, BotoCoreError) as error:
            operation = "GenerateDataKey" if materials.data_key is None else "Encrypt"
            raise _unavailable(operation, self.key_id, error) from error
        arn = response.get("KeyId")
        blob = response.get("CiphertextBlob")
        if not isinstance(arn, str) or parse_key_arn(arn) is None or not isinstance(blob, bytes):
            raise KeyUnavailableError(f"KMS returned a malformed response for key {self.key_id}")
        edk = EncryptedDataKey(PROVIDER_ID, arn.encode("utf-8"), blob)
        return materials.with_data_key(data_key, edk)

    def _matches(self, provider_info: bytes) -> bool:
        try:
            info = provider_info.decode("utf-8")
        except UnicodeDecodeError:
            return False
        arn = parse_key_arn(info)
        if arn is None or arn.resource_type != "key":
            return False
        return info == self.key_id

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Decrypt the first data key wrapped under exactly this key."""
        if materials.data_key is not None:
            return materials
        for edk in encrypted_data_keys:
            if edk.provider_id != PROVIDER_ID or not self._matches(edk.provider_info):
                continue
            data_key = _decrypt_one(self._client, self.key_id, edk, materials, self._grant_tokens)
            if data_key is not None:
                return materials.with_data_key(data_key)
        raise NoMatchingKeyError(
            "no encrypted data key could be unwrapped with the KMS key", tried=(self.describe(),)
        )


@dataclass(frozen=True)
class DiscoveryFilter:
    """Restricts discovery to keys of one partition and a set of accounts."""

    partition: str
    account_ids: frozenset[str]

    def __init__(self, partition: str, account_ids: Sequence[str]) -> None:
        if not partition or not account_ids or not all(account_ids):
            raise ConfigurationError("a discovery filter needs a partition and account ids")
        object.__setattr__(self, "partition", partition)
        object.__setattr__(self, "account_ids", frozenset(account_ids))

    def allows(self, arn: KeyArn) -> bool:
        """Whether a key ARN passes the filter."""
        return arn.partition == self.partition and arn.account in self.account_ids


class AwsKmsDiscoveryKeyring:
    """Decrypts with whichever KMS key a message names (optionally filtered); cannot encrypt.

    ``client_factory`` maps a region name to a KMS client; it is called lazily and the
    clients are cached.
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Sequence[str] = (),
    ) -> None:
        _redact_botocore_logs()
        self._factory = client_factory
        self._clients: dict[str, KmsClient] = {}
        self.discovery_filter = discovery_filter
        self._grant_tokens = tuple(grant_tokens)

    def __repr__(self) -> str:
        return f"AwsKmsDiscoveryKeyring(discovery_filter={self.discovery_filter!r})"

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Refused: discovery keyrings only decrypt."""
        raise ConfigurationError("a KMS discovery keyring cannot encrypt")

    def _client(self, region: str) -> KmsClient:
        client = self._clients.get(region)
        if client is None:
            client = self._clients[region] = self._factory(region)
        return client

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Try each ``aws-kms`` data key whose ARN passes the filter, in order."""
        if materials.data_key is not None:
            return materials
        tried: list[str] = []
        unavailable: KeyUnavailableError | None = None
        for edk in encrypted_data_keys:
            if edk.provider_id != PROVIDER_ID:
                continue
            try:
                key_id = edk.provider_info.decode("utf-8")
            except UnicodeDecodeError:
                continue
            arn = parse_key_arn(key_id)
            if arn is None or arn.resource_type != "key":
                continue
            if self.discovery_filter is not None and not self.discovery_filter.allows(arn):
                tried.append(f"aws-kms {key_id} (excluded by the discovery filter)")
                continue
            tried.append(f"aws-kms {key_id}")
            try:
                data_key = _decrypt_one(
                    self._client(arn.region), key_id, edk, materials, self._grant_tokens
                )
            except KeyUnavailableError as error:
                unavailable = unavailable or error
                continue
            if data_key is not None:
                return materials.with_data_key(data_key)
        if unavailable is not None:
            raise unavailable
        raise NoMatchingKeyError(
            "no KMS key could unwrap any encrypted data key",
            tried=tuple(tried) or ("aws-kms discovery (no aws-kms keys in the message)",),
        )

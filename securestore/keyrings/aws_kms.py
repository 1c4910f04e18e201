"""AWS KMS keyrings: :class:`AwsKmsKeyring` (one key, strict) and :class:`AwsKmsDiscoveryKeyring`.

Encrypted data keys have provider id ``aws-kms`` and the key ARN returned by
KMS as provider info. The encryption context is passed to every KMS call, so
KMS binds it too. KMS clients are injected (a boto3 KMS client, or a callable
from region name to client); this module creates none. botocore errors become
:class:`KeyUnavailableError` naming the key, never key bytes.

Provider info is read from an unauthenticated header: only valid key ARNs
(:mod:`securestore.keyrings.kms_arn`) are used, others are skipped and listed,
escaped, in the :class:`NoMatchingKeyError`; one failing data key never stops
the next from being tried. Multi-Region keys follow the ESDK's MRK-aware
keyrings (spec ``framework/aws-kms/aws-kms-mrk-*.md``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import (
    ConfigurationError,
    KeyUnavailableError,
    NoMatchingKeyError,
    SecureStoreError,
)
from securestore.keyrings.kms_arn import (
    KeyArn,
    check_arn,
    check_identifier,
    is_region,
    mrk_match,
    parse_key_arn,
    quote,
)
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "PROVIDER_ID",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "DiscoveryFilter",
    "KeyArn",
    "KmsClient",
    "mrk_match",
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

#: Clients kept by a discovery keyring: a hostile header cannot make it hold more.
DEFAULT_MAX_CLIENTS = 8


def _edk_key_arn(provider_info: bytes) -> KeyArn | str:
    """The key ARN an ``aws-kms`` data key names, or why it cannot be used."""
    try:
        text = provider_info.decode("utf-8")
    except UnicodeDecodeError:
        return "provider info is not UTF-8"
    arn = check_arn(text)
    if isinstance(arn, KeyArn) and arn.resource_type != "key":
        return "an alias ARN, not a key ARN"
    return arn


def _skipped(provider_info: bytes, reason: str) -> str:
    text = provider_info.decode("utf-8", "replace")
    return f"aws-kms {quote(text)} (skipped: {reason})"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def _unavailable(operation: str, key_id: str, error: Exception) -> KeyUnavailableError:
    detail = _code(error) if isinstance(error, ClientError) else type(error).__name__
    if not detail.isalnum():  # the endpoint chose it: escape it
        detail = quote(detail)
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
        raise _unavailable("Decrypt", key_id, error) from error
    except BotoCoreError as error:
        raise _unavailable("Decrypt", key_id, error) from error
    answered = response.get("KeyId")
    if answered != key_id:
        shown = quote(answered) if isinstance(answered, str) else "no key"
        raise KeyUnavailableError(
            f"KMS Decrypt for key {key_id} answered for {shown}; refused",
            hint="check the KMS endpoint in use: a genuine KMS names the key it used",
        )
    return _key_bytes(response, materials.suite.key_length, key_id)


def _decrypt_s3ec(
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
        raise _unavailable("Decrypt", shown, error) from error
    except BotoCoreError as error:
        raise _unavailable("Decrypt", shown, error) from error
    answered = response.get("KeyId")
    if not isinstance(answered, str) or (key_id is not None and answered != key_id):
        raise KeyUnavailableError(
            f"KMS Decrypt for key {shown} answered for another key; refused",
            hint="check the KMS endpoint in use: a genuine KMS names the key it used",
        )
    return _key_bytes(response, 32, shown), answered


def _no_match(message: str, tried: Sequence[str], skipped: Sequence[str]) -> NoMatchingKeyError:
    if skipped:
        message += "; unusable data keys: " + "; ".join(skipped)
    return NoMatchingKeyError(message, tried=(*tried, *skipped))


class AwsKmsKeyring:
    """One KMS key: generates or wraps data keys on encrypt, unwraps only its own on decrypt.

    ``key_id`` should be a key ARN (needed for decryption; an alias can only encrypt).
    Give ``client``, or ``client_factory`` (called with the ARN's region). A
    multi-Region key (``key/mrk-...``) also decrypts data keys wrapped by any of its
    replicas (or its primary), calling KMS with ``key_id`` in its own region, as the
    ESDK's MRK-aware keyring does.
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
        problem = check_identifier(key_id)
        if problem is not None:
            raise ConfigurationError(f"invalid KMS key id {quote(key_id)}: {problem}")
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
        if (
            not isinstance(arn, str)
            or not isinstance(blob, bytes)
            or isinstance(_edk_key_arn(arn.encode("utf-8")), str)
        ):
            raise KeyUnavailableError(f"KMS returned a malformed response for key {self.key_id}")
        edk = EncryptedDataKey(PROVIDER_ID, arn.encode("utf-8"), blob)
        return materials.with_data_key(data_key, edk)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Decrypt the first data key wrapped under this key (or a replica of it).

        Data keys whose provider info is no valid key ARN are skipped and reported;
        a KMS failure on one data key does not stop the next from being tried.
        """
        if materials.data_key is not None:
            return materials
        skipped: list[str] = []
        failure: KeyUnavailableError | None = None
        for edk in encrypted_data_keys:
            if edk.provider_id != PROVIDER_ID:
                continue
            arn = _edk_key_arn(edk.provider_info)
            if isinstance(arn, str):
                skipped.append(_skipped(edk.provider_info, arn))
                continue
            if not mrk_match(self.key_id, str(arn)):
                continue
            try:
                data_key = _decrypt_one(
                    self._client, self.key_id, edk, materials, self._grant_tokens
                )
            except KeyUnavailableError as error:
                failure = failure or error
                continue
            if data_key is not None:
                return materials.with_data_key(data_key)
        if failure is not None:
            raise failure
        raise _no_match(
            "no encrypted data key could be unwrapped with the KMS key", [self.describe()], skipped
        )

    def decrypt_s3ec(self, blob: bytes, context: Mapping[str, str]) -> bytearray | None:
        """Decrypt an S3 Encryption Client data key with this key; ``None`` if not ours.

        ``context`` is the stored encryption context, passed to KMS as is (the S3EC
        checks live in :mod:`securestore.s3ec`).
        """
        found = _decrypt_s3ec(self._client, self.key_id, blob, context, self._grant_tokens)
        return None if found is None else found[0]


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


class _ClientCache:
    """A small thread-safe LRU of KMS clients by region."""

    def __init__(self, factory: ClientFactory, size: int) -> None:
        if size < 1:
            raise ConfigurationError("a discovery keyring must keep at least one client")
        self._factory = factory
        self._size = size
        self._clients: OrderedDict[str, KmsClient] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients)

    def get(self, region: str) -> KmsClient:
        """The client for ``region``, created on first use; the oldest unused one goes."""
        with self._lock:
            client = self._clients.get(region)
            if client is not None:
                self._clients.move_to_end(region)
                return client
            client = self._factory(region)
            self._clients[region] = client
            while len(self._clients) > self._size:
                self._clients.popitem(last=False)
            return client


class AwsKmsDiscoveryKeyring:
    """Decrypts with whichever KMS key a message names (optionally filtered); cannot encrypt.

    ``client_factory`` maps a region name to a KMS client; it is called lazily and at
    most ``max_clients`` clients are kept. Without ``region`` each data key is
    decrypted in its key's own region. With ``region`` the keyring is the ESDK's
    MRK-aware discovery keyring for that region (spec
    ``framework/aws-kms/aws-kms-mrk-discovery-keyring.md``): it only calls KMS in
    ``region``, uses a multi-Region key through its replica there, and skips
    single-region keys of other regions.

    Data keys whose provider info is not a valid key ARN are skipped and reported;
    one failing data key never stops the next from being tried.
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory,
        discovery_filter: DiscoveryFilter | None = None,
        grant_tokens: Sequence[str] = (),
        region: str | None = None,
        max_clients: int = DEFAULT_MAX_CLIENTS,
    ) -> None:
        _redact_botocore_logs()
        if region is not None and not is_region(region):
            raise ConfigurationError(f"invalid region name {quote(region)}")
        self._clients = _ClientCache(client_factory, max_clients)
        self.discovery_filter = discovery_filter
        self.region = region
        self._grant_tokens = tuple(grant_tokens)

    def __repr__(self) -> str:
        return (
            f"AwsKmsDiscoveryKeyring(discovery_filter={self.discovery_filter!r}, "
            f"region={self.region!r})"
        )

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Refused: discovery keyrings only decrypt."""
        raise ConfigurationError("a KMS discovery keyring cannot encrypt")

    def _target(self, arn: KeyArn) -> KeyArn | str:
        """The key to call KMS with for a data key of ``arn``, or why there is none."""
        if self.discovery_filter is not None and not self.discovery_filter.allows(arn):
            return "excluded by the discovery filter"
        if self.region is None or arn.region == self.region:
            return arn
        if arn.multi_region:
            return arn.in_region(self.region)
        return f"a single-region key outside {self.region}"

    def _attempt(
        self, arn: KeyArn, edk: EncryptedDataKey, materials: DecryptionMaterials
    ) -> bytearray | None:
        try:
            client = self._clients.get(arn.region)
        except (BotoCoreError, ClientError, ValueError) as error:
            raise _unavailable("client creation", str(arn), error) from error
        return _decrypt_one(client, str(arn), edk, materials, self._grant_tokens)

    def decrypt_s3ec(
        self, blob: bytes, context: Mapping[str, str], *, region: str | None = None
    ) -> bytearray | None:
        """Decrypt an S3 Encryption Client data key with whichever key KMS finds.

        S3EC metadata names no key, so KMS is called in this keyring's region (or
        ``region``) without a key id; a data key whose key the discovery filter
        excludes is wiped and refused.
        """
        where = self.region or region
        if where is None:
            raise ConfigurationError("KMS discovery of an S3EC data key needs a region")
        try:
            client = self._clients.get(where)
        except (BotoCoreError, ClientError, ValueError) as error:
            raise _unavailable("client creation", where, error) from error
        found = _decrypt_s3ec(client, None, blob, context, self._grant_tokens)
        if found is None:
            return None
        data_key, answered = found
        arn = parse_key_arn(answered)
        if arn is None or (
            self.discovery_filter is not None and not self.discovery_filter.allows(arn)
        ):
            data_key[:] = bytes(len(data_key))
            raise NoMatchingKeyError(
                f"the S3EC data key is wrapped by {quote(answered)}, outside the discovery filter",
                tried=(f"aws-kms {quote(answered)} (excluded by the discovery filter)",),
            )
        return data_key

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Try each usable ``aws-kms`` data key that passes the filter, in order."""
        if materials.data_key is not None:
            return materials
        tried: list[str] = []
        skipped: list[str] = []
        failure: SecureStoreError | None = None
        for edk in encrypted_data_keys:
            if edk.provider_id != PROVIDER_ID:
                continue
            arn = _edk_key_arn(edk.provider_info)
            if isinstance(arn, str):
                skipped.append(_skipped(edk.provider_info, arn))
                continue
            target = self._target(arn)
            if isinstance(target, str):
                tried.append(f"aws-kms {arn} ({target})")
                continue
            tried.append(f"aws-kms {target}")
            try:
                data_key = self._attempt(target, edk, materials)
            except SecureStoreError as error:
                # The next data key may still work; the first failure is reported if none does.
                failure = failure or error
                continue
            if data_key is not None:
                return materials.with_data_key(data_key)
        if failure is not None:
            raise failure
        if not tried and not skipped:
            tried.append("aws-kms discovery (no aws-kms keys in the message)")
        raise _no_match("no KMS key could unwrap any encrypted data key", tried, skipped)

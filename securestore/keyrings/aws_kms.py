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

The discovery keyring lives in :mod:`securestore.keyrings.kms_discovery` and the KMS
calls both keyrings share in :mod:`securestore.keyrings.kms_calls`; both are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import ConfigurationError, KeyUnavailableError
from securestore.keyrings.kms_arn import (
    KeyArn,
    check_identifier,
    mrk_match,
    parse_key_arn,
    quote,
)
from securestore.keyrings.kms_calls import (
    DEFAULT_MAX_CLIENTS,
    PROVIDER_ID,
    ClientFactory,
    KmsClient,
    decrypt_one,
    decrypt_s3ec,
    edk_key_arn,
    key_bytes,
    no_match,
    redact_botocore_logs,
    skipped_key,
    unavailable,
)
from securestore.keyrings.kms_discovery import AwsKmsDiscoveryKeyring, DiscoveryFilter
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
        redact_botocore_logs()
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
                data_key = key_bytes(response, materials.suite.key_length, self.key_id)
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
            raise unavailable(operation, self.key_id, error) from error
        arn = response.get("KeyId")
        blob = response.get("CiphertextBlob")
        if (
            not isinstance(arn, str)
            or not isinstance(blob, bytes)
            or isinstance(edk_key_arn(arn.encode("utf-8")), str)
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
            arn = edk_key_arn(edk.provider_info)
            if isinstance(arn, str):
                skipped.append(skipped_key(edk.provider_info, arn))
                continue
            if not mrk_match(self.key_id, str(arn)):
                continue
            try:
                data_key = decrypt_one(
                    self._client, self.key_id, edk, materials, self._grant_tokens
                )
            except KeyUnavailableError as error:
                failure = failure or error
                continue
            if data_key is not None:
                return materials.with_data_key(data_key)
        if failure is not None:
            raise failure
        raise no_match(
            "no encrypted data key could be unwrapped with the KMS key", [self.describe()], skipped
        )

    def decrypt_s3ec(self, blob: bytes, context: Mapping[str, str]) -> bytearray | None:
        """Decrypt an S3 Encryption Client data key with this key; ``None`` if not ours.

        ``context`` is the stored encryption context, passed to KMS as is (the S3EC
        checks live in :mod:`securestore.s3ec`).
        """
        found = decrypt_s3ec(self._client, self.key_id, blob, context, self._grant_tokens)
        return None if found is None else found[0]

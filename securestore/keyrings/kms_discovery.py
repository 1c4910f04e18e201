"""KMS discovery: :class:`AwsKmsDiscoveryKeyring` decrypts with whichever key a message names.

Provider info comes from an unauthenticated header: only valid key ARNs are used
(:func:`~securestore.keyrings.kms_calls.edk_key_arn`), a :class:`DiscoveryFilter`
limits the partition and accounts, and at most ``max_clients`` KMS clients are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from securestore.errors import ConfigurationError, NoMatchingKeyError, SecureStoreError
from securestore.keyrings.kms_arn import KeyArn, is_region, parse_key_arn, quote
from securestore.keyrings.kms_calls import (
    DEFAULT_MAX_CLIENTS,
    PROVIDER_ID,
    ClientFactory,
    KmsClient,
    decrypt_one,
    decrypt_s3ec,
    edk_key_arn,
    no_match,
    redact_botocore_logs,
    skipped_key,
    unavailable,
)
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)

__all__ = ["AwsKmsDiscoveryKeyring", "DiscoveryFilter"]


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
        redact_botocore_logs()
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
            raise unavailable("client creation", str(arn), error) from error
        return decrypt_one(client, str(arn), edk, materials, self._grant_tokens)

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
            raise unavailable("client creation", where, error) from error
        found = decrypt_s3ec(client, None, blob, context, self._grant_tokens)
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
            arn = edk_key_arn(edk.provider_info)
            if isinstance(arn, str):
                skipped.append(skipped_key(edk.provider_info, arn))
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
        raise no_match("no KMS key could unwrap any encrypted data key", tried, skipped)

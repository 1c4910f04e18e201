"""Keyrings built from key options: key files, RSA key files, KMS key ids, branch keys.

The CLI's key options (``--key-file``, ``--rsa-public-key``/``--rsa-private-key``,
``--kms-key-id``, ``--branch-key-id`` with ``--key-store-table``) and the fsspec
filesystem's ``storage_options`` build their keyrings here, so both read the same
keys the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import botocore.exceptions

from securestore.errors import ConfigurationError, KeyUnavailableError
from securestore.keyrings.aws_kms import AwsKmsDiscoveryKeyring, AwsKmsKeyring, DiscoveryFilter
from securestore.keyrings.branch_keys import BranchKeyStore
from securestore.keyrings.hierarchy import AwsKmsHierarchicalKeyring
from securestore.keyrings.keyfiles import (
    load_aes_key_file,
    load_rsa_private_key_file,
    load_rsa_public_key_file,
)
from securestore.keyrings.kms_arn import parse_key_arn
from securestore.keyrings.multi import MultiKeyring
from securestore.keyrings.raw_aes import RawAesKeyring
from securestore.keyrings.raw_rsa import RawRsaKeyring
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
)
from securestore.transport import Connection

__all__ = [
    "DEFAULT_BRANCH_KEY_TTL",
    "DEFAULT_KEY_NAME",
    "KEY_NAMESPACE",
    "AccountDiscoveryKeyring",
    "branch_key_store",
    "combine",
    "hierarchical_keyring",
    "kms_keyrings",
    "raw_keyrings",
]

#: The raw keyrings' key namespace; the key name defaults to ``default`` (``--key-name``).
KEY_NAMESPACE = "securestore"
DEFAULT_KEY_NAME = "default"


def raw_keyrings(
    key_files: Sequence[str],
    rsa_keys: Sequence[str],
    key_name: str,
    *,
    reading: bool,
    rsa_passphrase: Callable[[str], bytes | None] | None = None,
) -> list[Keyring]:
    """Raw AES and RSA keyrings from key files (permissions checked).

    ``rsa_passphrase(path)`` is asked for the passphrase of each encrypted RSA
    private key (only when reading).
    """
    keyrings: list[Keyring] = []
    for path in key_files:
        keyrings.append(RawAesKeyring(KEY_NAMESPACE, key_name, load_aes_key_file(path)))
    for path in rsa_keys:
        if reading:
            keyrings.append(
                RawRsaKeyring(
                    KEY_NAMESPACE,
                    key_name,
                    private_key=load_rsa_private_key_file(
                        path, password=_asker(rsa_passphrase, path)
                    ),
                )
            )
        else:
            keyrings.append(
                RawRsaKeyring(KEY_NAMESPACE, key_name, public_key=load_rsa_public_key_file(path))
            )
    return keyrings


def _asker(
    rsa_passphrase: Callable[[str], bytes | None] | None, path: str
) -> Callable[[], bytes | None] | None:
    if rsa_passphrase is None:
        return None
    return lambda: rsa_passphrase(path)


def kms_keyrings(connection: Connection, key_ids: Sequence[str]) -> list[Keyring]:
    """Strict KMS keyrings, each using a client in its key's region."""
    keyrings: list[Keyring] = []
    for key_id in key_ids:
        if key_id.startswith("arn:"):
            # The key's own region, taken from its ARN.
            factory = lambda region: connection.client("kms", region)  # noqa: E731
            keyrings.append(AwsKmsKeyring(key_id, client_factory=factory))
        else:
            keyrings.append(AwsKmsKeyring(key_id, client=connection.client("kms")))
    return keyrings


def decrypting_kms_keyrings(connection: Connection, key_ids: Sequence[str]) -> list[Keyring]:
    """:func:`kms_keyrings` for decrypting: aliases and bare key ids become key ARNs first.

    A message names its KMS data keys by key ARN, and a strict keyring unwraps only
    those that match its own key, so an alias (``alias/team``, or an alias ARN) would
    match nothing. It is resolved with ``DescribeKey`` (the key it points to now),
    as a read's ``--require kms --kms-key-id alias/...`` is.

    Raises:
        KeyUnavailableError: KMS could not describe the key (unknown, denied, disabled).
    """
    resolved = []
    for key_id in key_ids:
        arn = parse_key_arn(key_id) if key_id.startswith("arn:") else None
        if arn is not None and arn.resource_type == "key":
            resolved.append(key_id)
            continue
        region = arn.region if arn is not None else None
        try:
            meta = connection.client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise KeyUnavailableError(
                f"KMS key {key_id} could not be resolved to a key ARN: {code}",
                hint="decrypting needs the key's ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or "
                "an alias this identity may describe (kms:DescribeKey)",
            ) from exc
        resolved.append(str(meta["Arn"]))
    return kms_keyrings(connection, resolved)


#: Seconds a fetched branch key is used before the key store (KMS) is asked again.
DEFAULT_BRANCH_KEY_TTL = 300


def branch_key_store(
    connection: Connection, table: str, *, kms_key_arn: str | None = None
) -> BranchKeyStore:
    """The branch key store in DynamoDB table ``table`` (the connection's region).

    With ``kms_key_arn`` (a key ARN) it can create and rotate branch keys and only
    reads items wrapped by that key; without it, it reads with the key each item
    names (discovery) and can neither create nor rotate.
    """
    arn = parse_key_arn(kms_key_arn) if kms_key_arn is not None else None
    kms = connection.client("kms", arn.region) if arn is not None else connection.client("kms")
    return BranchKeyStore(
        table, kms_key_arn=kms_key_arn, dynamodb=connection.client("dynamodb"), kms=kms
    )


def hierarchical_keyring(
    connection: Connection,
    branch_key_id: str,
    table: str,
    *,
    kms_key_arn: str | None = None,
    ttl_seconds: float = DEFAULT_BRANCH_KEY_TTL,
) -> AwsKmsHierarchicalKeyring:
    """An AWS KMS Hierarchical keyring on branch key ``branch_key_id`` of ``table``."""
    store = branch_key_store(connection, table, kms_key_arn=kms_key_arn)
    return AwsKmsHierarchicalKeyring(branch_key_id, store, ttl_seconds=ttl_seconds)


def combine(keyrings: Sequence[Keyring]) -> Keyring:
    """One keyring from several: the first generates the data key, all wrap it."""
    if not keyrings:
        raise ConfigurationError("no key given")
    if len(keyrings) == 1:
        return keyrings[0]
    return MultiKeyring(generator=keyrings[0], children=keyrings[1:])


class AccountDiscoveryKeyring:
    """KMS discovery limited to the caller's own account (looked up on first use).

    Used by ``get --client-side`` when no key is named: it decrypts data keys wrapped by any
    KMS key of the caller's account, and never a key of another account.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._inner: AwsKmsDiscoveryKeyring | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "AccountDiscoveryKeyring()"

    def _keyring(self) -> AwsKmsDiscoveryKeyring:
        with self._lock:
            if self._inner is None:
                try:
                    arn = self._connection.client("sts").get_caller_identity()["Arn"]
                except Exception as exc:
                    raise KeyUnavailableError(
                        "cannot look up your AWS account for KMS discovery",
                        hint="name the key with --kms-key-id, --key-file or --rsa-private-key",
                    ) from exc
                parts = str(arn).split(":")
                self._inner = AwsKmsDiscoveryKeyring(
                    client_factory=lambda region: self._connection.client("kms", region),
                    discovery_filter=DiscoveryFilter(parts[1], [parts[4]]),
                )
            return self._inner

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise ConfigurationError("KMS discovery can only decrypt")

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return self._keyring().unwrap(materials, encrypted_data_keys)

    def decrypt_s3ec(self, blob: bytes, context: Mapping[str, str]) -> bytearray | None:
        """Decrypt an S3 Encryption Client data key with a KMS key of your account."""
        return self._keyring().decrypt_s3ec(blob, context, region=self._connection.region)

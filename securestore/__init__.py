"""securestore: encrypted object storage on Amazon S3 and S3-compatible stores.

The facade is :class:`SecureStore`; encryption modes are :class:`SseS3`,
:class:`SseKms`, :class:`DsseKms` and :class:`ClientSide` (AWS Encryption SDK
messages, with keyrings :class:`AwsKmsKeyring`, :class:`RawAesKeyring`,
:class:`RawRsaKeyring`, :class:`MultiKeyring`); every connection is TLS-only
(:class:`Connection`); errors derive from :class:`SecureStoreError`. Trees
move with :func:`copy_tree`, :func:`sync`, :func:`move_tree`, :func:`remove_tree`
and :func:`remove_bucket` (:mod:`securestore.tree`).
"""

from securestore.clientside import ClientSide, ClientSideReader
from securestore.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    FormatError,
    IntegrityError,
    InvalidLocationError,
    KeyringError,
    KeyUnavailableError,
    LocalFileError,
    NoMatchingKeyError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransferError,
    TransportSecurityError,
)
from securestore.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    DiscoveryFilter,
    Keyring,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
)
from securestore.location import S3Url
from securestore.message import DecryptPolicy, HeaderLimits
from securestore.modes import DsseKms, EncryptionMode, SseKms, SseS3, StoredEncryption
from securestore.offline import decrypt_file, decrypt_tree, encrypt_file, encrypt_tree
from securestore.reader import ObjectReader
from securestore.rewrap import RewrapResult
from securestore.store import ObjectInfo, ObjectSummary, SecureStore, create_bucket
from securestore.transfer import TransferConfig
from securestore.transport import Connection
from securestore.tree import (
    Filters,
    TransferManager,
    TreeOptions,
    TreeResult,
    copy_tree,
    move_tree,
    remove_bucket,
    remove_tree,
    sync,
)

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "ClientSide",
    "ClientSideReader",
    "ConfigurationError",
    "Connection",
    "DecryptPolicy",
    "DiscoveryFilter",
    "DsseKms",
    "EncryptionMode",
    "Filters",
    "FormatError",
    "HeaderLimits",
    "IntegrityError",
    "InvalidLocationError",
    "KeyUnavailableError",
    "Keyring",
    "KeyringError",
    "LocalFileError",
    "MultiKeyring",
    "NoMatchingKeyError",
    "NotFoundError",
    "ObjectInfo",
    "ObjectReader",
    "ObjectSummary",
    "PolicyError",
    "PreconditionFailedError",
    "RawAesKeyring",
    "RawRsaKeyring",
    "RewrapResult",
    "S3Url",
    "SecureStore",
    "SecureStoreError",
    "SseKms",
    "SseS3",
    "StorageError",
    "StoredEncryption",
    "TransferConfig",
    "TransferError",
    "TransferManager",
    "TransportSecurityError",
    "TreeOptions",
    "TreeResult",
    "__version__",
    "copy_tree",
    "create_bucket",
    "decrypt_file",
    "decrypt_tree",
    "encrypt_file",
    "encrypt_tree",
    "move_tree",
    "remove_bucket",
    "remove_tree",
    "sync",
]

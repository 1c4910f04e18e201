"""securestore: encrypted object storage on Amazon S3 and S3-compatible stores.

The facade is :class:`SecureStore`; encryption modes are :class:`SseS3`,
:class:`SseKms` and :class:`DsseKms`; every connection is TLS-only
(:class:`Connection`); errors derive from :class:`SecureStoreError`.
"""

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
from securestore.location import S3Url
from securestore.modes import DsseKms, EncryptionMode, SseKms, SseS3, StoredEncryption
from securestore.reader import ObjectReader
from securestore.store import ObjectInfo, ObjectSummary, SecureStore, create_bucket
from securestore.transfer import TransferConfig
from securestore.transport import Connection

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConfigurationError",
    "Connection",
    "DsseKms",
    "EncryptionMode",
    "FormatError",
    "IntegrityError",
    "InvalidLocationError",
    "KeyUnavailableError",
    "KeyringError",
    "LocalFileError",
    "NoMatchingKeyError",
    "NotFoundError",
    "ObjectInfo",
    "ObjectReader",
    "ObjectSummary",
    "PolicyError",
    "PreconditionFailedError",
    "S3Url",
    "SecureStore",
    "SecureStoreError",
    "SseKms",
    "SseS3",
    "StorageError",
    "StoredEncryption",
    "TransferConfig",
    "TransferError",
    "TransportSecurityError",
    "__version__",
    "create_bucket",
]

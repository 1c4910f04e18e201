"""securestore: encrypted object storage on Amazon S3 and S3-compatible stores.

The facade is :class:`SecureStore`; encryption modes are :class:`SseS3`,
:class:`SseKms`, :class:`DsseKms` and :class:`ClientSide` (AWS Encryption SDK
messages, with keyrings :class:`AwsKmsKeyring`, :class:`RawAesKeyring`,
:class:`RawRsaKeyring`, :class:`MultiKeyring`); every connection is TLS-only
(:class:`Connection`); errors derive from :class:`SecureStoreError`. Trees
move with :func:`copy_tree`, :func:`sync`, :func:`move_tree`, :func:`remove_tree`
and :func:`remove_bucket` (:mod:`securestore.tree`); local files are encrypted
with :func:`encrypt_file` and :func:`decrypt_file` (:mod:`securestore.offline`).

Only the errors are imported eagerly: every other name is imported on first use
(PEP 562), so that a program which needs one small piece (the CLI printing its help,
say) does not pay for boto3, cryptography and the message engine.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from securestore.errors import (
    AccessDeniedError,
    ArchivedObjectError,
    AuthenticationError,
    ConfigurationError,
    EndpointUnreachableError,
    FileChangedError,
    FormatError,
    IntegrityError,
    InvalidLocationError,
    KeyringError,
    KeyUnavailableError,
    LocalFileError,
    NoMatchingKeyError,
    NotAMessageError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransferError,
    TransportSecurityError,
)

if _typing.TYPE_CHECKING:
    from securestore.account import create_bucket
    from securestore.attributes import ObjectAttributes
    from securestore.clientside import ClientSide
    from securestore.clientside_reader import ClientSideReader
    from securestore.keyrings import (
        AwsKmsDiscoveryKeyring,
        AwsKmsHierarchicalKeyring,
        AwsKmsKeyring,
        BranchKeyStore,
        DiscoveryFilter,
        Keyring,
        MultiKeyring,
        RawAesKeyring,
        RawRsaKeyring,
    )
    from securestore.location import S3Url
    from securestore.message import DecryptPolicy, HeaderLimits
    from securestore.modes import DsseKms, EncryptionMode, SseKms, SseS3, StoredEncryption
    from securestore.objects import CommonPrefix, ObjectInfo, ObjectSummary, ObjectVersion
    from securestore.offline import decrypt_file, decrypt_tree, encrypt_file, encrypt_tree
    from securestore.prefix_rewrap import PrefixRewrap, rewrap_prefix
    from securestore.reader import ObjectReader
    from securestore.rewrap import RewrapResult
    from securestore.store import SecureStore
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
    )

    # The function, by its own module: mypy may take ``securestore.tree.sync`` for the
    # submodule of that name, depending on the order it checks the import cycle in.
    from securestore.tree.operations import sync

#: Where each lazily imported public name lives.
_LAZY = {
    "AwsKmsDiscoveryKeyring": "securestore.keyrings",
    "AwsKmsHierarchicalKeyring": "securestore.keyrings",
    "AwsKmsKeyring": "securestore.keyrings",
    "BranchKeyStore": "securestore.keyrings",
    "ClientSide": "securestore.clientside",
    "ClientSideReader": "securestore.clientside_reader",
    "CommonPrefix": "securestore.objects",
    "Connection": "securestore.transport",
    "DecryptPolicy": "securestore.message",
    "DiscoveryFilter": "securestore.keyrings",
    "DsseKms": "securestore.modes",
    "EncryptionMode": "securestore.modes",
    "HeaderLimits": "securestore.message",
    "Keyring": "securestore.keyrings",
    "MultiKeyring": "securestore.keyrings",
    "ObjectAttributes": "securestore.attributes",
    "ObjectInfo": "securestore.objects",
    "ObjectReader": "securestore.reader",
    "ObjectSummary": "securestore.objects",
    "ObjectVersion": "securestore.objects",
    "RawAesKeyring": "securestore.keyrings",
    "RawRsaKeyring": "securestore.keyrings",
    "RewrapResult": "securestore.rewrap",
    "S3Url": "securestore.location",
    "SecureStore": "securestore.store",
    "SseKms": "securestore.modes",
    "SseS3": "securestore.modes",
    "StoredEncryption": "securestore.modes",
    "TransferConfig": "securestore.transfer",
    "Filters": "securestore.tree",
    "TransferManager": "securestore.tree",
    "TreeOptions": "securestore.tree",
    "TreeResult": "securestore.tree",
    "copy_tree": "securestore.tree",
    "decrypt_file": "securestore.offline",
    "decrypt_tree": "securestore.offline",
    "encrypt_file": "securestore.offline",
    "encrypt_tree": "securestore.offline",
    "move_tree": "securestore.tree",
    "remove_bucket": "securestore.tree",
    "remove_tree": "securestore.tree",
    "sync": "securestore.tree",
    "PrefixRewrap": "securestore.prefix_rewrap",
    "rewrap_prefix": "securestore.prefix_rewrap",
    "create_bucket": "securestore.account",
}

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "ArchivedObjectError",
    "AuthenticationError",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsHierarchicalKeyring",
    "AwsKmsKeyring",
    "BranchKeyStore",
    "ClientSide",
    "ClientSideReader",
    "CommonPrefix",
    "ConfigurationError",
    "Connection",
    "DecryptPolicy",
    "DiscoveryFilter",
    "DsseKms",
    "EncryptionMode",
    "EndpointUnreachableError",
    "FileChangedError",
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
    "NotAMessageError",
    "NotFoundError",
    "ObjectAttributes",
    "ObjectInfo",
    "ObjectReader",
    "ObjectSummary",
    "ObjectVersion",
    "PolicyError",
    "PreconditionFailedError",
    "PrefixRewrap",
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
    "rewrap_prefix",
    "sync",
]


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'securestore' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

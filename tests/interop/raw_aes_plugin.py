"""A master key provider plugin giving ``aws-encryption-cli`` raw AES-256 keys.

The ESDK CLI only ships the ``aws-kms`` provider; any other wrapping key needs a
package that registers a callable under the entry point group
``aws_encryption_sdk_cli.master_key_providers``. ``esdk_cli.py`` installs this
file as such a package into the CLI's own virtual environment, so that it runs
there (with ``aws-encryption-sdk`` 3.x), never in securestore's environment.

Usage::

    aws-encryption-cli ... --wrapping-keys provider=securestore-raw-aes \\
        key=default key-file=team.key namespace=securestore

``key`` is the key name inside the message, ``namespace`` the provider id
(securestore's defaults: ``securestore`` / ``default``), ``key-file`` a
securestore AES key file (one line of base64, or 16/24/32 raw bytes).
"""

from __future__ import annotations

import base64
from typing import Any

from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

ENTRY_POINT = "securestore-raw-aes"


def _load_key(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) in (16, 24, 32):
        return data
    key = base64.b64decode(data.strip(), validate=True)
    if len(key) != 32:
        raise ValueError(f"{path}: not an AES-256 key file")
    return key


class SecurestoreRawAesProvider(RawMasterKeyProvider):
    """Raw AES-256-GCM wrapping keys read from securestore key files."""

    provider_id = "securestore"

    def _get_raw_key(self, key_id: bytes) -> Any:
        return WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=self._key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def raw_aes_provider(**kwargs: list[str]) -> SecurestoreRawAesProvider:
    """The entry point: ``kwargs`` are the CLI's ``name=value`` pairs, each a list."""
    key_files = kwargs.get("key-file", [])
    if len(key_files) != 1:
        raise ValueError("securestore-raw-aes needs exactly one key-file=PATH")
    namespaces = kwargs.get("namespace", ["securestore"])
    if len(namespaces) != 1:
        raise ValueError("securestore-raw-aes takes at most one namespace=NAME")
    provider = SecurestoreRawAesProvider()
    provider.provider_id = namespaces[0]
    provider._key = _load_key(key_files[0])
    return provider

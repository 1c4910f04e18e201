"""The raw AES keyring: data keys wrapped with a local AES-GCM key.

Interoperable with the ESDK raw AES keyring and with ``RawMasterKey`` using
``AES_256_GCM_IV12_TAG16_NO_PADDING``. The encrypted data key's provider id is
the key namespace; its provider info is the key name, the tag length in bits
(4 bytes, 128), the IV length (4 bytes, 12) and the IV; its ciphertext is the
wrapped key followed by the tag. The AAD is the serialized encryption context.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

import securestore.arguments as args
from securestore.errors import ConfigurationError, NoMatchingKeyError
from securestore.message.context import serialize_context
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)

__all__ = ["RawAesKeyring"]

_TAG_BITS = 128
_IV_LENGTH = 12


class RawAesKeyring:
    """Wraps data keys with an AES-128/192/256-GCM key held in memory.

    ``namespace`` and ``name`` identify the key in every message; they are not
    secret. The key itself never appears in ``repr`` or errors.

    Raises:
        ConfigurationError: ``key`` is not 16, 24 or 32 bytes (a ``str``, a file's
            path: read a key file with :func:`~securestore.keyrings.load_aes_key_file`),
            or ``namespace`` or ``name`` is not a non-empty ``str``.
    """

    @args.checked(
        {
            "namespace": args.text,
            "name": args.text,
            "key": args.instance_of(
                (bytes, bytearray),
                "the key's bytes (16, 24 or 32)",
                hint="load_aes_key_file(path) reads a key file; bytes.fromhex() decodes hex",
            ),
        }
    )
    def __init__(self, namespace: str, name: str, key: bytes | bytearray) -> None:
        if len(key) not in (16, 24, 32):
            raise ConfigurationError("a raw AES wrapping key must be 16, 24 or 32 bytes long")
        if not namespace or not name:
            raise ConfigurationError("a raw AES keyring needs a namespace and a key name")
        self.namespace = namespace
        self.name = name
        self._name_bytes = name.encode("utf-8")
        self._aead = AESGCM(bytes(key))
        self._key = bytes(key)

    def __repr__(self) -> str:
        return f"RawAesKeyring(namespace={self.namespace!r}, name={self.name!r})"

    def describe(self) -> str:
        """A secret-free description of the key, for error messages."""
        return f"raw-aes {self.namespace}/{self.name}"

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Generate the data key if absent, then add a copy wrapped with this key."""
        data_key = materials.data_key
        if data_key is None:
            data_key = bytearray(os.urandom(materials.suite.key_length))
        iv = os.urandom(_IV_LENGTH)
        aad = serialize_context(materials.encryption_context)
        wrapped = self._aead.encrypt(iv, bytes(data_key), aad)
        info = self._name_bytes + struct.pack(">II", _TAG_BITS, _IV_LENGTH) + iv
        return materials.with_data_key(data_key, EncryptedDataKey(self.namespace, info, wrapped))

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Return materials with the first data key this key unwraps, else raise."""
        if materials.data_key is not None:
            return materials
        aad = serialize_context(materials.encryption_context)
        prefix = self._name_bytes + struct.pack(">II", _TAG_BITS, _IV_LENGTH)
        named = False
        for edk in encrypted_data_keys:
            info = edk.provider_info
            if (
                edk.provider_id != self.namespace
                or len(info) != len(prefix) + _IV_LENGTH
                or not info.startswith(prefix)
                or len(edk.ciphertext) < 16
            ):
                continue
            named = True
            try:
                plain = self._aead.decrypt(info[len(prefix) :], edk.ciphertext, aad)
            except InvalidTag:
                continue
            if len(plain) != materials.suite.key_length:
                continue
            return materials.with_data_key(bytearray(plain))
        if named:
            # The wrap's AAD is the encryption context: a changed header and another
            # key under the same name fail alike, so the error must not blame the key.
            raise NoMatchingKeyError(
                "the data key wrapped for this raw AES key's name does not open with it",
                tried=(self.describe(),),
                hint="the key file is another key under the same name, or the message's "
                "header (its encryption context) was changed after it was written",
            )
        raise NoMatchingKeyError(
            "no encrypted data key could be unwrapped with the raw AES key",
            tried=(self.describe(),),
        )

    def decrypt_s3ec(self, wrap: str, encrypted_key: bytes, aad: bytes) -> bytes | None:
        """Unwrap an S3 Encryption Client data key, or ``None`` if this key did not wrap it.

        ``AES/GCM``: 12-byte IV, then the wrapped key and its tag, bound to ``aad``.
        ``AESWrap`` (RFC 3394, a legacy S3EC wrap) ignores ``aad``. The S3EC format
        itself lives in :mod:`securestore.s3ec`.
        """
        try:
            if wrap == "AES/GCM" and len(encrypted_key) > _IV_LENGTH + 16:
                return self._aead.decrypt(
                    encrypted_key[:_IV_LENGTH], encrypted_key[_IV_LENGTH:], aad
                )
            if wrap == "AESWrap":
                return aes_key_unwrap(self._key, encrypted_key)
        except (InvalidTag, InvalidUnwrap, ValueError):
            return None
        return None

"""The keyring contract: encrypted data keys, materials and the :class:`Keyring` protocol.

A keyring has two operations, in the spirit of the ESDK keyring specification:
``wrap`` generates a data key when the materials have none yet (a *generator*),
then adds an encrypted copy of it; ``unwrap`` returns materials holding the
plaintext data key, or raises :class:`~securestore.errors.NoMatchingKeyError`
naming the keys it tried. Data keys live in ``bytearray`` objects so they can be
wiped, and never appear in ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from securestore.errors import ConfigurationError
from securestore.message.suites import AlgorithmSuite

__all__ = [
    "DecryptionMaterials",
    "EncryptedDataKey",
    "EncryptionMaterials",
    "Keyring",
    "describe_edks",
    "wipe",
]


#: What a raw AES keyring writes after the key name in the provider info: the tag
#: length in bits (128) and the IV length in bytes (12) as 4-byte integers, then the IV.
_RAW_AES_LENGTHS = (128).to_bytes(4, "big") + (12).to_bytes(4, "big")
_RAW_AES_SUFFIX = len(_RAW_AES_LENGTHS) + 12


@dataclass(frozen=True)
class EncryptedDataKey:
    """One wrapped copy of the data key, as stored in the message header."""

    provider_id: str
    provider_info: bytes
    ciphertext: bytes = field(repr=False)

    def describe(self) -> str:
        """A secret-free description: the provider id and the key's name.

        The name is given whole (up to 256 bytes, then ``...``), unprintable
        characters included: a name that only starts like the caller's key must
        not read as it. Escaping is for whoever prints it (the CLI does). A raw
        AES keyring's tag length, IV length and IV after the name are left out.
        """
        info = self.provider_info
        if len(info) >= _RAW_AES_SUFFIX and info[-_RAW_AES_SUFFIX:][:8] == _RAW_AES_LENGTHS:
            info = info[:-_RAW_AES_SUFFIX]
        name = info[:256].decode("utf-8", "backslashreplace") + ("..." if len(info) > 256 else "")
        return f"{self.provider_id} {name}" if name else self.provider_id


def _frozen(context: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(context))


@dataclass(frozen=True)
class EncryptionMaterials:
    """What a keyring receives and returns on encryption.

    ``data_key`` is ``None`` until a generator keyring creates it.
    """

    suite: AlgorithmSuite
    encryption_context: Mapping[str, str]
    data_key: bytearray | None = field(default=None, repr=False)
    encrypted_data_keys: tuple[EncryptedDataKey, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "encryption_context", _frozen(self.encryption_context))

    def with_data_key(
        self, data_key: bytearray, encrypted_data_key: EncryptedDataKey
    ) -> EncryptionMaterials:
        """Return a copy holding ``data_key`` and one more encrypted data key."""
        return EncryptionMaterials(
            self.suite,
            self.encryption_context,
            data_key,
            (*self.encrypted_data_keys, encrypted_data_key),
        )


@dataclass(frozen=True)
class DecryptionMaterials:
    """What a keyring receives and returns on decryption."""

    suite: AlgorithmSuite
    encryption_context: Mapping[str, str]
    data_key: bytearray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encryption_context", _frozen(self.encryption_context))

    def with_data_key(self, data_key: bytearray) -> DecryptionMaterials:
        """Return a copy holding the unwrapped ``data_key``."""
        return DecryptionMaterials(self.suite, self.encryption_context, data_key)


@runtime_checkable
class Keyring(Protocol):
    """Wraps and unwraps data keys. Implementations must be safe to share between threads."""

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Generate the data key if absent, then add an encrypted copy of it."""
        ...

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Return materials holding the data key, or raise ``NoMatchingKeyError``."""
        ...


def check_keyring(value: object, what: str = "keyring") -> None:
    """Refuse ``value`` early unless it has a keyring's ``wrap`` and ``unwrap``.

    Raises:
        ConfigurationError: ``value`` is not a keyring (``None``, a key's bytes, a path).
    """
    if not (callable(getattr(value, "wrap", None)) and callable(getattr(value, "unwrap", None))):
        raise ConfigurationError(
            f"{what} must be a keyring (with wrap and unwrap), not {type(value).__name__}",
            hint="build one, e.g. RawAesKeyring(namespace, name, key_bytes)",
        )


def wipe(buffer: bytearray | None) -> None:
    """Overwrite a key buffer with zeros (best effort: Python may hold other copies)."""
    if buffer is not None:
        buffer[:] = bytes(len(buffer))


def describe_edks(encrypted_data_keys: Sequence[EncryptedDataKey]) -> str:
    """A secret-free list of the keys a message was encrypted for."""
    return ", ".join(edk.describe() for edk in encrypted_data_keys) or "none"

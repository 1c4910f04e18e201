"""S3 Encryption Client content decryption: suites, key commitment, GCM, CTR and CBC.

Follows ``s3-encryption/key-derivation.md``, ``key-commitment.md`` and
``decryption.md`` (docs/format.md, "S3 Encryption Client objects"). Pure: no I/O.

A whole S3EC object is one AES-GCM ciphertext with its 16-byte tag at the end, so
nothing it decrypts is authentic before the last byte was read.
:class:`GcmStream` holds the tag back and checks it in :meth:`GcmStream.finalize`;
:func:`ctr_decrypt` decrypts any 16-byte aligned piece (GCM is CTR underneath)
and must only be used on bytes that a finished :class:`GcmStream` vouched for.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from securestore.errors import AuthenticationError, FormatError, PolicyError
from securestore.s3ec.metadata import ContentMetadata

__all__ = [
    "BLOCK",
    "CBC",
    "COMMITTING",
    "GCM",
    "TAG_LENGTH",
    "CbcRange",
    "ContentKey",
    "GcmStream",
    "Suite",
    "content_key",
    "ctr_decrypt",
    "suite_for",
]

BLOCK = 16
TAG_LENGTH = 16
_DATA_KEY_LENGTH = 32
#: GCM allows 2^32 - 2 blocks of plaintext per IV.
MAX_GCM_PLAINTEXT = ((1 << 32) - 2) * BLOCK


@dataclass(frozen=True)
class Suite:
    """One S3EC content algorithm suite.

    ``cipher_name`` is what the raw keyrings bind the data key to (the Java
    reference's ``cipherName``); ``legacy`` marks unauthenticated content.
    """

    suite_id: int
    name: str
    cipher_name: str
    legacy: bool
    committing: bool


CBC = Suite(0x0070, "ALG_AES_256_CBC_IV16_NO_KDF", "AES/CBC/PKCS5Padding", True, False)
GCM = Suite(0x0072, "ALG_AES_256_GCM_IV12_TAG16_NO_KDF", "AES/GCM/NoPadding", False, False)
COMMITTING = Suite(
    0x0073, "ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY", "AES/GCM/NoPadding", False, True
)
_BY_CIPHER = {"AES/CBC/PKCS5Padding": CBC, "AES/GCM/NoPadding": GCM, "115": COMMITTING}
_COMMIT_LENGTH = 28
_MESSAGE_ID_LENGTH = 28
_COMMITTING_IV = b"\x01" * 12


def suite_for(metadata: ContentMetadata, *, allow_legacy_unauthenticated: bool) -> Suite:
    """The content suite ``metadata`` names, checked against its format version.

    Raises:
        FormatError: an unknown cipher, or one that the format version cannot carry.
        PolicyError: an unauthenticated legacy suite without the opt-in.
    """
    suite = _BY_CIPHER.get(metadata.content_cipher)
    if suite is None:
        raise FormatError(f"unknown S3EC content cipher {metadata.content_cipher[:40]!r}")
    if (suite is COMMITTING) != (metadata.version == 3) or (suite is GCM and metadata.version != 2):
        raise FormatError(
            f"the S3EC content cipher {metadata.content_cipher!r} cannot appear in a "
            f"V{metadata.version} object"
        )
    if suite.legacy and not allow_legacy_unauthenticated:
        raise PolicyError(
            f"refusing to read: the object is encrypted with {suite.name} (AES-CBC), an "
            "unauthenticated legacy S3 Encryption Client mode whose content nobody can vouch for",
            hint="to read it anyway, accepting unauthenticated content: get "
            "--allow-legacy-unauthenticated (library: allow_legacy_unauthenticated=True); "
            "better, migrate it: securestore migrate --allow-legacy-unauthenticated",
        )
    return suite


@dataclass(frozen=True)
class ContentKey:
    """The key, IV and AAD that decrypt one object's content."""

    suite: Suite
    key: bytes
    iv: bytes
    aad: bytes

    def __repr__(self) -> str:
        return f"ContentKey(suite={self.suite.name})"


def _extract(data_key: bytes, message_id: bytes) -> bytes:
    """HKDF-SHA512 extract, salted with the message id (key-derivation.md)."""
    return hmac.new(message_id, data_key, hashlib.sha512).digest()


def _expand(prk: bytes, label: bytes, length: int) -> bytes:
    info = COMMITTING.suite_id.to_bytes(2, "big") + label
    return HKDFExpand(hashes.SHA512(), length, info).derive(prk)


def content_key(metadata: ContentMetadata, suite: Suite, data_key: bytes | bytearray) -> ContentKey:
    """The content key for ``metadata`` from its unwrapped data key.

    For the committing suite the stored commitment is compared with the derived
    one in constant time, and the derived key is handed out only if they match
    (decryption.md, "Decrypting With Commitment").

    Raises:
        FormatError: a data key, IV, message id or commitment of the wrong length.
        AuthenticationError: the commitment does not match (the one fixed message).
    """
    if len(data_key) != _DATA_KEY_LENGTH:
        raise FormatError("the S3EC data key is not an AES-256 key")
    if suite is COMMITTING:
        if len(metadata.message_id) != _MESSAGE_ID_LENGTH:
            raise FormatError("the S3EC V3 message id (x-amz-i) is not 28 bytes")
        if len(metadata.commitment) != _COMMIT_LENGTH:
            raise FormatError("the S3EC V3 key commitment (x-amz-d) is not 28 bytes")
        prk = _extract(bytes(data_key), metadata.message_id)
        if not hmac.compare_digest(_expand(prk, b"COMMITKEY", _COMMIT_LENGTH), metadata.commitment):
            raise AuthenticationError()
        # Only now, with the commitment verified, is the encryption key derived.
        derived = _expand(prk, b"DERIVEKEY", _DATA_KEY_LENGTH)
        return ContentKey(suite, derived, _COMMITTING_IV, COMMITTING.suite_id.to_bytes(2, "big"))
    expected_iv = 12 if suite is GCM else BLOCK
    if len(metadata.iv) != expected_iv:
        raise FormatError(f"the S3EC IV (x-amz-iv) is not {expected_iv} bytes")
    return ContentKey(suite, bytes(data_key), metadata.iv, b"")


def plaintext_size(suite: Suite, ciphertext_size: int) -> int:
    """The plaintext length of a GCM object of ``ciphertext_size`` bytes."""
    if suite is CBC:
        raise ValueError("CBC plaintext size depends on the padding")
    if ciphertext_size < TAG_LENGTH:
        raise FormatError("the S3EC object is shorter than its authentication tag")
    if ciphertext_size - TAG_LENGTH > MAX_GCM_PLAINTEXT:
        raise FormatError("the S3EC object is larger than AES-GCM can encrypt under one IV")
    return ciphertext_size - TAG_LENGTH


class GcmStream:
    """Streaming AES-GCM decryption that keeps the trailing tag out of the cipher.

    Feed the whole ciphertext (tag included) to :meth:`update`, then call
    :meth:`finalize`; plaintext returned before ``finalize`` succeeds is not
    authentic and must not leave the caller.
    """

    def __init__(self, key: ContentKey) -> None:
        self._cipher = Cipher(algorithms.AES(key.key), modes.GCM(key.iv)).decryptor()
        if key.aad:
            self._cipher.authenticate_additional_data(key.aad)
        self._tail = b""

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decrypt ``data``, holding back the last 16 bytes seen (they may be the tag)."""
        buffer = self._tail + bytes(data)
        if len(buffer) <= TAG_LENGTH:
            self._tail = buffer
            return b""
        self._tail = buffer[-TAG_LENGTH:]
        return self._cipher.update(buffer[:-TAG_LENGTH])

    def finalize(self) -> None:
        """Check the tag.

        Raises:
            AuthenticationError: the tag does not match, or the ciphertext is truncated.
        """
        if len(self._tail) != TAG_LENGTH:
            raise AuthenticationError()
        try:
            self._cipher.finalize_with_tag(self._tail)
        except InvalidTag:
            raise AuthenticationError() from None


def ctr_decrypt(key: ContentKey, offset: int, data: bytes | bytearray | memoryview) -> bytes:
    """Decrypt GCM ciphertext bytes starting at plaintext ``offset`` (a multiple of 16).

    GCM encrypts block ``i`` (from 0) with the counter block ``IV || i + 2``: this
    decrypts without the tag, so only call it on bytes already authenticated.
    """
    if offset % BLOCK or len(key.iv) != 12:
        raise ValueError("CTR decryption needs a 12-byte IV and a block-aligned offset")
    counter = key.iv + ((offset // BLOCK + 2) & 0xFFFFFFFF).to_bytes(4, "big")
    decryptor = Cipher(algorithms.AES(key.key), modes.CTR(counter)).decryptor()
    return decryptor.update(bytes(data)) + decryptor.finalize()


class CbcRange:
    """Unauthenticated AES-CBC (legacy): any block range decrypts from its predecessor.

    Only reachable behind ``allow_legacy_unauthenticated``. A wrong key or a
    tampered object yields garbage or a padding error, never a clean refusal.
    """

    def __init__(self, key: ContentKey, ciphertext_size: int) -> None:
        if ciphertext_size < BLOCK or ciphertext_size % BLOCK:
            raise FormatError("the S3EC CBC object is not a whole number of AES blocks")
        self._key = key
        self.ciphertext_size = ciphertext_size

    def decrypt(self, previous: bytes, data: bytes | bytearray | memoryview) -> bytes:
        """Decrypt whole blocks; ``previous`` is the ciphertext block before them (or the IV)."""
        decryptor = Cipher(algorithms.AES(self._key.key), modes.CBC(previous)).decryptor()
        return decryptor.update(bytes(data)) + decryptor.finalize()

    @property
    def iv(self) -> bytes:
        """The IV, which stands in for the block before the first."""
        return self._key.iv

    @staticmethod
    def unpad(last_block: bytes) -> bytes:
        """Remove PKCS#7 padding from the decrypted last block."""
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(last_block) + unpadder.finalize()
        except ValueError:
            # Same outcome for every cause: a padding oracle must learn nothing.
            raise AuthenticationError() from None

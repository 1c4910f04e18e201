"""Frame encryption and decryption (docs/format.md, "Body").

A :class:`FrameCipher` is a pure function of (content key, message id, sequence
number, bytes): the IV of frame ``n`` is eight zero bytes then ``n`` big-endian,
and the AAD binds message id, frame kind, ``n`` and the plaintext length. So
frames may be encrypted by several threads at once and decrypted in any order.
One ``AESGCM`` object serves all calls; it is thread-safe.

Wire layout, ``F`` the frame length and ``r`` the final frame's content length::

    regular frame: seq(4) iv(12) ciphertext(F) tag(16)                 = F + 32 bytes
    final frame:   ff ff ff ff, seq(4) iv(12) r(4) ciphertext(r) tag(16) = r + 40 bytes
"""

from __future__ import annotations

import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.errors import AuthenticationError, ConfigurationError, FormatError
from securestore.message.suites import IV_LENGTH, TAG_LENGTH, AlgorithmSuite

__all__ = [
    "FINAL_FRAME_OVERHEAD",
    "FRAME_AAD_FINAL",
    "FRAME_AAD_REGULAR",
    "FrameCipher",
    "MAX_SEQUENCE_NUMBER",
    "REGULAR_FRAME_OVERHEAD",
    "SEQUENCE_NUMBER_END",
]

FRAME_AAD_REGULAR: Final = b"AWSKMSEncryptionClient Frame"
FRAME_AAD_FINAL: Final = b"AWSKMSEncryptionClient Final Frame"
SEQUENCE_NUMBER_END: Final = b"\xff\xff\xff\xff"
MAX_SEQUENCE_NUMBER: Final = 2**32 - 1
REGULAR_FRAME_OVERHEAD: Final = 4 + IV_LENGTH + TAG_LENGTH
FINAL_FRAME_OVERHEAD: Final = 4 + 4 + IV_LENGTH + 4 + TAG_LENGTH
_REGULAR_PREFIX: Final = 4 + IV_LENGTH
_FINAL_PREFIX: Final = 4 + 4 + IV_LENGTH + 4
_IV_PAD: Final = bytes(IV_LENGTH - 4)
_HEADER_IV: Final = bytes(IV_LENGTH)

Buffer = bytes | bytearray | memoryview


class FrameCipher:
    """Encrypts and decrypts the frames of one message under its derived content key."""

    __slots__ = ("_aead", "_final_prefix", "_regular_prefix", "frame_length", "suite")

    def __init__(
        self, suite: AlgorithmSuite, key: bytes, message_id: bytes, frame_length: int
    ) -> None:
        if not 1 <= frame_length <= MAX_SEQUENCE_NUMBER:
            raise ConfigurationError("frame length out of range")
        self.suite = suite
        self.frame_length = frame_length
        self._aead = AESGCM(key)
        self._regular_prefix = message_id + FRAME_AAD_REGULAR
        self._final_prefix = message_id + FRAME_AAD_FINAL

    def __repr__(self) -> str:
        return f"FrameCipher(suite={self.suite.name}, frame_length={self.frame_length})"

    # Header authentication ------------------------------------------------------------

    def header_tag(self, header_body: bytes) -> bytes:
        """The version-2 header authentication tag (zero IV, empty plaintext, AAD = body)."""
        return self._aead.encrypt(_HEADER_IV, b"", header_body)

    def verify_header(self, header_body: bytes, iv: bytes, tag: bytes) -> None:
        """Check a header tag; raise :class:`AuthenticationError` if it does not verify."""
        try:
            self._aead.decrypt(iv or _HEADER_IV, tag, header_body)
        except InvalidTag:
            raise AuthenticationError() from None

    # Sizes -----------------------------------------------------------------------------

    def encrypted_size(self, plaintext_length: int, *, final: bool) -> int:
        """Serialized size of one frame holding ``plaintext_length`` bytes."""
        return plaintext_length + (FINAL_FRAME_OVERHEAD if final else REGULAR_FRAME_OVERHEAD)

    def _check(self, seq: int, length: int, final: bool) -> None:
        if not 1 <= seq <= MAX_SEQUENCE_NUMBER:
            raise ConfigurationError("frame sequence number out of range")
        if final:
            if length > self.frame_length:
                raise ConfigurationError("final frame longer than the frame length")
        elif length != self.frame_length:
            raise ConfigurationError("a regular frame must hold exactly frame_length bytes")

    # Encryption ------------------------------------------------------------------------

    def encrypt_frame_into(
        self, seq: int, plaintext: Buffer, out: bytearray | memoryview, *, final: bool
    ) -> int:
        """Write frame ``seq`` into ``out`` (exactly :meth:`encrypted_size` bytes); return it."""
        length = len(plaintext)
        self._check(seq, length, final)
        iv = _IV_PAD + seq.to_bytes(4, "big")
        view = memoryview(out)
        if final:
            view[:_FINAL_PREFIX] = (
                SEQUENCE_NUMBER_END + seq.to_bytes(4, "big") + iv + length.to_bytes(4, "big")
            )
            aad = self._final_prefix + struct.pack(">IQ", seq, length)
            start = _FINAL_PREFIX
        else:
            view[:_REGULAR_PREFIX] = seq.to_bytes(4, "big") + iv
            aad = self._regular_prefix + struct.pack(">IQ", seq, length)
            start = _REGULAR_PREFIX
        end = start + length + TAG_LENGTH
        self._aead.encrypt_into(iv, plaintext, aad, view[start:end])
        return end

    def encrypt_frame(self, seq: int, plaintext: Buffer, *, final: bool) -> bytearray:
        """Return the serialized frame ``seq`` holding ``plaintext``."""
        out = bytearray(self.encrypted_size(len(plaintext), final=final))
        self.encrypt_frame_into(seq, plaintext, out, final=final)
        return out

    # Decryption ------------------------------------------------------------------------

    def _locate(
        self, seq: int, frame: memoryview, final: bool
    ) -> tuple[bytes, memoryview, bytes, int]:
        """Validate structure; return (iv, ciphertext-with-tag, aad, plaintext length)."""
        if final:
            if len(frame) < FINAL_FRAME_OVERHEAD:
                raise FormatError(f"final frame {seq} is truncated")
            if bytes(frame[:4]) != SEQUENCE_NUMBER_END:
                raise FormatError(f"frame {seq} should be the final frame but is not marked final")
            found = int.from_bytes(frame[4:8], "big")
            iv = bytes(frame[8:20])
            length = int.from_bytes(frame[20:24], "big")
            if length > self.frame_length:
                raise FormatError(f"final frame length {length} exceeds the frame length")
            if len(frame) != length + FINAL_FRAME_OVERHEAD:
                raise FormatError(f"final frame {seq} has the wrong size")
            body = frame[_FINAL_PREFIX:]
            aad = self._final_prefix + struct.pack(">IQ", seq, length)
        else:
            if len(frame) != self.frame_length + REGULAR_FRAME_OVERHEAD:
                raise FormatError(f"frame {seq} has the wrong size")
            found = int.from_bytes(frame[:4], "big")
            if found == MAX_SEQUENCE_NUMBER:
                raise FormatError(f"frame {seq} is marked final but more frames were expected")
            iv = bytes(frame[4:16])
            length = self.frame_length
            body = frame[_REGULAR_PREFIX:]
            aad = self._regular_prefix + struct.pack(">IQ", seq, length)
        if found != seq:
            raise FormatError(f"frame sequence number {found} where {seq} was expected")
        return iv, body, aad, length

    def decrypt_frame(self, seq: int, frame: Buffer, *, final: bool) -> bytes:
        """Authenticate and decrypt the serialized frame ``seq``.

        Raises :class:`FormatError` for a malformed frame or a wrong sequence number,
        :class:`AuthenticationError` if the tag does not verify.
        """
        if not 1 <= seq <= MAX_SEQUENCE_NUMBER:
            raise ConfigurationError("frame sequence number out of range")
        iv, body, aad, _ = self._locate(seq, memoryview(frame), final)
        try:
            return self._aead.decrypt(iv, body, aad)
        except InvalidTag:
            raise AuthenticationError() from None

    def decrypt_frame_into(
        self, seq: int, frame: Buffer, out: bytearray | memoryview, *, final: bool
    ) -> int:
        """Decrypt frame ``seq`` into the start of ``out``; return the plaintext length.

        On failure the written region of ``out`` is zeroed before raising, so no
        unauthenticated plaintext is left behind.
        """
        if not 1 <= seq <= MAX_SEQUENCE_NUMBER:
            raise ConfigurationError("frame sequence number out of range")
        iv, body, aad, length = self._locate(seq, memoryview(frame), final)
        target = memoryview(out)[:length]
        if len(target) != length:
            raise ConfigurationError("output buffer too small for the frame")
        try:
            self._aead.decrypt_into(iv, body, aad, target)
        except InvalidTag:
            target[:] = bytes(length)
            raise AuthenticationError() from None
        return length

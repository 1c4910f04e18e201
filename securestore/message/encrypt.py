"""Encryption: :class:`Encryptor` (random-access frames) and the streaming helpers.

See docs/format.md for what is written. The store encrypts frames in worker
threads with :meth:`Encryptor.encrypt_frame_into`; :func:`encrypt_stream` and
:meth:`Encryptor.iter_message` turn a readable of unknown length into a message
with constant memory, looking one frame ahead to know which frame is final.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Final, Protocol

from securestore.errors import ConfigurationError, KeyringError
from securestore.message.context import PUBLIC_KEY_CONTEXT_KEY, validate_user_context
from securestore.message.derivation import commitment_key, content_key
from securestore.message.frames import MAX_SEQUENCE_NUMBER, FrameCipher
from securestore.message.header import (
    DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    ESDK_MAX_FRAME_LENGTH,
    Header,
    serialize,
    serialize_body,
)
from securestore.message.materials import EncryptedDataKey, EncryptionMaterials, Keyring, wipe
from securestore.message.signature import MessageSigner
from securestore.message.sizes import ciphertext_length, frame_count
from securestore.message.suites import AlgorithmSuite

__all__ = ["DEFAULT_FRAME_LENGTH", "DEFAULT_SUITE", "Encryptor", "encrypt", "encrypt_stream"]

DEFAULT_FRAME_LENGTH: Final = 256 * 1024
DEFAULT_SUITE: Final = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY

Buffer = bytes | bytearray | memoryview


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


class Encryptor:
    """One message being written: its header and a frame encryptor.

    The constructor asks ``keyring`` to generate and wrap a fresh data key, and
    refuses (:class:`ConfigurationError`, before any byte exists) when the keyrings
    produce more than ``max_data_keys`` encrypted data keys: the default readers
    would refuse such a message. Frames are numbered from 1; the last one must be
    written with ``final=True``.
    ``encrypt_frame``/``encrypt_frame_into`` are thread-safe. For signing suites use
    :meth:`iter_message`, which hashes the message in order and appends the footer.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        encryption_context: Mapping[str, str] | None = None,
        frame_length: int = DEFAULT_FRAME_LENGTH,
        suite: AlgorithmSuite = DEFAULT_SUITE,
        max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    ) -> None:
        if not 1 <= max_data_keys <= 0xFFFF:
            raise ConfigurationError("max_data_keys must be between 1 and 65535")
        if suite.message_version != 2:
            raise ConfigurationError("only committing suites (0x0478, 0x0578) can be written")
        context = validate_user_context(encryption_context or {})
        signer = MessageSigner(suite) if suite.signed else None
        if signer is not None:
            context[PUBLIC_KEY_CONTEXT_KEY] = signer.public_key
        materials = keyring.wrap(EncryptionMaterials(suite, context))
        data_key = materials.data_key
        if data_key is None or not materials.encrypted_data_keys:
            raise KeyringError("the keyring produced no data key")
        count = len(materials.encrypted_data_keys)
        if count > max_data_keys:
            wipe(data_key)
            raise ConfigurationError(
                f"the keyrings produced {count} encrypted data keys; the limit is "
                f"{max_data_keys}, so the message could not be read back by default",
                hint="use fewer keys, or raise the limit with max_data_keys / "
                "--max-data-keys on the writer and on every reader",
            )
        try:
            self._setup(
                suite,
                data_key,
                os.urandom(32),
                context,
                materials.encrypted_data_keys,
                frame_length,
                signer,
            )
        finally:
            wipe(data_key)

    @classmethod
    def _from_parts(
        cls,
        *,
        data_key: bytes,
        message_id: bytes,
        encryption_context: Mapping[str, str],
        encrypted_data_keys: Sequence[EncryptedDataKey],
        frame_length: int,
        suite: AlgorithmSuite = DEFAULT_SUITE,
    ) -> Encryptor:
        """Deterministic seam for test vectors: all inputs given, nothing random (unsigned)."""
        if suite.signed or suite.message_version != 2:
            raise ConfigurationError("_from_parts supports unsigned committing suites only")
        self = cls.__new__(cls)
        self._setup(
            suite,
            bytearray(data_key),
            message_id,
            dict(encryption_context),
            tuple(encrypted_data_keys),
            frame_length,
            None,
        )
        return self

    def _setup(
        self,
        suite: AlgorithmSuite,
        data_key: bytearray,
        message_id: bytes,
        context: Mapping[str, str],
        edks: Sequence[EncryptedDataKey],
        frame_length: int,
        signer: MessageSigner | None,
    ) -> None:
        if not 1 <= frame_length <= ESDK_MAX_FRAME_LENGTH:
            raise ConfigurationError("frame_length must be between 1 and 2**31 - 1")
        if len(data_key) != suite.key_length:
            raise KeyringError("the keyring produced a data key of the wrong length")
        key = content_key(suite, data_key, message_id)
        commitment = commitment_key(suite, data_key, message_id)
        body = serialize_body(suite, message_id, context, edks, frame_length, commitment)
        self._cipher = FrameCipher(suite, key, message_id, frame_length)
        self._signer = signer
        self.suite = suite
        self.frame_length = frame_length
        self.header = Header(
            version=2,
            suite=suite,
            message_id=message_id,
            encryption_context=context,
            encrypted_data_keys=tuple(edks),
            content_type=2,
            frame_length=frame_length,
            suite_data=commitment,
            iv=b"",
            auth_tag=self._cipher.header_tag(body),
            body=body,
        )
        self.header_bytes = serialize(self.header)

    def __repr__(self) -> str:
        return f"Encryptor(suite={self.suite.name}, frame_length={self.frame_length})"

    def frame_size(self, plaintext_length: int, *, final: bool) -> int:
        """Serialized size of a frame holding ``plaintext_length`` bytes."""
        return self._cipher.encrypted_size(plaintext_length, final=final)

    def ciphertext_length(self, plaintext_length: int) -> int:
        """Total length of an unsigned message holding ``plaintext_length`` bytes."""
        if self._signer is not None:
            raise ConfigurationError("the footer length of a signed message is not fixed")
        return ciphertext_length(plaintext_length, self.frame_length, len(self.header_bytes))

    def _unsigned(self) -> None:
        if self._signer is not None:
            raise ConfigurationError("signed messages must be written with iter_message()")

    def encrypt_frame(self, seq: int, data: Buffer, *, final: bool) -> bytearray:
        """Return serialized frame ``seq`` holding ``data`` (unsigned suites)."""
        self._unsigned()
        return self._cipher.encrypt_frame(seq, data, final=final)

    def encrypt_frame_into(
        self, seq: int, data: Buffer, out: bytearray | memoryview, *, final: bool
    ) -> int:
        """Write frame ``seq`` into ``out`` (exactly :meth:`frame_size` bytes); return the size."""
        self._unsigned()
        return self._cipher.encrypt_frame_into(seq, data, out, final=final)

    def iter_message(self, source: IO[bytes]) -> Iterator[bytes | bytearray]:
        """Yield the header, every frame and the footer for the plaintext read from ``source``.

        Memory stays at about two frames whatever the length. Each yielded object is
        new and may be kept by the caller.
        """
        signer = self._signer
        if signer is not None:
            signer.update(self.header_bytes)
        yield self.header_bytes
        size = self.frame_length
        buffer = bytearray(size)
        seq = 1
        while True:
            filled = _read_full(source, buffer)
            # A short frame (possibly empty) is the final one, so a plaintext that is a
            # multiple of the frame length ends with an empty final frame, as the ESDK
            # writes it (docs/format.md, section 5).
            final = filled < size
            if seq > MAX_SEQUENCE_NUMBER:
                raise ConfigurationError("plaintext too long for the frame length")
            frame = self._cipher.encrypt_frame(seq, memoryview(buffer)[:filled], final=final)
            if signer is not None:
                signer.update(frame)
            yield frame
            if final:
                break
            seq += 1
        if signer is not None:
            yield signer.footer()


def _read_full(source: IO[bytes], buffer: bytearray) -> int:
    """Fill ``buffer`` from ``source`` until full or EOF; return the count."""
    view = memoryview(buffer)
    filled = 0
    readinto = getattr(source, "readinto", None)
    while filled < len(buffer):
        if readinto is not None:
            got = readinto(view[filled:])
            if not got:
                break
            filled += got
        else:
            chunk = source.read(len(buffer) - filled)
            if not chunk:
                break
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
    return filled


def encrypt_stream(
    source: IO[bytes],
    sink: _Writable,
    keyring: Keyring,
    *,
    encryption_context: Mapping[str, str] | None = None,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    suite: AlgorithmSuite = DEFAULT_SUITE,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
) -> Header:
    """Encrypt everything read from ``source`` into ``sink``; return the header written."""
    encryptor = Encryptor(
        keyring,
        encryption_context=encryption_context,
        frame_length=frame_length,
        suite=suite,
        max_data_keys=max_data_keys,
    )
    for piece in encryptor.iter_message(source):
        sink.write(piece)
    return encryptor.header


def encrypt(
    plaintext: Buffer,
    keyring: Keyring,
    *,
    encryption_context: Mapping[str, str] | None = None,
    frame_length: int = DEFAULT_FRAME_LENGTH,
    suite: AlgorithmSuite = DEFAULT_SUITE,
    max_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
) -> bytearray:
    """Encrypt ``plaintext`` in memory and return the whole message.

    The result is a ``bytearray`` so that no copy of a large message is needed.
    """
    encryptor = Encryptor(
        keyring,
        encryption_context=encryption_context,
        frame_length=frame_length,
        suite=suite,
        max_data_keys=max_data_keys,
    )
    data = memoryview(plaintext).cast("B")
    size = encryptor.frame_length
    frames = frame_count(len(data), size)
    if frames > MAX_SEQUENCE_NUMBER:
        raise ConfigurationError("plaintext too long for the frame length")
    header = encryptor.header_bytes
    total = ciphertext_length(len(data), size, len(header))
    out = bytearray(total)
    view = memoryview(out)
    view[: len(header)] = header
    pos = len(header)
    cipher = encryptor._cipher
    for seq in range(1, frames + 1):
        final = seq == frames
        chunk = data[(seq - 1) * size : seq * size]
        end = pos + cipher.encrypted_size(len(chunk), final=final)
        cipher.encrypt_frame_into(seq, chunk, view[pos:end], final=final)
        pos = end
    signer = encryptor._signer
    if signer is not None:
        signer.update(view)
        view.release()
        out += signer.footer()
    return out

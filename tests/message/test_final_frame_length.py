"""A final frame may not hold more than the frame length (docs/format.md, "Body").

The over-long final frame here carries a valid tag (made with the content key
directly), so only the length rule can refuse it; and the streaming reader must
refuse a huge claimed length before trying to read or buffer it.
"""

from __future__ import annotations

import io
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.errors import FormatError
from securestore.keyrings import EncryptionMaterials, RawAesKeyring
from securestore.message import AlgorithmSuite, DecryptingReader, Decryptor, decrypt, parse
from securestore.message.derivation import content_key
from securestore.message.encrypt import Encryptor
from securestore.message.frames import FRAME_AAD_FINAL, SEQUENCE_NUMBER_END
from tests.message.conftest import AES_KEY, KEY_NAME, NAMESPACE

F = 64
SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
MESSAGE_ID = bytes(range(32))


def _header_and_key() -> tuple[bytes, bytes]:
    keyring = RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)
    materials = keyring.wrap(EncryptionMaterials(SUITE, {}))
    assert materials.data_key is not None
    encryptor = Encryptor._from_parts(
        data_key=bytes(materials.data_key),
        message_id=MESSAGE_ID,
        encryption_context={},
        encrypted_data_keys=materials.encrypted_data_keys,
        frame_length=F,
    )
    return encryptor.header_bytes, content_key(SUITE, materials.data_key, MESSAGE_ID)


def _final_frame(key: bytes, seq: int, plaintext: bytes) -> bytes:
    """A final frame with a valid tag, whatever its length."""
    iv = bytes(8) + seq.to_bytes(4, "big")
    aad = MESSAGE_ID + FRAME_AAD_FINAL + struct.pack(">IQ", seq, len(plaintext))
    sealed = AESGCM(key).encrypt(iv, plaintext, aad)
    return (
        SEQUENCE_NUMBER_END
        + seq.to_bytes(4, "big")
        + iv
        + len(plaintext).to_bytes(4, "big")
        + sealed
    )


@pytest.fixture
def keyring() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)


def test_a_final_frame_of_exactly_the_frame_length_is_accepted(keyring: RawAesKeyring) -> None:
    header, key = _header_and_key()
    message = header + _final_frame(key, 1, b"x" * F)
    assert decrypt(message, keyring) == b"x" * F


def test_an_authentic_over_long_final_frame_is_refused(keyring: RawAesKeyring) -> None:
    header, key = _header_and_key()
    frame = _final_frame(key, 1, b"y" * (F + 1))
    message = header + frame
    with pytest.raises(FormatError, match="exceeds the frame length"):
        decrypt(message, keyring)
    with pytest.raises(FormatError, match="exceeds the frame length"):
        DecryptingReader(io.BytesIO(message), keyring).read()
    decryptor = Decryptor(parse(message), keyring)
    with pytest.raises(FormatError, match="exceeds the frame length"):
        decryptor.decrypt_frame(1, frame, final=True)
    with pytest.raises(FormatError, match="exceeds the frame length"):
        decryptor.decrypt_frames(1, frame, includes_final=True)


class _CountingSource(io.RawIOBase):
    """A stream that records the largest read it was asked for."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.largest = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.largest = max(self.largest, size if size >= 0 else 1 << 62)
        return self._data.read(size)


def test_the_stream_refuses_a_huge_final_length_before_reading_it(keyring: RawAesKeyring) -> None:
    header, _ = _header_and_key()
    # A final frame header claiming 4 GiB - 1 bytes, and nothing after it.
    claim = SEQUENCE_NUMBER_END + (1).to_bytes(4, "big") + bytes(12) + b"\xff\xff\xff\xff"
    source = _CountingSource(header + claim)
    reader = DecryptingReader(source, keyring)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="final frame length 4294967295 exceeds the frame length"):
        reader.read()
    assert source.largest <= F + 32

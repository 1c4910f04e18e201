"""Every length around frame boundaries against every read and write size."""

from __future__ import annotations

import io
import os

import pytest

from securestore.keyrings import RawAesKeyring
from securestore.message import (
    AlgorithmSuite,
    DecryptingReader,
    Encryptor,
    decrypt,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    parse,
    sizes,
)

F = 64
LENGTHS = [0, 1, F - 1, F, F + 1, 2 * F, 2 * F + 1, 7 * F + 13]
CHUNKS = [1, 7, F - 1, F, F + 1, 10_000]


class Trickle(io.RawIOBase):
    """A readable that returns at most ``chunk`` bytes per call (like a socket)."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = memoryview(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._chunk, len(self._data))
        buffer[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("chunk", CHUNKS)
def test_stream_round_trip(aes_keyring: RawAesKeyring, length: int, chunk: int) -> None:
    plaintext = os.urandom(length)
    sink = io.BytesIO()
    header = encrypt_stream(Trickle(plaintext, chunk), sink, aes_keyring, frame_length=F)
    message = sink.getvalue()
    assert len(message) == sizes.ciphertext_length(length, F, header.length)
    assert decrypt(message, aes_keyring) == plaintext
    with DecryptingReader(Trickle(message, chunk), aes_keyring) as reader:  # type: ignore[arg-type]
        parts = []
        while part := reader.read(chunk):
            assert len(part) <= chunk
            parts.append(part)
    assert b"".join(parts) == plaintext
    out = io.BytesIO()
    decrypt_stream(Trickle(message, chunk), out, aes_keyring)  # type: ignore[arg-type]
    assert out.getvalue() == plaintext


@pytest.mark.parametrize("length", LENGTHS)
def test_one_shot_equals_stream_layout(aes_keyring: RawAesKeyring, length: int) -> None:
    plaintext = os.urandom(length)
    message = encrypt(plaintext, aes_keyring, frame_length=F)
    header = parse(message)
    layout = sizes.Layout.from_ciphertext_length(len(message), F, header.length)
    assert layout == sizes.Layout.for_plaintext(length, F, header.length)
    assert layout.frame_count == sizes.frame_count(length, F)


@pytest.mark.parametrize("length", [0, F, 3 * F + 1])
def test_signed_stream_round_trip(aes_keyring: RawAesKeyring, length: int) -> None:
    plaintext = os.urandom(length)
    sink = io.BytesIO()
    suite = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    encrypt_stream(io.BytesIO(plaintext), sink, aes_keyring, frame_length=F, suite=suite)
    with DecryptingReader(Trickle(sink.getvalue(), 5), aes_keyring) as reader:  # type: ignore[arg-type]
        assert reader.read() == plaintext


def test_iteration_and_readinto(aes_keyring: RawAesKeyring) -> None:
    plaintext = os.urandom(5 * F + 3)
    message = encrypt(plaintext, aes_keyring, frame_length=F)
    with DecryptingReader(io.BytesIO(message), aes_keyring) as reader:
        first = reader.read(10)
        rest = list(reader)
    assert first + b"".join(rest) == plaintext
    assert [len(p) for p in rest] == [F - 10, F, F, F, F, 3]
    reader = DecryptingReader(io.BytesIO(message), aes_keyring)
    buffer = bytearray(100)
    got = bytearray()
    while n := reader.readinto(buffer):
        got += buffer[:n]
    assert got == plaintext


def test_parallel_frames_match_serial(aes_keyring: RawAesKeyring) -> None:
    """Frames are pure functions of their inputs: encrypt them from threads in any order."""
    from concurrent.futures import ThreadPoolExecutor

    plaintext = os.urandom(20 * F + 5)
    encryptor = Encryptor(aes_keyring, frame_length=F)
    count = sizes.frame_count(len(plaintext), F)

    def frame(seq: int) -> bytearray:
        chunk = plaintext[(seq - 1) * F : seq * F]
        return encryptor.encrypt_frame(seq, chunk, final=seq == count)

    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(frame, reversed(range(1, count + 1))))
    message = encryptor.header_bytes + b"".join(reversed(frames))
    assert len(message) == encryptor.ciphertext_length(len(plaintext))
    assert decrypt(message, aes_keyring) == plaintext

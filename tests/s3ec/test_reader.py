"""The S3EC reader's own guarantees, over in-memory objects."""

from __future__ import annotations

import io
import os

import pytest

from securestore.errors import AuthenticationError, ConfigurationError
from securestore.keyrings import RawAesKeyring
from securestore.reader import ObjectReader
from securestore.s3ec.decode import object_content_key
from securestore.s3ec.read import S3ecReader
from tests.s3ec import encoder

KEY = os.urandom(32)


def _object(size: int) -> tuple[bytes, bytes, dict[str, str]]:
    plain = os.urandom(size)
    data_key = os.urandom(32)
    wrapped = encoder.aes_gcm_wrap(KEY, data_key, encoder.GCM_NAME, os.urandom(12))
    body, metadata = encoder.encrypt_v3(
        plain, data_key, wrapped, wrap="AES/GCM", message_id=os.urandom(28)
    )
    return plain, body, metadata


def _stream(body: bytes) -> ObjectReader:
    return ObjectReader(
        lambda start, last=None: {
            "Body": io.BytesIO(body[start : None if last is None else last + 1])
        },
        size=len(body),
        bucket="b",
        key="k",
    )


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4095, 4096, 4097, 10_000])
def test_every_range_matches_around_chunk_boundaries(size: int) -> None:
    plain, body, metadata = _object(size)
    key = object_content_key(metadata, RawAesKeyring("a", "b", KEY))
    reader = S3ecReader(
        key,
        ciphertext_size=len(body),
        fetch=lambda lo, hi: body[lo:hi],
        stream=lambda: _stream(body),
        piece=4096,
    )
    assert reader.size == size
    for start in {0, 1, 15, 16, 4095, 4096, 4097, size - 1, size}:
        for length in (0, 1, 17, 4096, 5000):
            if 0 <= start <= size:
                assert reader.read_range(start, length) == plain[start : start + length]
    reader.seek(0)
    assert reader.read() == plain


def test_a_chunk_fetched_after_authentication_must_be_the_authenticated_one() -> None:
    plain, body, metadata = _object(3 * 4096)
    key = object_content_key(metadata, RawAesKeyring("a", "b", KEY))
    swapped = bytearray(body)
    swapped[5000] ^= 1  # what a server hands out after the authenticating pass
    reader = S3ecReader(
        key,
        ciphertext_size=len(body),
        fetch=lambda lo, hi: bytes(swapped[lo:hi]),
        stream=lambda: _stream(body),
        piece=4096,
    )
    assert reader.read_range(0, 4096) == plain[:4096]  # an untouched chunk still reads
    with pytest.raises(AuthenticationError):
        reader.read_range(4096, 10)


def test_nothing_is_readable_when_the_tag_fails() -> None:
    _, body, metadata = _object(10_000)
    key = object_content_key(metadata, RawAesKeyring("a", "b", KEY))
    damaged = body[:-1] + bytes([body[-1] ^ 1])
    fetched: list[tuple[int, int]] = []
    with pytest.raises(AuthenticationError):
        S3ecReader(
            key,
            ciphertext_size=len(damaged),
            fetch=lambda lo, hi: fetched.append((lo, hi)) or damaged[lo:hi],
            stream=lambda: _stream(damaged),
        )
    assert fetched == []  # no plaintext read was even attempted


@pytest.mark.parametrize(("start", "length"), [(-1, 4), (0, -4), ("0", 4), (1.5, 2)])
def test_a_bad_range_is_a_configuration_error_as_for_the_other_readers(
    start: object, length: object
) -> None:
    # It was a bare ValueError here, and a ConfigurationError from the other two readers.
    _, body, metadata = _object(100)
    key = object_content_key(metadata, RawAesKeyring("a", "b", KEY))
    reader = S3ecReader(
        key,
        ciphertext_size=len(body),
        fetch=lambda lo, hi: body[lo:hi],
        stream=lambda: _stream(body),
        piece=4096,
    )
    with pytest.raises(ConfigurationError, match="invalid range"):
        reader.read_range(start, length)  # type: ignore[arg-type]

"""Header parsing: structure, limits, incremental parsing and hostile input."""

from __future__ import annotations

import contextlib
import io
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securestore.errors import AuthenticationError, ConfigurationError, FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import (
    EncryptedDataKey,
    HeaderLimits,
    HeaderParser,
    encrypt,
    parse,
    parse_from,
    serialize_context,
    validate_user_context,
)
from securestore.message.context import parse_context
from securestore.message.header import serialize_body
from securestore.message.suites import AlgorithmSuite

KEYRING = RawAesKeyring("ns", "name", bytes(32))
MESSAGE = bytes(
    encrypt(b"hello", KEYRING, encryption_context={"b": "2", "a": "1"}, frame_length=64)
)
HEADER = parse(MESSAGE)


def test_parse_fields() -> None:
    assert HEADER.version == 2
    assert HEADER.suite is AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    assert len(HEADER.message_id) == 32
    assert dict(HEADER.encryption_context) == {"a": "1", "b": "2"}
    assert HEADER.frame_length == 64
    assert len(HEADER.suite_data) == 32
    assert HEADER.encrypted_data_keys[0].provider_id == "ns"
    assert HEADER.length == len(HEADER.body) + 16


def test_context_serialization_is_sorted_by_utf8_bytes() -> None:
    context = {"b": "x", "a": "y", "\u00e9": "z", "Z": "w"}
    data = serialize_context(context)
    assert data[:2] == struct.pack(">H", 4)
    assert parse_context(data) == context
    keys = [k for k in (b"Z", b"a", b"b", "\u00e9".encode())]
    positions = [data.index(struct.pack(">H", len(k)) + k) for k in keys]
    assert positions == sorted(positions)
    assert serialize_context({}) == b""


def test_reserved_context_prefix_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="reserved"):
        validate_user_context({"aws-crypto-public-key": "x"})
    with pytest.raises(ConfigurationError):
        encrypt(b"", KEYRING, encryption_context={"aws-crypto-foo": "x"})


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00",  # zero count with bytes present
        b"\x00\x01\x00\x01a\x00\x01",  # value runs past the end
        b"\x00\x02\x00\x01a\x00\x00\x00\x01a\x00\x00",  # duplicate key
        b"\x00\x01\x00\x01\xff\x00\x00",  # key not UTF-8
        b"\x00\x01\x00\x01a\x00\x00\x00",  # trailing byte
    ],
)
def test_bad_context(data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_context(data)


def test_incremental_parser_any_chunking() -> None:
    extra = b"BODY"
    for chunk in (1, 2, 3, 17, 1000):
        parser = HeaderParser()
        data = MESSAGE[: HEADER.length] + extra
        header = None
        for start in range(0, len(data), chunk):
            header = parser.feed(data[start : start + chunk])
            if header is not None:
                rest = parser.remainder + data[start + chunk :]
                break
        assert header == HEADER
        assert rest == extra


def test_parse_from_reads_only_the_header() -> None:
    stream = io.BytesIO(MESSAGE)
    header, rest = parse_from(stream)
    assert header == HEADER and rest == b""
    assert stream.tell() == HEADER.length


def test_edk_limit() -> None:
    edks = [EncryptedDataKey("p", b"i", b"c")] * 11
    body = serialize_body(HEADER.suite, bytes(32), {}, edks, 64, bytes(32))
    with pytest.raises(FormatError, match="11 encrypted data keys"):
        parse(body + bytes(16))
    assert (
        len(
            parse(
                body + bytes(16), limits=HeaderLimits(max_encrypted_data_keys=11)
            ).encrypted_data_keys
        )
        == 11
    )


def test_frame_length_limit() -> None:
    body = serialize_body(
        HEADER.suite, bytes(32), {}, [EncryptedDataKey("p", b"", b"")], 2**31 - 1, bytes(32)
    )
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse(body + bytes(16))
    header = parse(body + bytes(16), limits=HeaderLimits(max_frame_length=2**31 - 1))
    assert header.frame_length == 2**31 - 1


def test_zero_edks_and_bad_fields() -> None:
    good = bytearray(MESSAGE[: HEADER.length])
    with pytest.raises(FormatError, match="unknown algorithm suite"):
        parse(b"\x02\x12\x34" + bytes(100))
    with pytest.raises(FormatError, match="not valid in a version 1"):
        parse(b"\x01\x80\x04\x78" + bytes(100))
    with pytest.raises(FormatError, match="truncated"):
        parse(good[:-1])
    good[0] = 3
    with pytest.raises(FormatError, match="version 3"):
        parse(good)


_SEED_FIELDS = st.sampled_from([MESSAGE[: HEADER.length]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, HEADER.length - 1), st.integers(0, 255)), max_size=6),
    st.integers(0, HEADER.length),
)
def test_mutated_headers_raise_typed_errors(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(MESSAGE)
    for index, value in edits:
        data[index] = value
    data = data[: cut + (len(MESSAGE) - HEADER.length if cut == HEADER.length else 0)]
    try:
        parse(data)
    except FormatError:
        return
    from securestore.errors import NoMatchingKeyError, PolicyError
    from securestore.message import decrypt

    with contextlib.suppress(FormatError, AuthenticationError, NoMatchingKeyError, PolicyError):
        assert decrypt(data, KEYRING) == b"hello"


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=64), st.integers(1, 9))
def test_parser_never_hangs_on_garbage(data: bytes, chunk: int) -> None:
    parser = HeaderParser()
    for start in range(0, len(data), chunk):
        try:
            if parser.feed(data[start : start + chunk]) is not None:
                return
        except FormatError:
            return
    assert parser.needed >= 1


def test_big_hostile_lengths_do_not_allocate() -> None:
    """Length fields claim 65535 bytes that are not there: truncated, not buffered."""
    hostile = b"\x02\x04\x78" + os.urandom(32) + b"\xff\xff"
    with pytest.raises(FormatError, match="truncated"):
        parse(hostile)
    parser = HeaderParser()
    assert parser.feed(hostile) is None
    assert parser.needed == 0xFFFF  # asks for the claimed AAD, allocates nothing for it

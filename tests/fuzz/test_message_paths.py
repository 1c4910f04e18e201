"""Hostile messages on the store-facing read paths: typed errors only, bounded work and memory.

Every input is either random bytes or a real message written by our ``encrypt``
and then mutated. Whatever the input, a read either returns exactly the bytes
that were encrypted, or raises a :class:`~securestore.errors.SecureStoreError`:
never another exception, never different plaintext, never a hang.

Long run: ``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz -p no:timeout``.
"""

from __future__ import annotations

import contextlib
import io
import random
import struct
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securestore.clientside import expected_context, message_context, read_header
from securestore.clientside_reader import ClientSideReader
from securestore.errors import ConfigurationError, FormatError, SecureStoreError
from securestore.keyrings import RawAesKeyring
from securestore.message import (
    DecryptingReader,
    Decryptor,
    Header,
    HeaderLimits,
    HeaderParser,
    decrypt,
    encrypt,
    parse,
)
from tests.fuzz.profiles import FUZZ, examples
from tests.fuzz.strategies import mutated

KEYRING = RawAesKeyring("fuzz", "key", bytes(range(32)))
FRAME = 64
PLAINTEXT = random.Random(5).randbytes(3 * FRAME + 17)
CONTEXT = message_context("fuzz-bucket", "obj", {"team": "a"})
EXPECTED = expected_context("fuzz-bucket", "obj", {"team": "a"})
MESSAGE = bytes(encrypt(PLAINTEXT, KEYRING, encryption_context=CONTEXT, frame_length=FRAME))
HEADER = parse(MESSAGE)
HEADER_BYTES = MESSAGE[: HEADER.length]
BODY = MESSAGE[HEADER.length :]

headers = st.binary(max_size=400) | mutated(HEADER_BYTES) | mutated(MESSAGE[: HEADER.length + 40])
messages = mutated(MESSAGE, max_edits=3) | st.binary(max_size=600)


def _fetcher(data: bytes, log: list[tuple[int, int]] | None = None) -> Callable[[int, int], bytes]:
    def fetch(start: int, end: int) -> bytes:
        assert 0 <= start < end <= len(data), (start, end, len(data))
        if log is not None:
            log.append((start, end))
        return data[start:end]

    return fetch


@pytest.mark.timeout(60)
@FUZZ
@given(headers)
def test_parse_returns_a_header_or_a_format_error(data: bytes) -> None:
    try:
        header = parse(data)
    except FormatError:
        return
    assert header.length <= len(data)
    assert data.startswith(header.body)


@pytest.mark.timeout(60)
@FUZZ
@given(headers, st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_incremental_parser_agrees_with_parse_under_any_chunking(
    data: bytes, sizes: list[int]
) -> None:
    try:
        expected: Header | None = parse(data)
    except FormatError as error:
        expected, failure = None, error
    parser = HeaderParser()
    pos, index, header = 0, 0, None
    try:
        while pos < len(data) and header is None:
            size = sizes[index % len(sizes)]
            index += 1
            header = parser.feed(data[pos : pos + size])
            pos += size
    except FormatError:
        assert expected is None
        return
    if expected is None:
        assert header is None and "truncated" in str(failure)
        assert parser.needed >= 1
        return
    assert header == expected
    assert parser.remainder + data[pos:] == data[expected.length :]
    with pytest.raises(ConfigurationError):
        parser.feed(b"x")


def _hostile_header(field: str, value: int, edks: int) -> bytes:
    """A header prefix whose ``field`` claims ``value`` bytes (or items) that are not there."""
    start = b"\x02\x04\x78" + bytes(32)
    if field == "aad":
        return start + struct.pack(">H", value)
    edk = (
        struct.pack(">H", 3)
        + b"raw"
        + struct.pack(">H", 2)
        + b"ki"
        + struct.pack(">H", 5)
        + bytes(5)
    )
    prefix = start + struct.pack(">H", 0) + struct.pack(">H", edks)
    if field == "edk-count":
        return start + struct.pack(">H", 0) + struct.pack(">H", value) + edk
    if field == "edk-field":
        return prefix + edk * (edks - 1) + struct.pack(">H", value)
    return prefix + edk * edks + b"\x02" + struct.pack(">I", value)  # frame length


_SHORT = st.sampled_from([0xFFFF, 0xFFFE, 0x8000, 0x0B])
hostile = st.one_of(
    st.builds(
        _hostile_header,
        st.sampled_from(["aad", "edk-count", "edk-field"]),
        _SHORT,
        st.integers(1, 10),
    ),
    st.builds(
        _hostile_header,
        st.just("frame-length"),
        st.sampled_from([2**32 - 1, 2**31, 2**24 + 1]),
        st.integers(1, 10),
    ),
)


@pytest.mark.timeout(60)
@examples(60)
@given(hostile, st.integers(1, 7))
def test_hostile_length_fields_do_not_drive_allocation(data: bytes, chunk: int) -> None:
    """Lengths claiming up to 4 GiB allocate nothing beyond the bytes actually given."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(FormatError):
            parse(data)
        parser = HeaderParser()
        try:
            for pos in range(0, len(data), chunk):
                assert parser.feed(data[pos : pos + chunk]) is None
        except FormatError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 + 8 * len(data), peak
    limits = HeaderLimits()
    worst = 3 + 32 + 2 + 0xFFFF + 2 + limits.max_encrypted_data_keys * 3 * (2 + 0xFFFF) + 1 + 4 + 48
    assert parser.needed <= worst


@pytest.mark.timeout(60)
@examples(100)
@given(
    hostile | headers,
    st.sampled_from([1, 1000, 2**20, 2**30, 2**40]),
    st.sampled_from([0x41, 0x00, 0xFF]),
)
def test_read_header_fetch_is_bounded_by_the_limits(prefix: bytes, size: int, fill: int) -> None:
    """A hostile header never makes the store fetch more than the limits allow."""
    limits = HeaderLimits()
    worst = 3 + 32 + 2 + 0xFFFF + 2 + limits.max_encrypted_data_keys * 3 * (2 + 0xFFFF) + 1 + 4 + 48
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        assert 0 <= start < end <= size
        fetched.append((start, end))
        head = prefix[start:end]
        return head + bytes([fill]) * (end - start - len(head))

    with contextlib.suppress(FormatError):
        read_header(fetch, size, limits)
    total = sum(end - start for start, end in fetched)
    assert total <= min(size, 4 * worst + 4096), total
    assert len(fetched) <= 12


@pytest.mark.timeout(60)
@FUZZ
@given(messages)
def test_read_header_with_a_fake_fetch(data: bytes) -> None:
    calls: list[tuple[int, int]] = []
    try:
        header = read_header(_fetcher(data, calls), len(data), HeaderLimits())
    except FormatError:
        return
    assert header == parse(data)
    assert calls[0][0] == 0


def _open_reader(data: bytes) -> ClientSideReader:
    """What the store does to open a client-side object, over bytes in memory."""
    fetch = _fetcher(data)
    header = read_header(fetch, len(data), HeaderLimits())
    decryptor = Decryptor(header, KEYRING, expected_context=EXPECTED)
    return ClientSideReader(
        decryptor, ciphertext=io.BytesIO(data), fetch=fetch, ciphertext_size=len(data)
    )


@pytest.mark.timeout(60)
@FUZZ
@given(messages, st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=4))
def test_client_side_reader_returns_the_plaintext_or_a_typed_error(
    data: bytes, ranges: list[tuple[int, int]]
) -> None:
    try:
        reader = _open_reader(data)
    except SecureStoreError:
        return
    with reader:
        for start, length in ranges:
            try:
                got = reader.read_range(start, length)
            except SecureStoreError:
                continue
            assert got == PLAINTEXT[start : start + length]
        try:
            reader.seek(0)
            everything = reader.read()
        except SecureStoreError:
            return
        assert everything == PLAINTEXT
        assert data == MESSAGE  # no byte of a message can change without detection


@pytest.mark.timeout(60)
@FUZZ
@given(messages, st.integers(1, 200))
def test_streaming_decryption_returns_the_plaintext_or_a_typed_error(
    data: bytes, piece: int
) -> None:
    try:
        with DecryptingReader(io.BytesIO(data), KEYRING, expected_context=EXPECTED) as reader:
            out = bytearray()
            while chunk := reader.read(piece):
                out += chunk
    except SecureStoreError:
        out = None  # type: ignore[assignment]
    try:
        whole = bytes(decrypt(data, KEYRING, expected_context=EXPECTED))
    except SecureStoreError:
        whole = None  # type: ignore[assignment]
    assert out in (None, PLAINTEXT)
    assert whole in (None, PLAINTEXT)
    assert (out is None) == (whole is None)


@pytest.mark.timeout(60)
@FUZZ
@given(st.integers(1, 4), st.data())
def test_decrypt_frames_over_mutated_spans(first: int, data: st.DataObject) -> None:
    """Ranged reads hand ``decrypt_frames`` whatever bytes S3 returned for a frame span."""
    decryptor = Decryptor(HEADER, KEYRING, expected_context=EXPECTED)
    regular = FRAME + 4 + 12 + 16
    last = data.draw(st.integers(first, 4), label="last")
    start = (first - 1) * regular
    end = min(len(BODY), last * regular)
    span = data.draw(mutated(BODY[start:end], max_edits=2), label="span")
    includes_final = data.draw(st.booleans(), label="includes_final")
    try:
        plain = decryptor.decrypt_frames(first, span, includes_final=includes_final)
    except SecureStoreError:
        return
    offset = (first - 1) * FRAME
    assert bytes(plain) == PLAINTEXT[offset : offset + len(plain)]

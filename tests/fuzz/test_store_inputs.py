"""What the store validates or reads before any request: metadata, S3's SSE fields, ranges."""

from __future__ import annotations

import io
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securestore import ClientSide, DsseKms, RawAesKeyring, SseKms, SseS3
from securestore.errors import ConfigurationError
from securestore.modes import StoredEncryption, kms_key_matches
from securestore.reader import ObjectReader
from securestore.user_metadata import check_metadata as _check_metadata
from tests.fuzz.profiles import FUZZ
from tests.fuzz.strategies import json_values

_NAME_CHARS = st.sampled_from("abcXYZ019-_.")
metadata_names = st.text(_NAME_CHARS, min_size=1, max_size=10) | st.text(max_size=10)
metadata_values = st.text(max_size=20) | st.text(st.characters(max_codepoint=127), max_size=20)
metadata = st.dictionaries(
    metadata_names | st.integers() | st.none(), metadata_values | json_values, max_size=5
)


@pytest.mark.timeout(60)
@FUZZ
@given(metadata | st.none() | st.just({}))
def test_metadata_is_validated_with_configuration_errors_only(given_metadata: Any) -> None:
    try:
        checked = _check_metadata(given_metadata)
    except ConfigurationError:
        return
    assert len(checked) == len(given_metadata or {})  # nothing merged or dropped
    for name, value in checked.items():
        assert name == name.lower() and name.isascii() and name
        assert all(c.isalnum() or c in "-_." for c in name)
        assert isinstance(value, str) and value.isascii()
        assert all(0x20 <= ord(c) < 0x7F for c in value), repr(value)


@pytest.mark.parametrize("value", ["a\r\nx-amz-meta-injected: 1", "line\n", "cr\r"])
def test_metadata_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError):
        _check_metadata({"note": value})


def test_metadata_names_differing_only_in_case_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        _check_metadata({"Team": "a", "team": "b"})


_SSE_VALUES = st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse", "aws:fsx", "", "AES-256"])
_KEY_IDS = st.sampled_from(
    [
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
        "1234abcd",
        "alias/data",
        "arn:aws:kms:us-east-1:111122223333:alias/data",
        "",
    ]
) | st.text(max_size=30)

#: What botocore can hand back for the SSE fields of a response (strings and booleans).
wire_responses = st.fixed_dictionaries(
    {},
    optional={
        "ServerSideEncryption": _SSE_VALUES | st.text(max_size=12),
        "SSEKMSKeyId": _KEY_IDS,
        "BucketKeyEnabled": st.booleans(),
        "ETag": st.text(max_size=10),
        "Metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    },
)

KEYRING = RawAesKeyring("fuzz", "key", bytes(32))
MODES = [
    SseS3(),
    SseKms(),
    SseKms("arn:aws:kms:us-east-1:111122223333:key/1234abcd"),
    SseKms("1234abcd", bucket_key=False),
    SseKms("alias/data"),
    DsseKms(),
    DsseKms("1234abcd"),
    ClientSide(KEYRING),
    ClientSide(KEYRING, sse=SseKms("alias/data")),
]


@pytest.mark.timeout(60)
@FUZZ
@given(wire_responses, st.none() | _KEY_IDS)
def test_stored_encryption_from_any_wire_response(
    response: dict[str, Any], arn: str | None
) -> None:
    stored = StoredEncryption.from_response(response)
    assert isinstance(stored.describe(), str) and isinstance(stored.sse_name, str)
    for mode in MODES:
        for verdict in (
            mode.check(stored, resolved_key_arn=arn),
            mode.check_write(stored, resolved_key_arn=arn),
        ):
            assert verdict is None or isinstance(verdict, str)
    algorithm = response.get("ServerSideEncryption")
    if SseS3().check(stored) is None:
        assert algorithm == "AES256"
    if SseKms().check(stored) is None:
        assert algorithm == "aws:kms"


@pytest.mark.timeout(60)
@FUZZ
@given(_KEY_IDS, _KEY_IDS, st.none() | _KEY_IDS)
def test_kms_key_matching_never_raises(asked: str, reported: str, resolved: str | None) -> None:
    assert isinstance(kms_key_matches(asked, reported, resolved), bool)
    assert kms_key_matches(asked, asked, resolved)


@pytest.mark.parametrize(
    "response",
    [{"ServerSideEncryption": ["AES256"]}, {"ServerSideEncryption": 5, "SSEKMSKeyId": "k"}],
    ids=["list", "int"],
)
def test_stored_encryption_refuses_non_string_fields(response: dict[str, Any]) -> None:
    try:
        StoredEncryption.from_response(response).describe()
    except ConfigurationError:
        return
    pytest.fail("accepted a non-string algorithm")


def _reader(data: bytes) -> ObjectReader:
    def open_range(start: int, last: int | None = None) -> dict[str, Any]:
        return {"Body": io.BytesIO(data[start : None if last is None else last + 1])}

    return ObjectReader(open_range, size=len(data), bucket="fuzz-bucket", key="obj")


DATA = bytes(range(256)) * 40


@pytest.mark.timeout(60)
@FUZZ
@given(st.integers(0, len(DATA) + 10), st.integers(0, 4 * len(DATA)))
def test_object_reader_ranges_match_the_object(start: int, length: int) -> None:
    with _reader(DATA) as reader:
        assert reader.read_range(start, length) == DATA[start : start + length]


def test_object_reader_range_allocation_is_bounded_by_the_object() -> None:
    with _reader(DATA) as reader:
        tracemalloc.start()
        try:
            got = reader.read_range(0, 64 * 1024 * 1024)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert got == DATA
        assert peak < 1024 * 1024, peak
        assert reader.read_range(0, 10**30) == DATA

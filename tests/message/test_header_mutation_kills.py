"""Each structural rule of the header parser, refused with its own message.

The other header tests feed damaged headers and accept any typed error, so every one of
these rules could be deleted without a test failing (mutation testing, docs/mutation.md):
the header tag or another rule refused the input a little later, for another reason,
or as a ConfigurationError instead of a FormatError. Headers here are a real message's,
with one field changed; version-1 headers are built by hand from docs/format.md.
"""

from __future__ import annotations

import struct

import pytest

from securestore.errors import ConfigurationError, FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import HeaderLimits, HeaderParser, encrypt, parse

KEYRING = RawAesKeyring("mutation", "key", bytes(range(32)))
MESSAGE = bytes(encrypt(b"x" * 100, KEYRING, encryption_context={"a": "b"}, frame_length=64))
HEADER = parse(MESSAGE)
HEAD = MESSAGE[: HEADER.length]
# Version 2 layout: version, suite (2), message id (32), AAD length (2), AAD, EDK count (2),
# EDKs, content type, frame length (4), suite data (32), tag (16).
AAD_LENGTH = struct.unpack(">H", HEAD[35:37])[0]
EDK_COUNT_AT = 37 + AAD_LENGTH
CONTENT_TYPE_AT = HEADER.length - 16 - 32 - 4 - 1
FRAME_LENGTH_AT = CONTENT_TYPE_AT + 1


def _with(offset: int, value: bytes) -> bytes:
    return HEAD[:offset] + value + HEAD[offset + len(value) :]


def _refused(data: bytes, match: str, limits: HeaderLimits | None = None) -> None:
    with pytest.raises(FormatError, match=match):
        parse(data, limits=limits)
    with pytest.raises(FormatError, match=match):  # the incremental parser says the same
        HeaderParser(limits=limits).feed(data)


def _v1_header(*, kind: int = 0x80, reserved: bytes = bytes(4), iv_length: int = 12) -> bytes:
    edk = struct.pack(">H", 3) + b"raw" + struct.pack(">H", 1) + b"i" + struct.pack(">H", 2) + b"ct"
    return (
        bytes([1, kind])
        + struct.pack(">H", 0x0178)
        + bytes(16)  # message id
        + struct.pack(">H", 0)  # no AAD
        + struct.pack(">H", 1)
        + edk
        + bytes([2])  # framed
        + reserved
        + bytes([iv_length])
        + struct.pack(">I", 64)
        + bytes(12)  # header IV
        + bytes(16)  # tag
    )


def test_the_unchanged_header_parses() -> None:
    assert parse(HEAD) == HEADER
    assert parse(_v1_header()).version == 1


@pytest.mark.parametrize("version", [0, 3, 0x41])
def test_an_unknown_version_is_named(version: int) -> None:
    _refused(bytes([version]) + HEAD[1:], f"unsupported message format version {version}")


def test_a_version_1_header_of_another_type_is_refused() -> None:
    _refused(_v1_header(kind=0x81), "unsupported message type")


def test_a_version_1_header_with_reserved_bits_set_is_refused() -> None:
    _refused(_v1_header(reserved=b"\x00\x00\x00\x01"), "reserved header field is not zero")


def test_a_version_1_header_with_another_iv_length_is_refused() -> None:
    _refused(_v1_header(iv_length=16), "IV length does not match")


def test_an_unknown_suite_is_named() -> None:
    _refused(_with(1, b"\x12\x34"), "unknown algorithm suite 0x1234")


def test_a_version_1_suite_in_a_version_2_header_is_refused() -> None:
    _refused(_with(1, b"\x01\x78"), "0x0178 is not valid in a version 2 header")


def test_a_header_without_data_keys_is_refused() -> None:
    _refused(_with(EDK_COUNT_AT, b"\x00\x00"), "no encrypted data keys")


def test_more_data_keys_than_the_limit_are_refused_with_a_hint() -> None:
    with pytest.raises(FormatError, match="the limit is 1") as info:
        parse(_with(EDK_COUNT_AT, b"\x00\x02"), limits=HeaderLimits(max_encrypted_data_keys=1))
    assert info.value.hint is not None
    assert "max_data_keys" in info.value.hint
    # At the limit is fine (the count is the header's own: 1).
    assert parse(HEAD, limits=HeaderLimits(max_encrypted_data_keys=1)) == HEADER


def test_a_provider_id_that_is_not_utf8_is_refused() -> None:
    provider_at = EDK_COUNT_AT + 2 + 2
    _refused(_with(provider_at, b"\xff"), "provider id is not UTF-8")


def test_non_framed_and_unknown_content_types_are_refused() -> None:
    _refused(_with(CONTENT_TYPE_AT, b"\x01"), "non-framed messages are not supported")
    _refused(_with(CONTENT_TYPE_AT, b"\x03"), "unknown content type 3")
    _refused(_with(CONTENT_TYPE_AT, b"\x00"), "unknown content type 0")


def test_a_zero_frame_length_is_a_format_error() -> None:
    _refused(_with(FRAME_LENGTH_AT, bytes(4)), "frame length is zero")


def test_a_frame_length_over_the_limit_is_refused_at_the_limit_it_is_not() -> None:
    _refused(
        _with(FRAME_LENGTH_AT, struct.pack(">I", 65)),
        "exceeds the limit of 64",
        HeaderLimits(max_frame_length=64),
    )
    assert parse(HEAD, limits=HeaderLimits(max_frame_length=64)).frame_length == 64


def test_a_complete_parser_refuses_more_bytes_and_keeps_what_followed() -> None:
    parser = HeaderParser()
    assert parser.feed(MESSAGE[:10]) is None
    assert parser.needed >= 1
    assert parser.feed(MESSAGE[10:]) == HEADER
    assert parser.remainder == MESSAGE[HEADER.length :]
    assert parser.needed == 0
    with pytest.raises(ConfigurationError, match="already complete"):
        parser.feed(b"more")

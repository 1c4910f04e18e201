"""The encrypted-data-key limit holds on writes as on reads (docs/format.md, "Limits")."""

from __future__ import annotations

import io

import pytest

from securestore.errors import ConfigurationError, FormatError
from securestore.keyrings import MultiKeyring, RawAesKeyring
from securestore.message import (
    DecryptingReader,
    Encryptor,
    HeaderLimits,
    decrypt,
    encrypt,
    encrypt_stream,
    parse,
)
from tests.message.conftest import AES_KEY, NAMESPACE


def _keys(count: int) -> MultiKeyring:
    rings = [RawAesKeyring(NAMESPACE, f"k{i}", AES_KEY) for i in range(count)]
    return MultiKeyring(generator=rings[0], children=rings[1:])


def test_eleven_keys_are_refused_before_any_byte() -> None:
    keyring = _keys(11)
    with pytest.raises(ConfigurationError, match="11 encrypted data keys; the limit is 10") as info:
        Encryptor(keyring)
    assert info.value.hint is not None and "--max-data-keys" in info.value.hint
    sink = io.BytesIO()
    with pytest.raises(ConfigurationError):
        encrypt_stream(io.BytesIO(b"data"), sink, keyring)
    assert sink.getvalue() == b""
    with pytest.raises(ConfigurationError):
        encrypt(b"data", keyring, max_data_keys=10)
    with pytest.raises(ConfigurationError):
        encrypt(b"data", _keys(3), max_data_keys=2)


def test_ten_keys_and_a_raised_limit_write_readable_messages() -> None:
    assert decrypt(encrypt(b"ten", _keys(10)), RawAesKeyring(NAMESPACE, "k9", AES_KEY)) == b"ten"
    message = bytes(encrypt(b"eleven", _keys(11), max_data_keys=11))
    assert (
        len(parse(message, limits=HeaderLimits(max_encrypted_data_keys=11)).encrypted_data_keys)
        == 11
    )
    reader = RawAesKeyring(NAMESPACE, "k5", AES_KEY)
    with pytest.raises(FormatError, match="11 encrypted data keys; the limit is 10") as info:
        decrypt(message, reader)
    assert info.value.hint == (
        "raise the limit with max_data_keys / --max-data-keys if you trust the writer"
    )
    with pytest.raises(FormatError):
        DecryptingReader(io.BytesIO(message), reader)
    limits = HeaderLimits(max_encrypted_data_keys=11)
    assert decrypt(message, reader, limits=limits) == b"eleven"


def test_max_data_keys_must_be_in_range() -> None:
    for bad in (0, 65536):
        with pytest.raises(ConfigurationError):
            Encryptor(_keys(1), max_data_keys=bad)

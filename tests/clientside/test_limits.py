"""Header limits: a hostile header is refused before any keyring is asked.

``HeaderLimits`` bounds the number of encrypted data keys (each may cost a KMS
call) and the frame length (what a reader buffers per frame).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import ConfigurationError, FormatError, SecureStore
from securestore.clientside import ClientSide
from securestore.keyrings import MultiKeyring, RawAesKeyring
from securestore.message import HeaderLimits
from tests.clientside.conftest import (
    AES_KEY,
    NAMESPACE,
    CountingKeyring,
    KiB,
    Raw,
    assert_rejected,
)

F = 4096


def edk_count_offset(data: bytes) -> int:
    return 37 + int.from_bytes(data[35:37], "big")


def test_more_data_keys_than_the_limit(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    three = MultiKeyring(
        generator=aes_keyring,
        children=[RawAesKeyring(NAMESPACE, f"extra-{i}", AES_KEY) for i in (1, 2)],
    )
    cs_store(three, frame_length=F).put("three-keys", b"payload")
    counting = CountingKeyring(aes_keyring)
    strict = cs_store(counting, limits=HeaderLimits(max_encrypted_data_keys=2))
    caught = assert_rejected(strict, "three-keys", tmp_path, FormatError)
    assert "3 encrypted data keys" in caught.message and "limit is 2" in caught.message
    assert counting.unwraps == 0
    enough = cs_store(counting, limits=HeaderLimits(max_encrypted_data_keys=3))
    assert enough.get("three-keys") == b"payload"
    assert counting.unwraps == 1


def test_hostile_data_key_count_is_refused_before_the_keyring(
    cs_store: Callable[..., SecureStore],
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    tmp_path: Path,
) -> None:
    """A header claiming 65535 data keys (the default limit is 10)."""
    cs_store(aes_keyring, frame_length=F).put("hostile", b"payload")
    data = bytearray(raw.get("hostile"))
    offset = edk_count_offset(bytes(data))
    data[offset : offset + 2] = b"\xff\xff"
    raw.put("hostile", bytes(data))
    counting = CountingKeyring(aes_keyring)
    caught = assert_rejected(cs_store(counting), "hostile", tmp_path / "a", FormatError)
    assert "65535 encrypted data keys" in caught.message
    assert counting.unwraps == 0
    # An SSE store that was given a keyring applies the default limits too.
    assert_rejected(make_store(keyring=counting), "hostile", tmp_path / "b", FormatError)
    assert counting.unwraps == 0
    with pytest.raises(FormatError):
        make_store().inspect("hostile")


def test_frame_length_above_the_limit(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    cs_store(aes_keyring, frame_length=64 * KiB).put("wide", b"x" * 100)
    counting = CountingKeyring(aes_keyring)
    strict = cs_store(counting, frame_length=F, limits=HeaderLimits(max_frame_length=F))
    caught = assert_rejected(strict, "wide", tmp_path, FormatError)
    assert f"frame length {64 * KiB} exceeds the limit of {F}" in caught.message
    assert counting.unwraps == 0


def test_hostile_frame_length_is_refused_before_the_keyring(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, raw: Raw, tmp_path: Path
) -> None:
    """A header claiming 2**31 - 1 byte frames (the default limit is 16 MiB)."""
    cs_store(aes_keyring, frame_length=F).put("huge-frames", b"payload")
    stored = raw.stored("huge-frames")
    offset = stored.header.length - 52
    data = stored.data[:offset] + (2**31 - 1).to_bytes(4, "big") + stored.data[offset + 4 :]
    raw.put("huge-frames", data)
    counting = CountingKeyring(aes_keyring)
    assert_rejected(cs_store(counting), "huge-frames", tmp_path, FormatError)
    assert counting.unwraps == 0


def test_mode_frame_length_must_fit_its_own_limits(aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(ConfigurationError):
        ClientSide(aes_keyring, frame_length=2 * F, limits=HeaderLimits(max_frame_length=F))
    with pytest.raises(ConfigurationError):
        ClientSide(aes_keyring, frame_length=0)


def test_writes_enforce_the_data_key_limit(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, raw: Raw, tmp_path: Path
) -> None:
    eleven = MultiKeyring(
        generator=aes_keyring,
        children=[RawAesKeyring(NAMESPACE, f"extra-{i}", AES_KEY) for i in range(10)],
    )
    with pytest.raises(ConfigurationError, match="11 encrypted data keys; the limit is 10") as info:
        cs_store(eleven, frame_length=F).put("eleven", b"payload")
    assert info.value.hint is not None and "max_data_keys" in info.value.hint
    with pytest.raises(ConfigurationError):
        cs_store(eleven, frame_length=F).upload_file(_file(tmp_path), "eleven")
    assert raw.s3.list_objects_v2(Bucket=raw.bucket).get("KeyCount") == 0
    cs_store(eleven, frame_length=F, max_data_keys=11).put("eleven", b"payload")
    caught = assert_rejected(cs_store(aes_keyring), "eleven", tmp_path / "read", FormatError)
    assert caught.hint == (
        "raise the limit with max_data_keys / --max-data-keys if you trust the writer"
    )
    assert cs_store(aes_keyring, max_data_keys=11).get("eleven") == b"payload"
    limited = ClientSide(
        aes_keyring, frame_length=F, limits=HeaderLimits(max_frame_length=F), max_data_keys=11
    )
    assert limited.header_limits == HeaderLimits(max_encrypted_data_keys=11, max_frame_length=F)
    with pytest.raises(ConfigurationError):
        ClientSide(aes_keyring, max_data_keys=0)


def _file(folder: Path) -> Path:
    path = folder / "source.bin"
    path.write_bytes(b"payload")
    return path

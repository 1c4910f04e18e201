"""Key files: atomic 0600 creation, permission checks on load, accepted formats."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from securestore.errors import ConfigurationError
from securestore.keyrings import (
    RawAesKeyring,
    RawRsaKeyring,
    generate_aes_key_file,
    generate_rsa_key_files,
    load_aes_key_file,
    load_rsa_private_key_file,
    load_rsa_public_key_file,
)
from securestore.message import decrypt, encrypt


def test_aes_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    generate_aes_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_bytes()
    assert text.endswith(b"\n") and len(base64.b64decode(text)) == 32
    key = load_aes_key_file(path)
    assert len(key) == 32
    with pytest.raises(ConfigurationError, match="already exists"):
        generate_aes_key_file(path)


def test_aes_key_file_raw_bytes_accepted(tmp_path: Path) -> None:
    path = tmp_path / "raw.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, bytes(range(32)))
    os.close(fd)
    assert load_aes_key_file(path) == bytes(range(32))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_loose_permissions_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.key"
    generate_aes_key_file(path)
    secret = path.read_bytes()
    path.chmod(mode)
    with pytest.raises(ConfigurationError) as info:
        load_aes_key_file(path)
    message = str(info.value)
    assert str(path) in message and "chmod 600" in message
    assert secret.strip().decode() not in message


def test_garbage_key_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"not a key!!\n")
    os.close(fd)
    with pytest.raises(ConfigurationError, match=r"bad\.key"):
        load_aes_key_file(path)


def test_rsa_key_files(tmp_path: Path) -> None:
    private, public = tmp_path / "id.pem", tmp_path / "id.pub.pem"
    generate_rsa_key_files(private, public, bits=3072)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    writer = RawRsaKeyring("ns", "rsa", public_key=load_rsa_public_key_file(public))
    reader = RawRsaKeyring("ns", "rsa", private_key=load_rsa_private_key_file(private))
    assert decrypt(encrypt(b"m", writer, frame_length=64), reader) == b"m"
    private.chmod(0o644)
    with pytest.raises(ConfigurationError, match="accessible by group or others"):
        load_rsa_private_key_file(private)


def test_loaded_aes_key_drives_keyring(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    generate_aes_key_file(path)
    keyring = RawAesKeyring("ns", "k", load_aes_key_file(path))
    assert decrypt(encrypt(b"m", keyring, frame_length=64), keyring) == b"m"

"""Key files: atomic 0600 creation, permission checks on load, accepted formats."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from securestore.errors import ConfigurationError, LocalFileError
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
    assert str(path) in message and info.value.hint == f"run: chmod 600 {path}"
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


def _write(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)
    return path


@pytest.mark.parametrize("length", [16, 24, 32])
def test_base64_without_newline_is_read_as_base64(tmp_path: Path, length: int) -> None:
    """Base64 of a 16- or 24-byte key is 24 or 32 characters: never the key's ASCII text."""
    key = os.urandom(length)
    path = _write(tmp_path / "k.key", base64.b64encode(key))
    assert load_aes_key_file(path, allow_short_keys=True) == key


@pytest.mark.parametrize("length", [16, 24])
def test_short_keys_need_the_explicit_option(tmp_path: Path, length: int) -> None:
    raw = bytes(range(200, 200 + length))  # not base64: taken as raw bytes
    for name, data in (("b64.key", base64.b64encode(bytes(range(length)))), ("raw.key", raw)):
        path = _write(tmp_path / name, data)
        with pytest.raises(ConfigurationError, match=f"holds a {length * 8}-bit key") as info:
            load_aes_key_file(path)
        assert info.value.hint is not None and "keygen --aes" in info.value.hint
        assert len(load_aes_key_file(path, allow_short_keys=True)) == length


def test_raw_key_bytes_with_a_newline_inside_are_kept_whole(tmp_path: Path) -> None:
    key = b"\n" + os.urandom(30) + b"\n"
    assert load_aes_key_file(_write(tmp_path / "raw.key", key)) == key


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
OTHER_UID = 65534  # nobody


@needs_root
def test_a_key_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """Even root refuses another user's key file (that user could change it), as ssh does."""
    path = tmp_path / "k.key"
    generate_aes_key_file(path)
    os.chown(path, OTHER_UID, -1)
    with pytest.raises(LocalFileError, match=f"owned by uid {OTHER_UID}") as info:
        load_aes_key_file(path)
    assert info.value.hint is not None
    os.chown(path, 0, -1)
    assert len(load_aes_key_file(path)) == 32


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722, 0o757], ids=lambda m: f"{m:o}")
def test_a_key_file_in_a_writable_directory_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "k.key"
    generate_aes_key_file(path)
    folder.chmod(mode)
    with pytest.raises(LocalFileError, match="group or others may write") as info:
        load_aes_key_file(path)
    assert info.value.hint == f"run: chmod go-w {folder} (or move the key file elsewhere)"
    folder.chmod(mode | stat.S_ISVTX)  # /tmp-style: only the file's owner may replace it
    assert len(load_aes_key_file(path)) == 32
    folder.chmod(0o755)
    assert len(load_aes_key_file(path)) == 32


def test_a_writable_directory_higher_up_is_refused(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "mine").mkdir(parents=True)
    path = top / "mine" / "k.key"
    generate_aes_key_file(path)
    (top / "mine").chmod(0o700)
    top.chmod(0o777)  # anyone may rename "mine" away and put their own in its place
    with pytest.raises(LocalFileError, match=f"directory {top}, which"):
        load_aes_key_file(path)
    with pytest.raises(LocalFileError, match="group or others may write"):
        load_rsa_private_key_file(path)


@needs_root
def test_a_key_file_in_another_users_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    path = folder / "k.key"
    generate_aes_key_file(path)
    os.chown(folder, OTHER_UID, -1)
    with pytest.raises(LocalFileError, match=f"owned by uid {OTHER_UID}"):
        load_aes_key_file(path)


@needs_root
def test_rsa_private_key_files_get_the_same_owner_check(tmp_path: Path) -> None:
    private, public = tmp_path / "id.pem", tmp_path / "id.pub.pem"
    generate_rsa_key_files(private, public, bits=3072)
    os.chown(private, OTHER_UID, -1)
    with pytest.raises(LocalFileError, match=f"owned by uid {OTHER_UID}"):
        load_rsa_private_key_file(private)


def test_the_directories_behind_a_symlinked_directory_are_checked(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "keys").mkdir(parents=True)
    generate_aes_key_file(shared / "keys" / "k.key")
    shared.chmod(0o777)  # anyone may swap "keys" for their own directory
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "keys").symlink_to(shared / "keys")
    with pytest.raises(LocalFileError, match=f"directory {shared}, which"):
        load_aes_key_file(home / "keys" / "k.key")
    shared.chmod(0o755)
    assert len(load_aes_key_file(home / "keys" / "k.key")) == 32

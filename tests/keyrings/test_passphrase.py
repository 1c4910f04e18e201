"""Passphrase-protected RSA private keys: loading, wrong or missing passphrases, public keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore.errors import ConfigurationError, KeyringError, LocalFileError
from securestore.keyrings import generate_rsa_key_files, load_rsa_private_key_file
from securestore.keyrings.keyfiles import (
    is_encrypted_pem,
    load_rsa_public_key_file,
    read_passphrase_file,
    write_public_key_file,
)
from securestore.keyrings.options import raw_keyrings


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rsa")
    folder.chmod(0o700)
    generate_rsa_key_files(folder / "k.pem", folder / "k.pub.pem", password=b"correct horse")
    return folder / "k.pem"


def test_written_as_encrypted_pkcs8(protected: Path) -> None:
    data = protected.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert is_encrypted_pem(data)


def test_loads_with_the_passphrase_or_a_function(protected: Path) -> None:
    key = load_rsa_private_key_file(protected, password=b"correct horse")
    public = load_rsa_public_key_file(protected.with_name("k.pub.pem"))
    assert key.public_key().public_numbers() == public.public_numbers()
    asked: list[int] = []

    def ask() -> bytes:
        asked.append(1)
        return b"correct horse"

    load_rsa_private_key_file(protected, password=ask)
    assert asked == [1]


def test_wrong_passphrase_is_a_key_error(protected: Path) -> None:
    with pytest.raises(KeyringError, match="wrong passphrase") as caught:
        load_rsa_private_key_file(protected, password=b"battery staple")
    assert str(protected) in str(caught.value)


def test_missing_passphrase_is_a_key_error(protected: Path) -> None:
    with pytest.raises(KeyringError, match="encrypted and no passphrase"):
        load_rsa_private_key_file(protected)
    with pytest.raises(KeyringError, match="encrypted and no passphrase"):
        load_rsa_private_key_file(protected, password=lambda: None)


def test_a_plain_key_never_asks(tmp_path: Path) -> None:
    generate_rsa_key_files(tmp_path / "p.pem", tmp_path / "p.pub.pem")
    assert not is_encrypted_pem((tmp_path / "p.pem").read_bytes())

    def never() -> bytes:
        raise AssertionError("asked for the passphrase of a plain key")

    load_rsa_private_key_file(tmp_path / "p.pem", password=never)


def test_raw_keyrings_ask_per_path(protected: Path) -> None:
    paths: list[str] = []

    def ask(path: str) -> bytes:
        paths.append(path)
        return b"correct horse"

    keyrings = raw_keyrings((), [str(protected)], "default", reading=True, rsa_passphrase=ask)
    assert len(keyrings) == 1
    assert paths == [str(protected)]


def test_passphrase_file_first_line_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_bytes(b"correct horse\r\nignored\n")
    path.chmod(0o600)
    assert read_passphrase_file(path) == b"correct horse"
    path.chmod(0o644)
    with pytest.raises(LocalFileError, match="accessible by group or others"):
        read_passphrase_file(path)
    path.write_bytes(b"\n")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="empty"):
        read_passphrase_file(path)


def test_public_key_derived_from_a_protected_key(protected: Path, tmp_path: Path) -> None:
    out = tmp_path / "derived.pub.pem"
    write_public_key_file(protected, out, password=b"correct horse")
    assert out.read_bytes() == protected.with_name("k.pub.pem").read_bytes()
    with pytest.raises(ConfigurationError, match="already exists"):
        write_public_key_file(protected, out, password=b"correct horse")

"""securestore.offline: local files and streams as ESDK messages, no S3.

Round trips at every length around frame boundaries, through paths and streams;
the Python aws-encryption-sdk reads what we write and we read what it writes
(unsigned and signed suites); a tampered, truncated or wrongly bound message
leaves the destination untouched and no partial file behind.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import securestore
from securestore import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    LocalFileError,
    NoMatchingKeyError,
    RawAesKeyring,
    RawRsaKeyring,
)
from securestore.localfile import PARTIAL_SUFFIX
from securestore.offline import decrypt_file, decrypt_tree, encrypt_file, encrypt_tree
from tests.message import esdk

NAMESPACE = "securestore"
NAME = "default"
AES_KEY = bytes(range(32))
F = 4096


@pytest.fixture(scope="module")
def aes() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, NAME, AES_KEY)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]


def test_exported_from_the_package() -> None:
    assert securestore.encrypt_file is encrypt_file
    assert securestore.decrypt_file is decrypt_file


@pytest.mark.parametrize("size", [0, 1, F - 1, F, F + 1, 3 * F, 3 * F + 7])
def test_round_trip_through_paths(tmp_path: Path, aes: RawAesKeyring, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    header = encrypt_file(
        tmp_path / "in", tmp_path / "ct", aes, context={"purpose": "t"}, frame_length=F
    )
    assert header.frame_length == F
    back = decrypt_file(tmp_path / "ct", tmp_path / "out", aes, context={"purpose": "t"})
    assert (tmp_path / "out").read_bytes() == data
    assert dict(back.encryption_context) == {"purpose": "t"}
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o600
    assert _partials(tmp_path) == []


def test_round_trip_through_streams(aes: RawAesKeyring) -> None:
    data = os.urandom(5 * F + 3)
    sink = io.BytesIO()
    encrypt_file(io.BytesIO(data), sink, aes, frame_length=F)
    out = io.BytesIO()
    decrypt_file(io.BytesIO(sink.getvalue()), out, aes)
    assert out.getvalue() == data


class _OneFrameAtATime(io.RawIOBase):
    """A source that counts the largest read asked of it."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.largest = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.largest = max(self.largest, len(buffer))
        n = min(len(buffer), self.left)
        buffer[:n] = b"\0" * n
        self.left -= n
        return n


class _Discard:
    def __init__(self) -> None:
        self.largest = 0
        self.total = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.largest = max(self.largest, len(data))
        self.total += len(data)


def test_encrypt_streams_one_frame_at_a_time(aes: RawAesKeyring) -> None:
    source = _OneFrameAtATime(64 * F)
    sink = _Discard()
    encrypt_file(source, sink, aes, frame_length=F)  # type: ignore[arg-type]
    # Never more than a frame read or written at once: memory is constant.
    assert source.largest <= F
    assert sink.largest <= F + 64  # a frame (sequence number, IV, tag) or the header
    assert sink.total > 64 * F


@pytest.mark.parametrize("kind", ["aes", "rsa"])
def test_the_esdk_decrypts_what_we_write(
    tmp_path: Path, aes: RawAesKeyring, rsa_key: rsa.RSAPrivateKey, kind: str
) -> None:
    data = os.urandom(2 * F + 5)
    (tmp_path / "in").write_bytes(data)
    if kind == "aes":
        keyring: Any = aes
        master = esdk.aes_master_key(NAMESPACE, NAME, AES_KEY)
    else:
        keyring = RawRsaKeyring(NAMESPACE, NAME, public_key=rsa_key.public_key())
        master = esdk.rsa_master_key(NAMESPACE, NAME, rsa_key)
    encrypt_file(tmp_path / "in", tmp_path / "ct", keyring, context={"a": "b"}, frame_length=F)
    plaintext, header = esdk.STRICT.decrypt(
        source=(tmp_path / "ct").read_bytes(), key_provider=master
    )
    assert plaintext == data
    assert header.encryption_context == {"a": "b"}


@pytest.mark.parametrize("algorithm", [esdk.COMMITTING, esdk.COMMITTING_SIGNED])
def test_we_decrypt_what_the_esdk_writes(
    tmp_path: Path, aes: RawAesKeyring, algorithm: Any
) -> None:
    data = os.urandom(3 * F + 1)
    master = esdk.aes_master_key(NAMESPACE, NAME, AES_KEY)
    message = esdk.esdk_encrypt(
        data, master, frame_length=F, algorithm=algorithm, context={"team": "x"}
    )
    (tmp_path / "ct").write_bytes(message)
    header = decrypt_file(tmp_path / "ct", tmp_path / "out", aes, context={"team": "x"})
    assert (tmp_path / "out").read_bytes() == data
    assert header.suite.signed == (algorithm is esdk.COMMITTING_SIGNED)


def _message(aes: RawAesKeyring, size: int = 3 * F) -> bytearray:
    sink = io.BytesIO()
    encrypt_file(io.BytesIO(os.urandom(size)), sink, aes, frame_length=F, context={"k": "v"})
    return bytearray(sink.getvalue())


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        ("flip-last-byte", AuthenticationError),
        ("truncate", FormatError),
        ("flip-header", IntegrityError),
    ],
)
def test_a_bad_message_leaves_the_destination_untouched(
    tmp_path: Path, aes: RawAesKeyring, damage: str, error: type[Exception]
) -> None:
    message = _message(aes)
    if damage == "flip-last-byte":
        message[-1] ^= 1
    elif damage == "truncate":
        del message[-10:]
    else:
        message[30] ^= 1
    (tmp_path / "ct").write_bytes(message)
    (tmp_path / "out").write_bytes(b"previous")
    with pytest.raises(error):
        decrypt_file(tmp_path / "ct", tmp_path / "out", aes)
    assert (tmp_path / "out").read_bytes() == b"previous"
    assert _partials(tmp_path) == []


def test_a_signed_message_with_a_bad_signature_releases_no_final_frame(
    aes: RawAesKeyring,
) -> None:
    master = esdk.aes_master_key(NAMESPACE, NAME, AES_KEY)
    message = bytearray(
        esdk.esdk_encrypt(b"x" * 100, master, frame_length=F, algorithm=esdk.COMMITTING_SIGNED)
    )
    message[-1] ^= 1  # inside the footer's signature
    out = io.BytesIO()
    with pytest.raises(IntegrityError):
        decrypt_file(io.BytesIO(bytes(message)), out, aes)
    assert out.getvalue() == b""  # one (final) frame: nothing released before the signature


def test_wrong_context_and_wrong_key_are_refused(tmp_path: Path, aes: RawAesKeyring) -> None:
    (tmp_path / "ct").write_bytes(_message(aes))
    with pytest.raises(AuthenticationError):
        decrypt_file(tmp_path / "ct", tmp_path / "out", aes, context={"k": "other"})
    other = RawAesKeyring(NAMESPACE, NAME, bytes(32))
    with pytest.raises(NoMatchingKeyError):
        decrypt_file(tmp_path / "ct", tmp_path / "out", other)
    renamed = RawAesKeyring(NAMESPACE, "another-name", AES_KEY)
    with pytest.raises(NoMatchingKeyError):
        decrypt_file(tmp_path / "ct", tmp_path / "out", renamed)
    assert not (tmp_path / "out").exists()


def test_refuses_to_replace_the_input_with_itself(tmp_path: Path, aes: RawAesKeyring) -> None:
    (tmp_path / "f").write_bytes(b"data")
    with pytest.raises(LocalFileError, match="the output is the input"):
        encrypt_file(tmp_path / "f", tmp_path / "f", aes)
    assert (tmp_path / "f").read_bytes() == b"data"


def test_a_read_only_destination_needs_overwrite_readonly(
    tmp_path: Path, aes: RawAesKeyring
) -> None:
    mode = 0o444  # no write bit at all: refused for root too
    (tmp_path / "in").write_bytes(b"data")
    (tmp_path / "ct").write_bytes(b"old")
    (tmp_path / "ct").chmod(mode)
    with pytest.raises(LocalFileError, match="read-only"):
        encrypt_file(tmp_path / "in", tmp_path / "ct", aes)
    assert (tmp_path / "ct").read_bytes() == b"old"
    encrypt_file(tmp_path / "in", tmp_path / "ct", aes, overwrite_readonly=True)
    assert (tmp_path / "ct").read_bytes() != b"old"


def test_missing_source_and_directory_source(tmp_path: Path, aes: RawAesKeyring) -> None:
    with pytest.raises(LocalFileError, match="no such file"):
        encrypt_file(tmp_path / "missing", tmp_path / "ct", aes)
    with pytest.raises(LocalFileError, match="is a directory"):
        encrypt_file(tmp_path, tmp_path / "ct", aes)
    assert not (tmp_path / "ct").exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_tree_round_trip(tmp_path: Path, aes: RawAesKeyring) -> None:
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    files = {"top.txt": b"top", "a/one": os.urandom(F + 1), "a/b/empty": b""}
    for name, data in files.items():
        (src / name).write_bytes(data)
    (src / "link").symlink_to(src / "top.txt")  # followed, as cp --recursive does
    files["link"] = b"top"
    entries = list(encrypt_tree(src, tmp_path / "enc", aes, frame_length=F))
    assert sorted(str(e.destination.relative_to(tmp_path / "enc")) for e in entries) == sorted(
        name + ".encrypted" for name in files
    )
    (tmp_path / "enc" / "stray.txt").write_bytes(b"not a message")  # no suffix: not read
    back = list(decrypt_tree(tmp_path / "enc", tmp_path / "dec", aes))
    assert len(back) == len(files)
    assert _tree(tmp_path / "dec") == files
    assert (tmp_path / "dec" / "a").stat().st_mode & 0o777 == 0o700


def test_tree_output_inside_the_input_is_refused(tmp_path: Path, aes: RawAesKeyring) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(LocalFileError, match="inside the input"):
        list(encrypt_tree(tmp_path, tmp_path / "out", aes))
    assert not (tmp_path / "out").exists()


def test_tree_stops_at_a_bad_message(tmp_path: Path, aes: RawAesKeyring) -> None:
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "a.encrypted").write_bytes(_message(aes))
    bad = _message(aes)
    bad[-1] ^= 1
    (enc / "b.encrypted").write_bytes(bad)
    with pytest.raises(AuthenticationError):
        list(decrypt_tree(enc, tmp_path / "dec", aes))
    assert (tmp_path / "dec" / "a").exists()
    assert not (tmp_path / "dec" / "b").exists()
    assert _partials(tmp_path / "dec") == []


def test_decrypt_tree_creates_every_new_directory_0700(tmp_path: Path, aes: RawAesKeyring) -> None:
    src = tmp_path / "src"
    (src / "x" / "y").mkdir(parents=True)
    (src / "x" / "y" / "f").write_bytes(b"plaintext")
    list(encrypt_tree(src, tmp_path / "enc", aes))
    list(decrypt_tree(tmp_path / "enc", tmp_path / "dec" / "deep", aes))
    # Intermediate directories too (mkdir(parents=True) would make them 0755).
    for folder in ("dec", "dec/deep", "dec/deep/x", "dec/deep/x/y"):
        assert (tmp_path / folder).stat().st_mode & 0o777 == 0o700, folder

"""Fixtures for client-side encryption through the store, against the TLS endpoint.

Keyrings with fixed key material (so the ESDK oracle can be built from the same
bytes), helpers to fetch and replace raw objects behind the store's back, and
the frame geometry of a stored message for tamper tests.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import Connection, IntegrityError, SecureStore
from securestore.clientside import ClientSide
from securestore.errors import SecureStoreError
from securestore.keyrings import AwsKmsKeyring, RawAesKeyring, RawRsaKeyring
from securestore.message import Header, Layout, parse
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptionMaterials,
    Keyring,
)
from tests.conftest import SMALL_TRANSFER

KiB = 1024
MiB = 1024 * KiB

NAMESPACE = "securestore-clientside-test"
AES_KEY = bytes(range(32))
AES_NAME = "aes-key-1"
OTHER_AES_KEY = bytes(range(100, 132))
RSA_NAME = "rsa-key-1"

#: Plaintext bytes of one multipart part when the store cuts 5 MiB parts.
PART = SMALL_TRANSFER.part_size


@pytest.fixture(scope="session")
def aes_keyring() -> RawAesKeyring:
    """A raw AES-256 keyring with fixed key material."""
    return RawAesKeyring(NAMESPACE, AES_NAME, AES_KEY)


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key pair per session (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_public_keyring(rsa_private_key: rsa.RSAPrivateKey) -> RawRsaKeyring:
    """Can wrap, cannot unwrap."""
    return RawRsaKeyring(NAMESPACE, RSA_NAME, public_key=rsa_private_key.public_key())


@pytest.fixture(scope="session")
def rsa_private_keyring(rsa_private_key: rsa.RSAPrivateKey) -> RawRsaKeyring:
    """Holds the private key: unwraps what the public keyring wrapped."""
    return RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key)


@pytest.fixture(scope="session")
def second_kms_key(connection: Connection) -> str:
    """The ARN of another customer-managed key on the test endpoint."""
    arn: str = connection.client("kms").create_key(Description="securestore tests, second")[
        "KeyMetadata"
    ]["Arn"]
    return arn


@pytest.fixture(scope="session")
def kms_keyring(kms_key: str, connection: Connection) -> AwsKmsKeyring:
    """A KMS keyring on the moto KMS behind the TLS endpoint."""
    return AwsKmsKeyring(kms_key, client=connection.client("kms"))


@pytest.fixture(scope="session")
def second_kms_keyring(second_kms_key: str, connection: Connection) -> AwsKmsKeyring:
    return AwsKmsKeyring(second_kms_key, client=connection.client("kms"))


class CountingKeyring:
    """Delegates to a keyring and counts the calls (to prove it was never asked)."""

    def __init__(self, inner: Keyring) -> None:
        self.inner = inner
        self.wraps = 0
        self.unwraps = 0

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.wraps += 1
        return self.inner.wrap(materials)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Any
    ) -> DecryptionMaterials:
        self.unwraps += 1
        return self.inner.unwrap(materials, encrypted_data_keys)


class Unseekable(io.RawIOBase):
    """A non-seekable stream of unknown length that returns short reads, like a pipe."""

    def __init__(self, data: bytes, *, max_read: int = 700_001) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0
        self._max_read = max_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._max_read, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@dataclass(frozen=True)
class Stored:
    """A client-side object fetched raw, with the frame geometry of its message."""

    data: bytes
    header: Header
    layout: Layout

    def frame(self, seq: int) -> tuple[int, int]:
        """Ciphertext ``[start, end)`` of frame ``seq``."""
        return self.layout.ciphertext_range(seq, seq)


class Raw:
    """Direct S3 access to the test bucket, behind the store's back."""

    def __init__(self, connection: Connection, bucket: str) -> None:
        self.s3 = connection.client("s3")
        self.bucket = bucket

    def get(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def put(self, key: str, data: bytes, *, marker: bool = True) -> None:
        """Store ``data`` as is; ``marker`` keeps the client-side metadata marker."""
        metadata = {"securestore-format": "aws-esdk-v2"} if marker else {}
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), Metadata=metadata)

    def stored(self, key: str) -> Stored:
        data = self.get(key)
        header = parse(data)
        layout = Layout.from_ciphertext_length(len(data), header.frame_length, header.length)
        return Stored(data, header, layout)

    def open_uploads(self) -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = self.s3.list_multipart_uploads(Bucket=self.bucket).get(
            "Uploads", []
        )
        return uploads


@pytest.fixture
def raw(connection: Connection, bucket: str) -> Raw:
    return Raw(connection, bucket)


@pytest.fixture
def cs_store(make_store: Callable[..., SecureStore]) -> Callable[..., SecureStore]:
    """``cs_store(keyring, **mode_options)``: a store whose mode is client-side."""

    def make(keyring: Keyring, **options: Any) -> SecureStore:
        return make_store(encryption=ClientSide(keyring, **options))

    return make


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    """``data`` with the bits of ``mask`` flipped at ``offset``."""
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def assert_rejected(
    store: SecureStore,
    key: str,
    folder: Path,
    error: type[SecureStoreError] = IntegrityError,
    **read: Any,
) -> SecureStoreError:
    """Every read path refuses the object with ``error`` and releases nothing.

    ``get`` raises; reading all of ``open`` raises (at open or at a read);
    ``download_file`` raises, leaves the existing destination untouched and no
    temporary file behind. Returns the ``get`` error.
    """
    with pytest.raises(error) as caught:
        store.get(key, **read)
    # The error may come from open() (header, keys) or from read() (frames).
    with pytest.raises(error), store.open(key, **read) as reader:
        reader.read()
    folder.mkdir(parents=True, exist_ok=True)
    existing = folder / "existing.bin"
    existing.write_bytes(b"previous content")
    with pytest.raises(error):
        store.download_file(key, existing, **read)
    assert existing.read_bytes() == b"previous content"
    assert sorted(p.name for p in folder.iterdir()) == ["existing.bin"]
    return caught.value


def chunks(reader: Any, size: int) -> Iterator[bytes]:
    while piece := reader.read(size):
        yield piece

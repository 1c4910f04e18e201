"""Interoperability with the aws-encryption-sdk through S3, both ways.

(a) What the store writes, fetched raw with GetObject, is decrypted by the
ESDK (strict commitment policy) with RawMasterKeys built from the same key
material, namespace and key name, and the ESDK sees our encryption context.
(b) Messages the ESDK writes (0x0478 and 0x0578, 4 KiB and 1 MiB frames),
uploaded as plain objects, are read by get, ranged open and download_file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import AuthenticationError, IntegrityError, SecureStore
from securestore.clientside import CONTEXT_BUCKET, CONTEXT_KEY
from securestore.clientside_reader import ClientSideReader
from securestore.keyrings import RawAesKeyring, RawRsaKeyring
from tests.clientside.conftest import AES_KEY, AES_NAME, NAMESPACE, PART, RSA_NAME, MiB, Raw
from tests.message import esdk

F = 4096


@pytest.fixture(scope="module")
def aes_master_key() -> Any:
    return esdk.aes_master_key(NAMESPACE, AES_NAME, AES_KEY)


@pytest.fixture(scope="module")
def rsa_master_key(rsa_private_key: rsa.RSAPrivateKey) -> Any:
    return esdk.rsa_master_key(NAMESPACE, RSA_NAME, rsa_private_key)


def esdk_decrypt_with_header(ciphertext: bytes, master_key: Any) -> tuple[bytes, Any]:
    plaintext, header = esdk.STRICT.decrypt(source=ciphertext, key_provider=master_key)
    return bytes(plaintext), header


# -- (a) the ESDK reads what the store writes --------------------------------------------------


@pytest.mark.parametrize("kind", ["raw-aes", "raw-rsa"])
def test_esdk_decrypts_what_the_store_wrote(
    request: pytest.FixtureRequest,
    cs_store: Callable[..., SecureStore],
    raw: Raw,
    bucket: str,
    kind: str,
) -> None:
    if kind == "raw-aes":
        keyring: Any = request.getfixturevalue("aes_keyring")
        master_key = request.getfixturevalue("aes_master_key")
    else:
        keyring = request.getfixturevalue("rsa_public_keyring")
        master_key = request.getfixturevalue("rsa_master_key")
    store = cs_store(keyring, frame_length=F, context={"tenant": "t-1", "purpose": "ïnterop"})
    for size in (0, 1, F, 2 * F + 1):
        plaintext = os.urandom(size)
        key = f"interop/{kind}/{size}"
        store.put(key, plaintext)
        got, header = esdk_decrypt_with_header(raw.get(key), master_key)
        assert got == plaintext, size
        assert header.algorithm is esdk.COMMITTING
        assert header.frame_length == F
        assert header.encryption_context == {
            CONTEXT_BUCKET: bucket,
            CONTEXT_KEY: key,
            "tenant": "t-1",
            "purpose": "ïnterop",
        }


def test_esdk_decrypts_a_multipart_object(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    aes_master_key: Any,
    raw: Raw,
) -> None:
    store = cs_store(aes_keyring, frame_length=64 * 1024)
    plaintext = os.urandom(PART + 64 * 1024 + 1)
    store.put("mp", plaintext)
    got, header = esdk_decrypt_with_header(raw.get("mp"), aes_master_key)
    assert got == plaintext
    assert header.encryption_context[CONTEXT_KEY] == "mp"


# -- (b) the store reads what the ESDK writes --------------------------------------------------

ESDK_ALGORITHMS = {"0478": esdk.COMMITTING, "0578": esdk.COMMITTING_SIGNED}
ESDK_BODIES = [
    (F, 0),
    (F, 3 * F),  # the ESDK ends an exact multiple with an extra, empty final frame
    (F, 5 * F + 100),
    (MiB, 0),
    (MiB, MiB),
    (MiB, 2 * MiB + 5),
]


def ranges_for(size: int, frame: int) -> list[tuple[int, int]]:
    return [
        (0, 1),
        (frame - 1, 2),
        (frame, frame),
        (size - 1, 1),
        (size - 3, 10),
        (size, 4),
        (size + 10, 4),
        (0, size),
    ]


@pytest.mark.parametrize("algorithm", ESDK_ALGORITHMS.values(), ids=ESDK_ALGORITHMS.keys())
@pytest.mark.parametrize(("frame", "size"), ESDK_BODIES, ids=[f"F{f}-n{n}" for f, n in ESDK_BODIES])
def test_store_reads_what_the_esdk_wrote(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    aes_master_key: Any,
    raw: Raw,
    bucket: str,
    algorithm: Any,
    frame: int,
    size: int,
    tmp_path: Path,
) -> None:
    plaintext = os.urandom(size)
    message = esdk.esdk_encrypt(
        plaintext,
        aes_master_key,
        frame_length=frame,
        algorithm=algorithm,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: "from-esdk", "origin": "esdk"},
    )
    raw.put("from-esdk", message, marker=False)
    store = cs_store(aes_keyring)
    assert store.get("from-esdk") == plaintext
    with store.open("from-esdk") as reader:
        assert isinstance(reader, ClientSideReader)
        assert reader.size == size
        assert reader.header.suite.value == algorithm.algorithm_id
        for start, length in ranges_for(size, frame):
            want = plaintext[max(0, start) : max(0, start) + length]
            assert reader.read_range(max(0, start), length) == want, (start, length)
        reader.seek(0)
        assert reader.read() == plaintext
    target = tmp_path / "esdk.bin"
    store.download_file("from-esdk", target)
    assert target.read_bytes() == plaintext


def test_store_reads_esdk_raw_rsa(
    cs_store: Callable[..., SecureStore],
    rsa_private_keyring: RawRsaKeyring,
    rsa_master_key: Any,
    raw: Raw,
    bucket: str,
) -> None:
    plaintext = os.urandom(3 * F + 1)
    message = esdk.esdk_encrypt(
        plaintext,
        rsa_master_key,
        frame_length=F,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: "rsa"},
    )
    raw.put("rsa", message, marker=False)
    assert cs_store(rsa_private_keyring).get("rsa") == plaintext


@pytest.mark.parametrize("algorithm", ESDK_ALGORITHMS.values(), ids=ESDK_ALGORITHMS.keys())
def test_esdk_message_without_location_needs_relocated(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    aes_master_key: Any,
    raw: Raw,
    algorithm: Any,
    tmp_path: Path,
) -> None:
    plaintext = os.urandom(2 * F + 9)
    message = esdk.esdk_encrypt(
        plaintext, aes_master_key, frame_length=F, algorithm=algorithm, context={"a": "b"}
    )
    raw.put("unbound", message, marker=False)
    store = cs_store(aes_keyring)
    with pytest.raises(IntegrityError) as caught:
        store.get("unbound")
    assert not isinstance(caught.value, AuthenticationError)
    assert "carries no securestore location" in caught.value.message
    assert caught.value.hint is not None and "relocated" in caught.value.hint
    assert store.get("unbound", relocated=True) == plaintext
    assert store.get("unbound", relocated=True, context={"a": "b"}) == plaintext
    with pytest.raises(IntegrityError) as caught:
        store.get("unbound", relocated=True, context={"a": "c"})
    assert "'a'" in caught.value.message and "'c'" not in caught.value.message
    with store.open("unbound", relocated=True) as reader:
        assert reader.read_range(F - 2, 4) == plaintext[F - 2 : F + 2]
    store.download_file("unbound", tmp_path / "u.bin", relocated=True)
    assert (tmp_path / "u.bin").read_bytes() == plaintext


def test_esdk_message_bound_to_another_location_is_refused(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    aes_master_key: Any,
    raw: Raw,
    bucket: str,
    tmp_path: Path,
) -> None:
    message = esdk.esdk_encrypt(
        b"elsewhere",
        aes_master_key,
        frame_length=F,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: "other-key"},
    )
    raw.put("here", message, marker=False)
    store = cs_store(aes_keyring)
    with pytest.raises(IntegrityError) as caught:
        store.get("here")
    assert "other-key" in caught.value.message
    assert store.get("here", relocated=True) == b"elsewhere"


def test_sse_store_with_keyring_reads_marked_esdk_object(
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    aes_master_key: Any,
    raw: Raw,
    bucket: str,
) -> None:
    message = esdk.esdk_encrypt(
        b"marked",
        aes_master_key,
        frame_length=F,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: "m"},
    )
    raw.put("m", message, marker=True)
    assert make_store(keyring=aes_keyring).get("m") == b"marked"

"""Interoperability with the aws-encryption-sdk, both ways, in memory."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import FormatError, PolicyError
from securestore.keyrings import RawAesKeyring, RawRsaKeyring
from securestore.message import (
    AlgorithmSuite,
    DecryptingReader,
    Decryptor,
    DecryptPolicy,
    Layout,
    decrypt,
    decrypt_stream,
    encrypt,
    parse,
    verify_signature,
)
from tests.message import esdk
from tests.message.conftest import AES_KEY, KEY_NAME, NAMESPACE

MIB = 1024 * 1024
CONTEXT = {"securestore:bucket": "b", "securestore:key": "k/ü"}
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
]
ESDK_ALGORITHMS = [esdk.COMMITTING, esdk.COMMITTING_SIGNED]


@pytest.fixture(scope="module")
def aes_master_key() -> object:
    return esdk.aes_master_key(NAMESPACE, KEY_NAME, AES_KEY)


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.value:04x}")
@pytest.mark.parametrize("length", [0, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 5])
def test_esdk_decrypts_ours_raw_aes(
    aes_keyring: RawAesKeyring, aes_master_key: object, suite: AlgorithmSuite, length: int
) -> None:
    plaintext = os.urandom(length)
    message = encrypt(
        plaintext, aes_keyring, encryption_context=CONTEXT, frame_length=4096, suite=suite
    )
    assert esdk.esdk_decrypt(bytes(message), aes_master_key) == plaintext


def test_esdk_decrypts_ours_raw_rsa(
    rsa_keyring: RawRsaKeyring, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    plaintext = os.urandom(10_000)
    message = encrypt(plaintext, rsa_keyring, encryption_context=CONTEXT, frame_length=4096)
    master_key = esdk.rsa_master_key(NAMESPACE, "rsa-key-1", rsa_private_key)
    assert esdk.esdk_decrypt(bytes(message), master_key) == plaintext


def test_esdk_decrypts_ours_one_mib_frames(
    aes_keyring: RawAesKeyring, aes_master_key: object
) -> None:
    plaintext = os.urandom(2 * MIB + 3)
    message = encrypt(plaintext, aes_keyring, frame_length=MIB)
    assert esdk.esdk_decrypt(bytes(message), aes_master_key) == plaintext


@pytest.mark.parametrize("algorithm", ESDK_ALGORITHMS, ids=["0478", "0578"])
@pytest.mark.parametrize(
    ("length", "frame_length"),
    [
        (0, 4096),
        (1, 4096),
        (4096, 4096),
        (3 * 4096 + 7, 4096),
        (0, MIB),
        (MIB, MIB),
        (MIB + 1, MIB),
    ],
)
def test_we_decrypt_esdk_raw_aes(
    aes_keyring: RawAesKeyring,
    aes_master_key: object,
    algorithm: object,
    length: int,
    frame_length: int,
) -> None:
    plaintext = os.urandom(length)
    message = esdk.esdk_encrypt(
        plaintext, aes_master_key, frame_length=frame_length, algorithm=algorithm, context=CONTEXT
    )
    assert decrypt(message, aes_keyring, expected_context=CONTEXT) == plaintext
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(message), sink, aes_keyring, expected_context=CONTEXT)
    assert sink.getvalue() == plaintext
    with DecryptingReader(io.BytesIO(message), aes_keyring) as reader:
        assert b"".join(iter(lambda: reader.read(1000), b"")) == plaintext
    if algorithm is esdk.COMMITTING_SIGNED:
        assert verify_signature(io.BytesIO(message), aes_keyring).suite.signed


def test_we_decrypt_esdk_raw_rsa(
    rsa_keyring: RawRsaKeyring, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    plaintext = os.urandom(9000)
    master_key = esdk.rsa_master_key(NAMESPACE, "rsa-key-1", rsa_private_key)
    message = esdk.esdk_encrypt(plaintext, master_key, frame_length=4096, context=CONTEXT)
    assert decrypt(message, rsa_keyring) == plaintext


@pytest.mark.parametrize("algorithm", ESDK_ALGORITHMS, ids=["0478", "0578"])
def test_random_access_on_esdk_messages(
    aes_keyring: RawAesKeyring, aes_master_key: object, algorithm: object
) -> None:
    """The ESDK ends an exact multiple with an empty final frame; the layout handles it."""
    frame = 4096
    for length in (5 * frame, 5 * frame + 100):
        plaintext = os.urandom(length)
        message = esdk.esdk_encrypt(
            plaintext, aes_master_key, frame_length=frame, algorithm=algorithm
        )
        header = parse(message)
        decryptor = Decryptor(header, aes_keyring)
        footer = 0
        if header.suite.signed:
            footer = 2 + int.from_bytes(message[-105:-103], "big")
            assert footer == 105
        layout = Layout.from_ciphertext_length(len(message), frame, header.length, footer)
        assert layout.plaintext_length == length
        for seq in (3, 1, layout.frame_count, 2):
            start, end = layout.ciphertext_range(seq, seq)
            final = seq == layout.frame_count
            got = decryptor.decrypt_frame(seq, message[start:end], final=final)
            lo, hi = layout.frame_plaintext_range(seq)
            assert got == plaintext[lo:hi]
        first, last = layout.frames_for_range(frame + 10, 4 * frame + 10)
        start, end = layout.ciphertext_range(first, last)
        got = decryptor.decrypt_frames(first, message[start:end], includes_final=False)
        assert got == plaintext[(first - 1) * frame : last * frame]
        first, last = layout.frames_for_range(2 * frame, length)
        start, end = layout.ciphertext_range(first, layout.frame_count)
        got = decryptor.decrypt_frames(first, message[start:end], includes_final=True)
        assert got == plaintext[2 * frame :]


@pytest.mark.parametrize(
    "algorithm_name",
    [
        "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
        "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
        "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        "AES_256_GCM_IV12_TAG16",
    ],
)
def test_non_committing_suites_need_opt_in(aes_master_key: object, algorithm_name: str) -> None:
    from aws_encryption_sdk.identifiers import Algorithm

    keyring = RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)
    plaintext = os.urandom(5000)
    message = esdk.esdk_encrypt(
        plaintext,
        aes_master_key,
        frame_length=4096,
        algorithm=Algorithm[algorithm_name],
        client=esdk.LEGACY,
    )
    with pytest.raises(PolicyError):
        decrypt(message, keyring)
    got = decrypt(message, keyring, policy=DecryptPolicy.ALLOW_NON_COMMITTING)
    assert got == plaintext


def test_non_framed_messages_are_refused(
    aes_master_key: object, aes_keyring: RawAesKeyring
) -> None:
    message = esdk.esdk_encrypt(b"x" * 10, aes_master_key, frame_length=0)
    with pytest.raises(FormatError, match="non-framed"):
        decrypt(message, aes_keyring)

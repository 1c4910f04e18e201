"""Reproduced encryption context (the ESDK's required-encryption-context CMM).

Such a writer authenticates some pairs without storing them: the header tag's AAD
is the header body followed by their serialization, and the data key is wrapped
under the whole context. A reader passes them as ``expected_context``.
"""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import AuthenticationError, IntegrityError, NoMatchingKeyError
from securestore.keyrings import EncryptionMaterials, Keyring, RawAesKeyring, RawRsaKeyring
from securestore.message import (
    AlgorithmSuite,
    DecryptingReader,
    Header,
    decrypt,
    encrypt,
    parse,
    serialize_context,
)
from securestore.message.derivation import content_key
from securestore.message.encrypt import Encryptor
from securestore.message.frames import FrameCipher
from tests.message.conftest import AES_KEY, KEY_NAME, NAMESPACE

SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
STORED = {"tenant": "t-1"}
REQUIRED = {"order": "42", "region": "eu"}
DATA_KEY = bytes(range(32))
MESSAGE_ID = bytes(range(32, 64))
PLAINTEXT = b"required context " * 10


def _required_message(keyring: Keyring) -> bytes:
    """What the ESDK writes with REQUIRED as required keys (built by hand: see docstring)."""
    materials = keyring.wrap(
        EncryptionMaterials(SUITE, {**STORED, **REQUIRED}, bytearray(DATA_KEY))
    )
    encryptor = Encryptor._from_parts(
        data_key=DATA_KEY,
        message_id=MESSAGE_ID,
        encryption_context=STORED,
        encrypted_data_keys=materials.encrypted_data_keys,
        frame_length=64,
    )
    cipher = FrameCipher(SUITE, content_key(SUITE, DATA_KEY, MESSAGE_ID), MESSAGE_ID, 64)
    tag = cipher.header_tag(encryptor.header.body + serialize_context(REQUIRED))
    frames = [
        encryptor.encrypt_frame(seq, PLAINTEXT[(seq - 1) * 64 : seq * 64], final=seq == 3)
        for seq in (1, 2, 3)
    ]
    return encryptor.header.body + tag + b"".join(frames)


@pytest.fixture(params=["aes", "rsa"])
def keyring(request: pytest.FixtureRequest, rsa_private_key: rsa.RSAPrivateKey) -> Keyring:
    if request.param == "aes":
        return RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)
    return RawRsaKeyring(NAMESPACE, "rsa", private_key=rsa_private_key)


def test_reproduced_pairs_authenticate_the_header(keyring: Keyring) -> None:
    message = _required_message(keyring)
    header: Header = parse(message)
    assert dict(header.encryption_context) == STORED
    expected = {**STORED, **REQUIRED}
    assert decrypt(message, keyring, expected_context=expected) == PLAINTEXT
    assert decrypt(message, keyring, expected_context=REQUIRED) == PLAINTEXT
    stream = DecryptingReader(io.BytesIO(message), keyring, expected_context=REQUIRED)
    assert stream.read() == PLAINTEXT


def test_missing_or_wrong_reproduced_pairs_are_refused(keyring: Keyring) -> None:
    message = _required_message(keyring)
    refused = (AuthenticationError, NoMatchingKeyError)
    for expected in ({}, {"order": "42"}, {**REQUIRED, "order": "43"}, STORED):
        with pytest.raises(refused):
            decrypt(message, keyring, expected_context=expected)
    tampered = bytearray(message)
    tampered[40] ^= 1  # inside the stored context
    with pytest.raises((IntegrityError, NoMatchingKeyError)):
        decrypt(tampered, keyring, expected_context=REQUIRED)


def test_a_pair_the_writer_did_not_bind_is_named(keyring: Keyring) -> None:
    message = bytes(encrypt(b"plain", keyring, encryption_context=STORED, frame_length=64))
    with pytest.raises(IntegrityError, match="neither stores nor authenticates 'order'") as info:
        decrypt(message, keyring, expected_context={"order": "42"})
    assert not isinstance(info.value, AuthenticationError)
    # A differing stored value stays the one fixed authentication error.
    with pytest.raises(AuthenticationError) as fixed:
        decrypt(message, keyring, expected_context={"tenant": "t-2"})
    assert str(fixed.value) == AuthenticationError.MESSAGE

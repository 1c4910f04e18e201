"""The pure header rewrite: new header + unchanged body is a valid message (ESDK oracle)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring
from securestore.message import AlgorithmSuite, decrypt, encrypt, parse
from securestore.message.encrypt import Encryptor
from securestore.message.materials import EncryptedDataKey, EncryptionMaterials
from securestore.message.rewrite import ContextChange, rewrap_header, rewrite_header
from tests.message import esdk

NAMESPACE = "securestore-rewrap-test"
AES_KEY = bytes(range(32))
NEW_AES_KEY = bytes(range(50, 82))
CONTEXT = {"securestore:bucket": "b", "securestore:key": "k", "team": "finance"}
FRAME = 4096
PLAINTEXT = os.urandom(3 * FRAME + 100)
KMS_ARN = "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def aes() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "aes-old", AES_KEY)


@pytest.fixture(scope="module")
def new_aes() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "aes-new", NEW_AES_KEY)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_private(rsa_key: rsa.RSAPrivateKey) -> RawRsaKeyring:
    return RawRsaKeyring(NAMESPACE, "rsa", private_key=rsa_key)


@pytest.fixture(scope="module")
def rsa_public(rsa_key: rsa.RSAPrivateKey) -> RawRsaKeyring:
    return RawRsaKeyring(NAMESPACE, "rsa", public_key=rsa_key.public_key())


@pytest.fixture(scope="module")
def message(aes: RawAesKeyring) -> bytes:
    return bytes(encrypt(PLAINTEXT, aes, encryption_context=CONTEXT, frame_length=FRAME))


def _split(data: bytes) -> tuple[bytes, bytes]:
    header = parse(data)
    return data[: header.length], data[header.length :]


def _esdk_aes(name: str, key: bytes) -> object:
    return esdk.aes_master_key(NAMESPACE, name, key)


def test_add_rsa_then_both_decrypt_with_our_engine_and_the_esdk(
    message: bytes,
    aes: RawAesKeyring,
    rsa_public: RawRsaKeyring,
    rsa_private: RawRsaKeyring,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    old_header, body = _split(message)
    result = rewrap_header(old_header, aes, add=[rsa_public])
    new = result.header_bytes + body
    assert len(result.added) == 1 and len(result.kept) == 1 and not result.removed
    assert new[len(result.header_bytes) :] == message[result.old.length :]  # body untouched
    assert parse(new).message_id == parse(message).message_id
    for keyring in (aes, rsa_private):
        assert bytes(decrypt(new, keyring, expected_context=CONTEXT)) == PLAINTEXT
    assert esdk.esdk_decrypt(new, _esdk_aes("aes-old", AES_KEY)) == PLAINTEXT
    assert esdk.esdk_decrypt(new, esdk.rsa_master_key(NAMESPACE, "rsa", rsa_key)) == PLAINTEXT


def test_rotate_aes_key_removes_the_old_data_key(
    message: bytes, aes: RawAesKeyring, new_aes: RawAesKeyring
) -> None:
    old_header, body = _split(message)
    result = rewrap_header(old_header, aes, add=[new_aes], remove=[aes])
    new = result.header_bytes + body
    names = [edk.provider_info[: len(b"aes-old")] for edk in parse(new).encrypted_data_keys]
    assert b"aes-old" not in names
    assert [e.provider_info for e in result.removed] == [
        e.provider_info for e in parse(message).encrypted_data_keys
    ]
    assert bytes(decrypt(new, new_aes, expected_context=CONTEXT)) == PLAINTEXT
    assert esdk.esdk_decrypt(new, _esdk_aes("aes-new", NEW_AES_KEY)) == PLAINTEXT
    with pytest.raises(NoMatchingKeyError):
        decrypt(new, aes)
    with pytest.raises(Exception):  # noqa: B017 - the ESDK raises its own error types
        esdk.esdk_decrypt(new, _esdk_aes("aes-old", AES_KEY))


def test_rebind_context_rewraps_kept_keys(
    aes: RawAesKeyring, rsa_private: RawRsaKeyring, rsa_key: rsa.RSAPrivateKey
) -> None:
    both = MultiKeyring(generator=aes, children=[rsa_private])
    message = bytes(encrypt(PLAINTEXT, both, encryption_context=CONTEXT, frame_length=FRAME))
    old_header, body = _split(message)
    change = ContextChange(
        set={"securestore:bucket": "b2", "securestore:key": "moved/k", "project": "x"},
        remove=["team"],
    )
    result = rewrap_header(old_header, aes, context=change, rewrap=[aes, rsa_private])
    assert result.context_changed and len(result.rewrapped) == 2
    new = result.header_bytes + body
    expected = {"securestore:bucket": "b2", "securestore:key": "moved/k", "project": "x"}
    assert dict(parse(new).encryption_context) == expected
    for keyring in (aes, rsa_private):
        assert bytes(decrypt(new, keyring, expected_context=expected)) == PLAINTEXT
    assert esdk.esdk_decrypt(new, _esdk_aes("aes-old", AES_KEY)) == PLAINTEXT
    assert esdk.esdk_decrypt(new, esdk.rsa_master_key(NAMESPACE, "rsa", rsa_key)) == PLAINTEXT
    with pytest.raises(AuthenticationError):
        decrypt(new, aes, expected_context=CONTEXT)


def test_context_change_refuses_to_carry_a_key_it_cannot_rewrap(
    aes: RawAesKeyring, rsa_private: RawRsaKeyring
) -> None:
    both = MultiKeyring(generator=aes, children=[rsa_private])
    message = bytes(encrypt(PLAINTEXT, both, encryption_context=CONTEXT, frame_length=FRAME))
    with pytest.raises(NoMatchingKeyError, match="cannot be carried"):
        rewrap_header(message, aes, context=ContextChange(set={"a": "b"}), rewrap=[aes])


def test_removing_the_last_key_is_refused(message: bytes, aes: RawAesKeyring) -> None:
    with pytest.raises(ConfigurationError, match="last data key"):
        rewrap_header(message, aes, remove=[aes])


def test_the_data_key_limit_is_enforced(message: bytes, aes: RawAesKeyring) -> None:
    extra = [RawAesKeyring(NAMESPACE, f"extra-{i}", os.urandom(32)) for i in range(10)]
    with pytest.raises(ConfigurationError, match="limit is 10"):
        rewrap_header(message, aes, add=extra)
    result = rewrap_header(message, aes, add=extra, max_encrypted_data_keys=11)
    assert len(result.header.encrypted_data_keys) == 11


def test_a_removal_that_matches_nothing_is_refused(
    message: bytes, aes: RawAesKeyring, new_aes: RawAesKeyring
) -> None:
    with pytest.raises(ConfigurationError, match="nothing to remove"):
        rewrap_header(message, aes, add=[new_aes], remove=[new_aes])
    with pytest.raises(ConfigurationError, match="no data key wrapped by KMS key"):
        rewrap_header(message, aes, add=[new_aes], remove_kms_keys=[KMS_ARN])


def test_remove_kms_data_key_by_arn(aes: RawAesKeyring) -> None:
    data_key = bytearray(os.urandom(32))
    suite = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    wrapped = aes.wrap(EncryptionMaterials(suite, CONTEXT, data_key)).encrypted_data_keys
    kms = EncryptedDataKey("aws-kms", KMS_ARN.encode(), b"opaque kms blob")
    encryptor = Encryptor._from_parts(
        data_key=bytes(data_key),
        message_id=os.urandom(32),
        encryption_context=CONTEXT,
        encrypted_data_keys=(kms, *wrapped),
        frame_length=FRAME,
    )
    header = encryptor.header
    result = rewrite_header(header, data_key, remove_kms_keys=[KMS_ARN])
    assert result.removed == (kms,)
    assert [e.provider_id for e in result.header.encrypted_data_keys] == [NAMESPACE]


def test_tampered_old_header_is_refused(aes: RawAesKeyring, rsa_private: RawRsaKeyring) -> None:
    # RSA wraps do not bind the context, so only the header tag can catch this.
    message = bytes(encrypt(PLAINTEXT, rsa_private, encryption_context=CONTEXT, frame_length=FRAME))
    header = parse(message)
    at = message.index(b"finance")
    tampered = message[:at] + b"fInance" + message[at + 7 : header.length]
    with pytest.raises(AuthenticationError):
        rewrap_header(tampered, rsa_private, add=[aes])
    # The frame length (4 bytes before the 32-byte commitment key, then the 16-byte tag).
    at = header.length - 16 - 32 - 1
    with pytest.raises(AuthenticationError):
        rewrap_header(flip(message[: header.length], at), rsa_private, add=[aes])
    with pytest.raises(AuthenticationError):
        rewrap_header(flip(message[: header.length], header.length - 1), rsa_private, add=[aes])
    # The commitment key itself.
    with pytest.raises(AuthenticationError):
        rewrap_header(flip(message[: header.length], header.length - 20), rsa_private, add=[aes])


def flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def test_a_data_key_that_fails_the_commitment_is_refused(message: bytes) -> None:
    with pytest.raises(AuthenticationError):
        rewrite_header(parse(message), bytearray(32), add=[])


def test_a_key_that_cannot_unwrap_is_refused(message: bytes, new_aes: RawAesKeyring) -> None:
    with pytest.raises(NoMatchingKeyError):
        rewrap_header(message, new_aes, add=[new_aes])


def test_expected_context_is_checked_before_unwrapping(message: bytes, aes: RawAesKeyring) -> None:
    with pytest.raises(AuthenticationError):
        rewrap_header(message, aes, expected_context={"securestore:key": "other"}, add=[aes])


def test_signed_messages_are_refused(aes: RawAesKeyring) -> None:
    signed = encrypt(
        PLAINTEXT,
        aes,
        encryption_context=CONTEXT,
        frame_length=FRAME,
        suite=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    )
    with pytest.raises(PolicyError, match="signed message"):
        rewrap_header(signed, aes, add=[aes])


def test_context_change_validation(message: bytes, aes: RawAesKeyring) -> None:
    with pytest.raises(ConfigurationError, match="no context key"):
        rewrap_header(message, aes, context=ContextChange(remove=["missing"]), rewrap=[aes])
    with pytest.raises(ConfigurationError, match="reserved"):
        rewrap_header(message, aes, context=ContextChange(set={"aws-crypto-x": "y"}), rewrap=[aes])

"""Raw AES, raw RSA and multi-keyrings."""

from __future__ import annotations

import os

import pytest
from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    KeyUnavailableError,
    NoMatchingKeyError,
)
from securestore.keyrings import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
)
from securestore.message import AlgorithmSuite, decrypt, encrypt
from securestore.message.encrypt import Encryptor
from tests.message import esdk

SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
KEY = os.urandom(32)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_raw_aes_wrap_generates_and_unwraps() -> None:
    keyring = RawAesKeyring("ns", "k", KEY)
    assert isinstance(keyring, Keyring)
    materials = keyring.wrap(EncryptionMaterials(SUITE, {"a": "b"}))
    assert materials.data_key is not None and len(materials.data_key) == 32
    (edk,) = materials.encrypted_data_keys
    assert edk.provider_id == "ns"
    assert edk.provider_info[:1] == b"k" and edk.provider_info[1:9] == bytes.fromhex(
        "000000800000000c"
    )
    assert len(edk.provider_info) == 1 + 8 + 12
    assert len(edk.ciphertext) == 32 + 16
    out = keyring.unwrap(DecryptionMaterials(SUITE, {"a": "b"}), [edk])
    assert out.data_key == materials.data_key
    with pytest.raises(NoMatchingKeyError):  # the context is the AAD
        keyring.unwrap(DecryptionMaterials(SUITE, {"a": "c"}), [edk])


def test_no_key_material_in_repr_or_errors() -> None:
    keyring = RawAesKeyring("ns", "k", KEY)
    materials = keyring.wrap(EncryptionMaterials(SUITE, {}))
    assert materials.data_key is not None
    for text in (repr(keyring), repr(materials), str(materials)):
        assert KEY.hex() not in text and bytes(materials.data_key).hex() not in text
        assert "data_key=" not in text
    with pytest.raises(NoMatchingKeyError) as info:
        RawAesKeyring("ns", "k", os.urandom(32)).unwrap(
            DecryptionMaterials(SUITE, {}), materials.encrypted_data_keys
        )
    assert KEY.hex() not in str(info.value)
    assert info.value.tried == ("raw-aes ns/k",)


def test_raw_aes_rejects_bad_keys() -> None:
    with pytest.raises(ConfigurationError):
        RawAesKeyring("ns", "k", b"short")


def test_raw_rsa_public_only_encrypts(rsa_key: rsa.RSAPrivateKey) -> None:
    public = RawRsaKeyring("ns", "rsa", public_key=rsa_key.public_key())
    private = RawRsaKeyring("ns", "rsa", private_key=rsa_key)
    message = encrypt(b"secret", public, frame_length=64)
    with pytest.raises(NoMatchingKeyError, match="raw RSA") as info:
        decrypt(message, public)
    assert "public key only" in info.value.tried[0]
    assert decrypt(message, private) == b"secret"
    assert "can_unwrap=True" in repr(private)


def test_raw_rsa_checks_key_pair(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ConfigurationError, match="do not match"):
        RawRsaKeyring("ns", "rsa", public_key=other.public_key(), private_key=rsa_key)
    with pytest.raises(ConfigurationError):
        RawRsaKeyring("ns", "rsa")


def test_multi_keyring_all_wrap_any_unwraps(rsa_key: rsa.RSAPrivateKey) -> None:
    aes = RawAesKeyring("ns", "aes", KEY)
    rsa_ring = RawRsaKeyring("ns", "rsa", private_key=rsa_key)
    multi = MultiKeyring(aes, [rsa_ring])
    message = encrypt(b"data", multi, frame_length=64)
    assert decrypt(message, aes) == b"data"
    assert decrypt(message, rsa_ring) == b"data"
    assert (
        decrypt(message, MultiKeyring(children=[RawAesKeyring("x", "y", KEY), rsa_ring])) == b"data"
    )


def test_multi_keyring_without_generator_needs_a_key() -> None:
    with pytest.raises(ConfigurationError):
        MultiKeyring(children=[RawAesKeyring("ns", "aes", KEY)]).wrap(
            EncryptionMaterials(SUITE, {})
        )
    with pytest.raises(ConfigurationError):
        MultiKeyring()


class _Down:
    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise KeyUnavailableError("KMS GenerateDataKey failed for key k: Throttling")

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: object
    ) -> DecryptionMaterials:
        raise KeyUnavailableError("KMS Decrypt failed for key k: Throttling")


def test_multi_keyring_unavailable_child() -> None:
    aes = RawAesKeyring("ns", "aes", KEY)
    message = encrypt(b"data", aes, frame_length=64)
    assert decrypt(message, MultiKeyring(children=[_Down(), aes])) == b"data"
    with pytest.raises(KeyUnavailableError):
        decrypt(
            message, MultiKeyring(children=[_Down(), RawAesKeyring("ns", "aes", os.urandom(32))])
        )


def test_raw_aes_unwraps_only_its_own_namespace_and_key_name() -> None:
    # Same key bytes, same name length: only the namespace and name filters can
    # refuse (the wrapping AAD is the context, which does not name the key).
    materials = RawAesKeyring("ns-a", "key-a", KEY).wrap(EncryptionMaterials(SUITE, {}))
    edks = materials.encrypted_data_keys
    request = DecryptionMaterials(SUITE, {})
    assert RawAesKeyring("ns-a", "key-a", KEY).unwrap(request, edks).data_key == materials.data_key
    for namespace, name in (("ns-a", "key-b"), ("ns-b", "key-a")):
        with pytest.raises(NoMatchingKeyError):
            RawAesKeyring(namespace, name, KEY).unwrap(request, edks)


def test_raw_rsa_unwraps_only_its_own_namespace_and_key_name(rsa_key: rsa.RSAPrivateKey) -> None:
    ring = RawRsaKeyring("ns-a", "key-a", private_key=rsa_key)
    materials = ring.wrap(EncryptionMaterials(SUITE, {}))
    edks = materials.encrypted_data_keys
    request = DecryptionMaterials(SUITE, {})
    assert ring.unwrap(request, edks).data_key == materials.data_key
    for namespace, name in (("ns-b", "key-a"), ("ns-a", "key-b")):
        with pytest.raises(NoMatchingKeyError):
            RawRsaKeyring(namespace, name, private_key=rsa_key).unwrap(request, edks)


def _esdk_rsa_message(rsa_key: rsa.RSAPrivateKey, wrapping: str, plaintext: bytes) -> bytes:
    """A message written by the ESDK (the oracle) with a raw RSA key and ``wrapping``."""

    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    master_key = RawMasterKey(
        provider_id="ns",
        key_id=b"rsa",
        wrapping_key=WrappingKey(WrappingAlgorithm[wrapping], pem, EncryptionKeyType.PRIVATE),
    )
    return esdk.esdk_encrypt(plaintext, master_key, frame_length=128)


@pytest.mark.parametrize(
    "wrapping",
    ["RSA_OAEP_SHA1_MGF1", "RSA_OAEP_SHA256_MGF1", "RSA_OAEP_SHA384_MGF1", "RSA_OAEP_SHA512_MGF1"],
)
def test_raw_rsa_reads_every_oaep_hash(rsa_key: rsa.RSAPrivateKey, wrapping: str) -> None:
    message = _esdk_rsa_message(rsa_key, wrapping, b"oaep")
    assert decrypt(message, RawRsaKeyring("ns", "rsa", private_key=rsa_key)) == b"oaep"


def test_raw_rsa_writes_oaep_sha256_only(rsa_key: rsa.RSAPrivateKey) -> None:

    ring = RawRsaKeyring("ns", "rsa", public_key=rsa_key.public_key(), allow_legacy_pkcs1=True)
    materials = ring.wrap(EncryptionMaterials(SUITE, {}))
    (edk,) = materials.encrypted_data_keys
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert materials.data_key is not None
    assert rsa_key.decrypt(edk.ciphertext, oaep) == bytes(materials.data_key)


def test_pkcs1_needs_the_legacy_opt_in(rsa_key: rsa.RSAPrivateKey) -> None:
    message = _esdk_rsa_message(rsa_key, "RSA_PKCS1", b"legacy")
    with pytest.raises(NoMatchingKeyError):
        decrypt(message, RawRsaKeyring("ns", "rsa", private_key=rsa_key))
    legacy = RawRsaKeyring("ns", "rsa", private_key=rsa_key, allow_legacy_pkcs1=True)
    assert "allow_legacy_pkcs1=True" in repr(legacy)
    assert decrypt(message, legacy) == b"legacy"


def test_pkcs1_failures_are_indistinguishable(rsa_key: rsa.RSAPrivateKey) -> None:
    """Bad padding, a wrong length, a wrong key: one exception, one message."""

    public = rsa_key.public_key()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    data_key = os.urandom(32)
    wrapped = {
        "random bytes": os.urandom(256),
        "pkcs1, 31 bytes": public.encrypt(data_key[:31], padding.PKCS1v15()),
        "pkcs1, 33 bytes": public.encrypt(data_key + b"x", padding.PKCS1v15()),
        "pkcs1, another data key": public.encrypt(os.urandom(32), padding.PKCS1v15()),
        "pkcs1, another RSA key": other.encrypt(data_key, padding.PKCS1v15()),
    }
    legacy = RawRsaKeyring("ns", "rsa", private_key=rsa_key, allow_legacy_pkcs1=True)
    outcomes = set()
    for ciphertext in wrapped.values():
        encryptor = Encryptor._from_parts(
            data_key=data_key,
            message_id=os.urandom(32),
            encryption_context={},
            encrypted_data_keys=[EncryptedDataKey("ns", b"rsa", ciphertext)],
            frame_length=64,
        )
        message = encryptor.header_bytes + encryptor.encrypt_frame(1, b"", final=True)
        with pytest.raises(AuthenticationError) as info:
            decrypt(message, legacy)
        outcomes.add((type(info.value), str(info.value)))
    assert outcomes == {(AuthenticationError, AuthenticationError.MESSAGE)}

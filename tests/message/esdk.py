"""Helpers around the aws-encryption-sdk, our test oracle (never used by the library)."""

from __future__ import annotations

import io
import logging
from typing import Any

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The ESDK logs an ERROR traceback for every failed decrypt.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL + 1)

STRICT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
LEGACY = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
)
COMMITTING = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
COMMITTING_SIGNED = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


def aes_master_key(namespace: str, name: str, key: bytes) -> Any:
    """An ESDK raw AES master key equivalent to ``RawAesKeyring(namespace, name, key)``."""
    return RawMasterKey(
        provider_id=namespace,
        key_id=name.encode(),
        wrapping_key=WrappingKey(
            WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, key, EncryptionKeyType.SYMMETRIC
        ),
    )


def rsa_master_key(namespace: str, name: str, private_key: rsa.RSAPrivateKey) -> Any:
    """An ESDK raw RSA master key (OAEP-SHA256) holding ``private_key``."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return RawMasterKey(
        provider_id=namespace,
        key_id=name.encode(),
        wrapping_key=WrappingKey(
            WrappingAlgorithm.RSA_OAEP_SHA256_MGF1, pem, EncryptionKeyType.PRIVATE
        ),
    )


def esdk_encrypt(
    plaintext: bytes,
    master_key: Any,
    *,
    frame_length: int,
    algorithm: Any = COMMITTING,
    context: dict[str, str] | None = None,
    client: Any = STRICT,
) -> bytes:
    """Encrypt with the ESDK's streaming API (as a real writer would)."""
    with client.stream(
        mode="e",
        source=io.BytesIO(plaintext),
        key_provider=master_key,
        frame_length=frame_length,
        algorithm=algorithm,
        encryption_context=context or {},
    ) as stream:
        return bytes(stream.read())


def esdk_decrypt(ciphertext: bytes, master_key: Any) -> bytes:
    """Decrypt with the ESDK (strict commitment policy)."""
    plaintext, _ = STRICT.decrypt(source=bytes(ciphertext), key_provider=master_key)
    return bytes(plaintext)

"""A test-only S3 Encryption Client encoder (securestore itself only reads S3EC objects).

Written from the specification (``s3-encryption/``) and the reference keyrings'
wraps, deterministic when given its random parts, so that vectors are reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

GCM_NAME = "AES/GCM/NoPadding"
CBC_NAME = "AES/CBC/PKCS5Padding"
V3_CODES = {"AES/GCM": "02", "kms+context": "12", "RSA-OAEP-SHA1": "22"}
#: Mapkeys V3 keeps in the object metadata when an instruction file is written.
V3_OBJECT_ONLY = ("x-amz-c", "x-amz-d", "x-amz-i")


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def aes_gcm_wrap(wrapping_key: bytes, data_key: bytes, cipher_name: str, iv: bytes) -> bytes:
    """The reference ``AES/GCM`` wrap: IV, then the key encrypted with the cipher name as AAD."""
    return iv + AESGCM(wrapping_key).encrypt(iv, data_key, cipher_name.encode())


def aes_keywrap(wrapping_key: bytes, data_key: bytes) -> bytes:
    """The legacy ``AESWrap`` (RFC 3394)."""
    return aes_key_wrap(wrapping_key, data_key)


def rsa_oaep_sha1_wrap(public: rsa.RSAPublicKey, data_key: bytes, cipher_name: str) -> bytes:
    """The reference ``RSA-OAEP-SHA1`` wrap of the pseudo data key (length, key, cipher name)."""
    pseudo = bytes([len(data_key)]) + data_key + cipher_name.encode()
    oaep = rsa_padding.OAEP(
        mgf=rsa_padding.MGF1(hashes.SHA1()),  # noqa: S303 - the format's wrap
        algorithm=hashes.SHA1(),  # noqa: S303
        label=None,
    )
    return public.encrypt(pseudo, oaep)


def derive(data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """(derived encryption key, commitment) of the committing suite 0x0073."""
    prk = hmac.new(message_id, data_key, hashlib.sha512).digest()
    dek = HKDFExpand(hashes.SHA512(), 32, b"\x00\x73DERIVEKEY").derive(prk)
    commit = HKDFExpand(hashes.SHA512(), 28, b"\x00\x73COMMITKEY").derive(prk)
    return dek, commit


def encrypt_v3(
    plaintext: bytes,
    data_key: bytes,
    encrypted_key: bytes,
    *,
    wrap: str,
    message_id: bytes,
    context: Mapping[str, str] | None = None,
    description: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A V3 object (ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY): body and metadata."""
    dek, commit = derive(data_key, message_id)
    body = AESGCM(dek).encrypt(b"\x01" * 12, plaintext, b"\x00\x73")
    metadata = {
        "x-amz-c": "115",
        "x-amz-3": b64(encrypted_key),
        "x-amz-w": V3_CODES[wrap],
        "x-amz-d": b64(commit),
        "x-amz-i": b64(message_id),
    }
    if context is not None:
        metadata["x-amz-t"] = json.dumps(dict(context))
    if description is not None:
        metadata["x-amz-m"] = json.dumps(dict(description))
    return body, metadata


def encrypt_v2_gcm(
    plaintext: bytes,
    data_key: bytes,
    encrypted_key: bytes,
    *,
    wrap: str,
    iv: bytes,
    matdesc: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A V2 object (ALG_AES_256_GCM_IV12_TAG16_NO_KDF): body and metadata."""
    body = AESGCM(data_key).encrypt(iv, plaintext, None)
    return body, {
        "x-amz-key-v2": b64(encrypted_key),
        "x-amz-iv": b64(iv),
        "x-amz-matdesc": json.dumps(dict(matdesc or {})),
        "x-amz-wrap-alg": wrap,
        "x-amz-cek-alg": GCM_NAME,
        "x-amz-tag-len": "128",
        "x-amz-unencrypted-content-length": str(len(plaintext)),
    }


def encrypt_cbc(
    plaintext: bytes,
    data_key: bytes,
    encrypted_key: bytes,
    *,
    iv: bytes,
    version: int,
    wrap: str = "AESWrap",
    matdesc: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A legacy AES-CBC object (V1, or V2 with ``AES/CBC/PKCS5Padding``)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(data_key), modes.CBC(iv)).encryptor()
    body = encryptor.update(padded) + encryptor.finalize()
    metadata = {
        "x-amz-iv": b64(iv),
        "x-amz-matdesc": json.dumps(dict(matdesc or {})),
        "x-amz-unencrypted-content-length": str(len(plaintext)),
    }
    if version == 1:
        metadata["x-amz-key"] = b64(encrypted_key)
    else:
        metadata.update(
            {"x-amz-key-v2": b64(encrypted_key), "x-amz-wrap-alg": wrap, "x-amz-cek-alg": CBC_NAME}
        )
    return body, metadata


def split_instruction_file(metadata: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
    """Move the metadata an instruction file holds there: (object metadata, file body)."""
    if "x-amz-c" in metadata:
        own = {k: v for k, v in metadata.items() if k in V3_OBJECT_ONLY}
        moved = {k: v for k, v in metadata.items() if k not in V3_OBJECT_ONLY}
    else:
        own, moved = {}, dict(metadata)
    return own, json.dumps(moved).encode()


def put(s3: Any, bucket: str, key: str, body: bytes, metadata: Mapping[str, str]) -> None:
    """Store an encoded object (and nothing else) with boto3."""
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata))

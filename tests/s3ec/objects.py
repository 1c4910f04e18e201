"""S3EC objects for the read tests, made with the test-only encoder (tests/s3ec/encoder.py).

Each builder returns the object's body and its metadata; ``encoder.put`` stores them.
"""

from __future__ import annotations

import os

from securestore.transport import Connection
from tests.s3ec import encoder

AES_KEY = os.urandom(32)


def _kms_data_key(
    connection: Connection, kms_key: str, context: dict[str, str]
) -> tuple[bytes, bytes]:
    """A new AES-256 data key from KMS under ``context``: (plaintext, KMS ciphertext)."""
    answer = connection.client("kms").generate_data_key(
        KeyId=kms_key, KeySpec="AES_256", EncryptionContext=context
    )
    return answer["Plaintext"], answer["CiphertextBlob"]


def kms_v3(
    connection: Connection, kms_key: str, plaintext: bytes, context: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    """A V3 object whose data key KMS generated with the S3EC context."""
    full = {**context, "aws:x-amz-cek-alg": "115"}
    data_key, wrapped = _kms_data_key(connection, kms_key, full)
    return encoder.encrypt_v3(
        plaintext,
        data_key,
        wrapped,
        wrap="kms+context",
        message_id=os.urandom(28),
        context=full,
    )


def kms_v2(
    connection: Connection, kms_key: str, plaintext: bytes, context: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    """A V2 object whose data key KMS generated with the S3EC context."""
    full = {**context, "aws:x-amz-cek-alg": encoder.GCM_NAME}
    data_key, wrapped = _kms_data_key(connection, kms_key, full)
    return encoder.encrypt_v2_gcm(
        plaintext, data_key, wrapped, wrap="kms+context", iv=os.urandom(12), matdesc=full
    )


def kms_v1_cbc(
    connection: Connection, kms_key: str, plaintext: bytes
) -> tuple[bytes, dict[str, str]]:
    """A legacy V1 AES-CBC object whose data key KMS generated (context: ``kms_cmk_id``)."""
    context = {"kms_cmk_id": kms_key}
    data_key, wrapped = _kms_data_key(connection, kms_key, context)
    return encoder.encrypt_cbc(
        plaintext, data_key, wrapped, iv=os.urandom(16), version=1, matdesc=context
    )


def aes_v3(plaintext: bytes, key: bytes = AES_KEY) -> tuple[bytes, dict[str, str]]:
    """A V3 object whose data key ``key`` wraps with AES/GCM (no description)."""
    data_key = os.urandom(32)
    wrapped = encoder.aes_gcm_wrap(key, data_key, encoder.GCM_NAME, os.urandom(12))
    return encoder.encrypt_v3(
        plaintext, data_key, wrapped, wrap="AES/GCM", message_id=os.urandom(28), description={}
    )

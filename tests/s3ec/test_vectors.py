"""The published S3EC vectors (tests/vectors/s3ec/manifest.json): each meets its expected outcome.

Every vector runs twice: through the whole-object decoder and through the
streaming reader (over an in-memory object, digest chunks of 256 bytes so that
several chunks are checked), which must agree on the outcome and the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    IntegrityError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.keyrings import AwsKmsKeyring, RawAesKeyring, RawRsaKeyring
from securestore.message.materials import Keyring
from securestore.reader import ObjectReader
from securestore.s3ec.decode import decrypt_object, object_content_key
from securestore.s3ec.metadata import parse_instruction_file
from securestore.s3ec.read import S3ecReader

FOLDER = Path(__file__).resolve().parents[1] / "vectors" / "s3ec"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
VECTORS = MANIFEST["vectors"]
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"

OUTCOMES: dict[str, type[Exception]] = {
    "format failure": FormatError,
    "authentication failure": AuthenticationError,
    "no match": NoMatchingKeyError,
    "policy failure": PolicyError,
    "configuration error": ConfigurationError,
}


class _UncalledKms:
    """KMS vectors are refused before any KMS call: a call fails the test."""

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("KMS must not be called")

    encrypt = decrypt = generate_data_key


def _keyring(kind: str) -> Keyring:
    if kind == "aes":
        key = bytes.fromhex((FOLDER / "aes-key.hex").read_text().strip())
        return RawAesKeyring("s3ec", "vectors", key)
    if kind == "rsa":
        private = serialization.load_pem_private_key(
            (FOLDER / "rsa-private.pem").read_bytes(), None
        )
        assert isinstance(private, rsa.RSAPrivateKey)
        return RawRsaKeyring("s3ec", "vectors", private_key=private)
    return AwsKmsKeyring(KMS_ARN, client=_UncalledKms())


def _inputs(vector: dict[str, Any]) -> dict[str, Any]:
    instruction = vector.get("instruction_file")
    return {
        "instruction": parse_instruction_file(instruction.encode()) if instruction else None,
        "context": vector["context"],
        "allow_legacy_unauthenticated": vector["allow_legacy_unauthenticated"],
    }


def _stream_read(vector: dict[str, Any], body: bytes) -> bytes:
    key = object_content_key(vector["metadata"], _keyring(vector["keyring"]), **_inputs(vector))

    def stream() -> ObjectReader:
        return ObjectReader(
            lambda start, last=None: {
                "Body": io.BytesIO(body[start : None if last is None else last + 1])
            },
            size=len(body),
            bucket="b",
            key="k",
        )

    reader = S3ecReader(
        key,
        ciphertext_size=len(body),
        fetch=lambda lo, hi: bytearray(body[lo:hi]),
        stream=stream,
        piece=256,
    )
    with reader:
        whole = reader.read_range(0, reader.size)
        # Random access agrees with the whole read, across chunk boundaries.
        for start, length in ((0, 1), (255, 2), (300, 700), (reader.size - 3, 10)):
            if 0 <= start < reader.size:
                assert reader.read_range(start, length) == whole[start : start + length]
        return whole


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_meets_its_expected_outcome(vector: dict[str, Any]) -> None:
    body = base64.b64decode(vector["body"])
    outcome = vector["outcome"]
    run = [
        lambda: decrypt_object(
            vector["metadata"], body, _keyring(vector["keyring"]), **_inputs(vector)
        ),
        lambda: _stream_read(vector, body),
    ]
    for attempt in run:
        if outcome == "success":
            plain = attempt()
            assert len(plain) == vector["plaintext_length"]
            assert hashlib.sha256(plain).hexdigest() == vector["plaintext_sha256"]
        elif outcome == "context failure":
            with pytest.raises(IntegrityError) as caught:
                attempt()
            assert not isinstance(caught.value, FormatError | AuthenticationError)
        else:
            with pytest.raises(OUTCOMES[outcome]):
                attempt()


def test_manifest_has_positive_and_negative_vectors_of_each_kind() -> None:
    outcomes = {v["outcome"] for v in VECTORS}
    assert {"success", "context failure", *OUTCOMES} <= outcomes
    names = {v["name"] for v in VECTORS}
    for needed in ("mixed-v2-v3", "v3-bad-commitment", "v3-truncated-tag", "v3-wrong-key"):
        assert needed in names
    assert any("instruction_file" in v for v in VECTORS if v["outcome"] == "success")

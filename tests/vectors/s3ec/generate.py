"""Generate the S3 Encryption Client test vectors in this folder (run once; files are committed).

    .venv/bin/python -m tests.vectors.s3ec.generate

No public S3EC vector set exists, so these are hand-built from the specification
(``awslabs/aws-encryption-sdk-specification`` ``s3-encryption/``) with the test-only
encoder ``tests/s3ec/encoder.py``. ``manifest.json`` lists every vector with its
expected outcome: ``success`` (with the plaintext's SHA-256 and length),
``format failure``, ``authentication failure``, ``context failure``, ``no match``
or ``policy failure``. Keys: ``aes-key.hex`` (raw AES wrapping key) and
``rsa-private.pem`` (RSA-2048, a test key). ``kms`` vectors are refused before any
KMS call (their keyring is a KMS keyring whose client must never be called).
Regenerating gives new random bytes, which is fine: each vector is checked
against its own expectation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.s3ec import encoder

HERE = Path(__file__).resolve().parent
AES_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
OTHER_AES_KEY = bytes(32)


def _rsa() -> rsa.RSAPrivateKey:
    path = HERE / "rsa-private.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def _plain(length: int) -> bytes:
    return (b"securestore reads S3EC objects. " * (length // 32 + 1))[:length]


def _vector(
    name: str,
    description: str,
    body: bytes,
    metadata: dict[str, str],
    outcome: str,
    *,
    plaintext: bytes | None = None,
    keyring: str = "aes",
    instruction: bytes | None = None,
    context: dict[str, str] | None = None,
    allow_legacy: bool = False,
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "name": name,
        "description": description,
        "outcome": outcome,
        "keyring": keyring,
        "context": context or {},
        "allow_legacy_unauthenticated": allow_legacy,
        "metadata": metadata,
        "body": base64.b64encode(body).decode(),
    }
    if instruction is not None:
        vector["instruction_file"] = instruction.decode()
    if plaintext is not None:
        vector["plaintext_sha256"] = hashlib.sha256(plaintext).hexdigest()
        vector["plaintext_length"] = len(plaintext)
    return vector


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return encoder.b64(bytes(raw))


def build() -> list[dict[str, Any]]:
    """Every vector, positive first."""
    rsa_key = _rsa()
    gcm, cbc = encoder.GCM_NAME, encoder.CBC_NAME
    out: list[dict[str, Any]] = []
    dk = os.urandom(32)
    mid = os.urandom(28)
    p = _plain(1500)

    v3_aes = encoder.aes_gcm_wrap(AES_KEY, dk, gcm, os.urandom(12))
    body3, md3 = encoder.encrypt_v3(p, dk, v3_aes, wrap="AES/GCM", message_id=mid, description={})
    out.append(_vector("v3-aes-gcm", "V3, AES/GCM wrap", body3, md3, "success", plaintext=p))
    v3_rsa = encoder.rsa_oaep_sha1_wrap(rsa_key.public_key(), dk, gcm)
    b, m = encoder.encrypt_v3(p, dk, v3_rsa, wrap="RSA-OAEP-SHA1", message_id=mid)
    out.append(
        _vector("v3-rsa-oaep", "V3, RSA-OAEP-SHA1", b, m, "success", plaintext=p, keyring="rsa")
    )
    b, m = encoder.encrypt_v3(b"", dk, v3_aes, wrap="AES/GCM", message_id=mid)
    out.append(_vector("v3-empty", "V3, empty plaintext", b, m, "success", plaintext=b""))
    own, instr = encoder.split_instruction_file(md3)
    out.append(
        _vector(
            "v3-instruction-file",
            "V3, data key in KEY.instruction",
            body3,
            own,
            "success",
            plaintext=p,
            instruction=instr,
        )
    )
    iv = os.urandom(12)
    v2_aes = encoder.aes_gcm_wrap(AES_KEY, dk, gcm, os.urandom(12))
    body2, md2 = encoder.encrypt_v2_gcm(p, dk, v2_aes, wrap="AES/GCM", iv=iv)
    out.append(_vector("v2-aes-gcm", "V2, AES/GCM wrap", body2, md2, "success", plaintext=p))
    v2_rsa = encoder.rsa_oaep_sha1_wrap(rsa_key.public_key(), dk, gcm)
    b, m = encoder.encrypt_v2_gcm(p, dk, v2_rsa, wrap="RSA-OAEP-SHA1", iv=iv)
    out.append(
        _vector("v2-rsa-oaep", "V2, RSA-OAEP-SHA1", b, m, "success", plaintext=p, keyring="rsa")
    )
    own, instr = encoder.split_instruction_file(md2)
    out.append(
        _vector(
            "v2-instruction-file",
            "V2, all metadata in KEY.instruction",
            body2,
            own,
            "success",
            plaintext=p,
            instruction=instr,
        )
    )
    cbc_iv = os.urandom(16)
    bcbc, mcbc = encoder.encrypt_cbc(p, dk, encoder.aes_keywrap(AES_KEY, dk), iv=cbc_iv, version=2)
    out.append(
        _vector(
            "v2-cbc-aeswrap-opt-in",
            "V2 legacy AES-CBC + AESWrap, opted in",
            bcbc,
            mcbc,
            "success",
            plaintext=p,
            allow_legacy=True,
        )
    )
    out.append(
        _vector(
            "v2-cbc-refused", "V2 legacy AES-CBC without the opt-in", bcbc, mcbc, "policy failure"
        )
    )
    v1_key = rsa_key.public_key().encrypt(dk, padding.PKCS1v15())
    b1, m1 = encoder.encrypt_cbc(p[:1000], dk, v1_key, iv=cbc_iv, version=1)
    out.append(
        _vector(
            "v1-rsa-pkcs1-opt-in",
            "V1 AES-CBC, RSA PKCS#1 v1.5 key, opted in",
            b1,
            m1,
            "success",
            plaintext=p[:1000],
            keyring="rsa",
            allow_legacy=True,
        )
    )
    out.append(
        _vector("v1-refused", "V1 without the opt-in", b1, m1, "policy failure", keyring="rsa")
    )
    b, m = encoder.encrypt_v2_gcm(p, dk, encoder.aes_keywrap(AES_KEY, dk), wrap="AESWrap", iv=iv)
    out.append(
        _vector("v2-aeswrap-refused", "V2 GCM with the legacy AESWrap wrap", b, m, "policy failure")
    )

    # Negative vectors, derived from the positive ones by precise damage.
    out.append(
        _vector(
            "mixed-v2-v3",
            "V3 metadata plus x-amz-key-v2",
            body3,
            {**md3, "x-amz-key-v2": md2["x-amz-key-v2"]},
            "format failure",
        )
    )
    out.append(
        _vector(
            "mixed-v1-v2",
            "x-amz-key and x-amz-key-v2",
            body2,
            {**md2, "x-amz-key": md2["x-amz-key-v2"]},
            "format failure",
        )
    )
    out.append(
        _vector(
            "mixed-v3-legacy-iv",
            "V3 plus the legacy x-amz-iv",
            body3,
            {**md3, "x-amz-iv": md2["x-amz-iv"]},
            "format failure",
        )
    )
    out.append(
        _vector(
            "v3-bad-commitment",
            "x-amz-d flipped",
            body3,
            {**md3, "x-amz-d": _flip(md3["x-amz-d"])},
            "authentication failure",
        )
    )
    out.append(
        _vector(
            "v3-other-message-id",
            "x-amz-i replaced",
            body3,
            {**md3, "x-amz-i": encoder.b64(os.urandom(28))},
            "authentication failure",
        )
    )
    damaged = bytearray(body3)
    damaged[100] ^= 1
    out.append(
        _vector(
            "v3-body-flipped",
            "one ciphertext bit flipped",
            bytes(damaged),
            md3,
            "authentication failure",
        )
    )
    out.append(
        _vector(
            "v3-truncated-tag", "last tag byte missing", body3[:-1], md3, "authentication failure"
        )
    )
    out.append(
        _vector(
            "v2-truncated-tag", "last tag byte missing", body2[:-1], md2, "authentication failure"
        )
    )
    out.append(
        _vector("v2-tag-only-truncated", "shorter than a tag", body2[:10], md2, "format failure")
    )
    wrong = encoder.aes_gcm_wrap(OTHER_AES_KEY, dk, gcm, os.urandom(12))
    b, m = encoder.encrypt_v3(p, dk, wrong, wrap="AES/GCM", message_id=mid)
    out.append(_vector("v3-wrong-key", "wrapped with another AES key", b, m, "no match"))
    out.append(
        _vector(
            "v2-rsa-for-aes-keyring",
            "RSA wrap, only an AES key given",
            body2,
            {**md2, "x-amz-wrap-alg": "RSA-OAEP-SHA1"},
            "no match",
        )
    )
    bound_cbc = encoder.rsa_oaep_sha1_wrap(rsa_key.public_key(), dk, cbc)
    b, m = encoder.encrypt_v2_gcm(p, dk, bound_cbc, wrap="RSA-OAEP-SHA1", iv=iv)
    out.append(
        _vector(
            "v2-rsa-cipher-name-mismatch",
            "data key bound to AES/CBC",
            b,
            m,
            "context failure",
            keyring="rsa",
        )
    )
    own, _ = encoder.split_instruction_file(md3)
    forged = json.dumps({k: v for k, v in md3.items()}).encode()
    out.append(
        _vector(
            "v3-instruction-holds-commitment",
            "instruction file with x-amz-d",
            body3,
            own,
            "format failure",
            instruction=forged,
        )
    )
    _, instr2 = encoder.split_instruction_file(md2)
    out.append(
        _vector(
            "v3-object-with-v2-instruction-file",
            "V3 content keys, V2 instruction",
            body3,
            own,
            "format failure",
            instruction=instr2,
        )
    )
    out.append(
        _vector(
            "v2-tag-len-96",
            "x-amz-tag-len 96",
            body2,
            {**md2, "x-amz-tag-len": "96"},
            "format failure",
        )
    )
    out.append(
        _vector("v3-unknown-wrap", "x-amz-w 99", body3, {**md3, "x-amz-w": "99"}, "format failure")
    )
    out.append(
        _vector(
            "v3-cipher-115-in-v2",
            "x-amz-cek-alg 115 in V2",
            body2,
            {**md2, "x-amz-cek-alg": "115"},
            "format failure",
        )
    )
    kms_context = {"aws:x-amz-cek-alg": "115", "purpose": "vectors"}
    b, m = encoder.encrypt_v3(
        p, dk, b"\x01" * 64, wrap="kms+context", message_id=mid, context=kms_context
    )
    out.append(
        _vector(
            "v3-kms-context-mismatch",
            "expected context differs",
            b,
            m,
            "context failure",
            keyring="kms",
            context={"purpose": "other"},
        )
    )
    out.append(
        _vector(
            "v3-kms-context-missing-pair",
            "no expected context given",
            b,
            m,
            "context failure",
            keyring="kms",
        )
    )
    tampered = {**m, "x-amz-t": json.dumps({**kms_context, "aws:x-amz-cek-alg": gcm})}
    out.append(
        _vector(
            "v3-kms-cek-alg-unbound",
            "aws:x-amz-cek-alg names another cipher",
            b,
            tampered,
            "context failure",
            keyring="kms",
            context={"purpose": "vectors"},
        )
    )
    out.append(
        _vector(
            "v3-kms-reserved-context",
            "caller passes a reserved key",
            b,
            m,
            "configuration error",
            keyring="kms",
            context={"purpose": "vectors", "aws:x-amz-cek-alg": "115"},
        )
    )
    return out


def main() -> None:
    """Write manifest.json and the key files."""
    (HERE / "aes-key.hex").write_text(AES_KEY.hex() + "\n")
    vectors = build()
    manifest = {
        "description": "S3 Encryption Client vectors for securestore's read-only decoder",
        "specification": "awslabs/aws-encryption-sdk-specification s3-encryption/",
        "keys": {"aes": "aes-key.hex", "rsa": "rsa-private.pem"},
        "vectors": vectors,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()

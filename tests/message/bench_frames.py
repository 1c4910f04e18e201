"""Throughput: our framed engine vs raw AESGCM vs the aws-encryption-sdk (not a test).

Run: .venv/bin/python tests/message/bench_frames.py  (numbers recorded in docs/format.md)
"""

from __future__ import annotations

import io
import logging
import os
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.keyrings import RawAesKeyring
from securestore.message import decrypt, encrypt

SIZE = int(os.environ.get("BENCH_MIB", "8")) * 1024 * 1024
REPEAT = 5


def best(fn: object) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return SIZE / min(times) / 1e6


def main() -> None:
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
    data = os.urandom(SIZE)
    key = os.urandom(32)
    aead = AESGCM(key)
    nonce = bytes(12)
    raw_ct = aead.encrypt(nonce, data, None)
    buf = bytearray(SIZE + 16)
    out = bytearray(SIZE)
    rates = {
        "raw AESGCM.encrypt": best(lambda: aead.encrypt(nonce, data, None)),
        "raw AESGCM.decrypt": best(lambda: aead.decrypt(nonce, raw_ct, None)),
        "raw encrypt_into, reused buffer": best(lambda: aead.encrypt_into(nonce, data, None, buf)),
        "raw decrypt_into, reused buffer": best(
            lambda: aead.decrypt_into(nonce, raw_ct, None, out)
        ),
    }
    for name, rate in rates.items():
        print(f"{name} ({SIZE >> 20} MiB): {rate:.0f} MB/s")
    keyring = RawAesKeyring("bench", "key", key)
    for frame in (64 * 1024, 256 * 1024, 1024 * 1024):
        ct = encrypt(data, keyring, frame_length=frame)
        e = best(lambda f=frame: encrypt(data, keyring, frame_length=f))
        d = best(lambda c=ct: decrypt(c, keyring))
        print(f"securestore frame {frame >> 10} KiB: encrypt {e:.0f} MB/s, decrypt {d:.0f} MB/s")
    try:
        import aws_encryption_sdk
        from aws_encryption_sdk.identifiers import (
            Algorithm,
            CommitmentPolicy,
            EncryptionKeyType,
            WrappingAlgorithm,
        )
        from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
        from aws_encryption_sdk.key_providers.raw import RawMasterKey
    except ImportError:
        return
    mk = RawMasterKey(
        provider_id="bench",
        key_id=b"key",
        wrapping_key=WrappingKey(
            WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, key, EncryptionKeyType.SYMMETRIC
        ),
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    alg = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY

    def esdk_encrypt() -> bytes:
        parts = []
        with client.stream(
            mode="e", source=io.BytesIO(data), key_provider=mk, frame_length=1 << 20, algorithm=alg
        ) as stream:
            while chunk := stream.read(1 << 20):
                parts.append(chunk)
        return b"".join(parts)

    esdk_ct = esdk_encrypt()

    def esdk_decrypt() -> None:
        with client.stream(mode="d", source=io.BytesIO(esdk_ct), key_provider=mk) as stream:
            while stream.read(1 << 20):
                pass

    print(
        "aws-encryption-sdk 1 MiB frames, stream read(1 MiB): "
        f"encrypt {best(esdk_encrypt):.0f} MB/s, decrypt {best(esdk_decrypt):.0f} MB/s"
    )


if __name__ == "__main__":
    main()

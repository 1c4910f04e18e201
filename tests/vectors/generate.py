"""Generate the message test vectors in this folder (run once; the files are committed).

    .venv/bin/python -m tests.vectors.generate

Each vector is a small JSON file headed by its expected outcome (``success``,
``header failure``, ``payload failure`` or ``no match``), with the raw AES key
that should decrypt it, the expected context, the ciphertext (base64) and, for
successes, the plaintext (hex); payload failures hold ``released``, the
authenticated plaintext (hex) a streaming reader hands out before the error
(whole frames before the damage, never the final frame). Sources: the
aws-encryption-sdk (the oracle) and our own engine through its deterministic
seam; failures are derived from them by precise damage. Regenerating produces
new random bytes, which is fine: the test only checks each file against its own
expectation.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from securestore.keyrings import RawAesKeyring
from securestore.message import AlgorithmSuite, EncryptionMaterials, parse
from securestore.message.encrypt import Encryptor
from tests.message import esdk

HERE = Path(__file__).resolve().parent
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
NAMESPACE, NAME = "securestore-vectors", "aes-256"
CONTEXT = {"securestore:bucket": "vectors", "securestore:key": "dir/object.bin"}
FRAME = 128  # the ESDK writer only takes multiples of 128


def _write(
    name: str,
    expect: str,
    description: str,
    ciphertext: bytes,
    plaintext: bytes | None,
    *,
    key_name: str = NAME,
    context: dict[str, str] | None = None,
    released: bytes | None = None,
) -> None:
    record: dict[str, Any] = {
        "expect": expect,
        "description": description,
        "keyring": {"type": "raw-aes", "namespace": NAMESPACE, "name": key_name, "key": KEY.hex()},
        "expected_context": CONTEXT if context is None else context,
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    if plaintext is not None:
        record["plaintext"] = plaintext.hex()
    if released is not None:
        record["released"] = released.hex()
    (HERE / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")


def _ours(plaintext: bytes) -> bytes:
    keyring = RawAesKeyring(NAMESPACE, NAME, KEY)
    suite = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    materials = keyring.wrap(EncryptionMaterials(suite, CONTEXT))
    assert materials.data_key is not None
    encryptor = Encryptor._from_parts(
        data_key=bytes(materials.data_key),
        message_id=bytes(range(32)),
        encryption_context=CONTEXT,
        encrypted_data_keys=materials.encrypted_data_keys,
        frame_length=FRAME,
    )
    parts = [encryptor.header_bytes]
    count = max(1, -(-len(plaintext) // FRAME))
    for seq in range(1, count + 1):
        chunk = plaintext[(seq - 1) * FRAME : seq * FRAME]
        parts.append(bytes(encryptor.encrypt_frame(seq, chunk, final=seq == count)))
    return b"".join(parts)


def main() -> None:
    master_key = esdk.aes_master_key(NAMESPACE, NAME, KEY)
    text = b"The quick brown fox jumps over the lazy dog. " * 8  # 360 bytes: 3 frames
    exact = bytes(range(256))  # 2 * FRAME: the ESDK adds an empty final frame
    for algorithm, tag in ((esdk.COMMITTING, "0478"), (esdk.COMMITTING_SIGNED, "0578")):
        for label, plaintext in (("empty", b""), ("multi-frame", text), ("exact-multiple", exact)):
            message = esdk.esdk_encrypt(
                plaintext, master_key, frame_length=FRAME, algorithm=algorithm, context=CONTEXT
            )
            _write(
                f"esdk-{tag}-{label}",
                "success",
                f"aws-encryption-sdk, suite {tag}, {label}",
                message,
                plaintext,
            )
    ours = _ours(text)
    assert esdk.esdk_decrypt(ours, master_key) == text
    _write("ours-0478-multi-frame", "success", "securestore, deterministic seam", ours, text)
    _write("ours-0478-empty", "success", "securestore, empty plaintext", _ours(b""), b"")
    header = parse(ours)

    def damaged(index: int) -> bytes:
        data = bytearray(ours)
        data[index] ^= 0x01
        return bytes(data)

    _write(
        "header-tag-flipped",
        "header failure",
        "last bit of the header tag flipped",
        damaged(header.length - 1),
        None,
    )
    _write(
        "commitment-flipped",
        "header failure",
        "key commitment changed",
        damaged(len(header.body) - 1),
        None,
    )
    _write(
        "context-mismatch",
        "header failure",
        "expected context differs from the header",
        ours,
        None,
        context={**CONTEXT, "securestore:key": "other"},
    )
    _write(
        "frame-2-tag-flipped",
        "payload failure",
        "tag of frame 2 flipped",
        damaged(header.length + 2 * (FRAME + 32) - 1),
        None,
        released=text[:FRAME],
    )
    _write(
        "final-frame-ciphertext-flipped",
        "payload failure",
        "a byte of the final frame",
        damaged(len(ours) - 20),
        None,
        released=text[: 2 * FRAME],
    )
    _write(
        "truncated-final-frame",
        "payload failure",
        "the final frame is missing",
        ours[: header.length + 2 * (FRAME + 32)],
        None,
        released=text[: 2 * FRAME],
    )
    _write(
        "appended-bytes",
        "payload failure",
        "bytes after the final frame",
        ours + b"\x00",
        None,
        released=text[: 2 * FRAME],
    )
    _write("wrong-key-name", "no match", "keyring names another key", ours, None, key_name="other")


if __name__ == "__main__":
    main()

"""Generate the key-commitment vector ("invisible salamanders") in ``key-commitment/``.

    .venv/bin/python -m tests.vectors.salamander

AES-GCM is not key-committing: for two keys one can choose a ciphertext and tag
that verify under both, by solving for one free 16-byte block in GF(2^128)
(Dodis et al., "Fast Message Franking", 2018; Len et al., "Partitioning Oracle
Attacks", 2021). This builds one suite 0x0478 message whose header tag and every
frame tag verify under the content keys of two different data keys, with an
encrypted data key for each (two raw AES keyrings). The free block of the header
sits, 16-byte aligned, in the ciphertext of a third, inert encrypted data key; each
frame has one free ciphertext block. Only the key commitment in the header tells
the two keys apart: the message decrypts for key A and must be refused for key B,
under which (without the commitment check) it would decrypt to other plaintext.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.keyrings import RawAesKeyring
from securestore.message import AlgorithmSuite, EncryptedDataKey, EncryptionMaterials, parse
from securestore.message.derivation import commitment_key, content_key
from securestore.message.frames import FRAME_AAD_FINAL, FRAME_AAD_REGULAR, SEQUENCE_NUMBER_END
from securestore.message.header import serialize_body

HERE = Path(__file__).resolve().parent
OUT = HERE / "key-commitment" / "invisible-salamanders.json"
SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
NAMESPACE = "securestore-vectors"
KEY_A = bytes.fromhex("a0" * 32)
KEY_B = bytes.fromhex("b0" * 32)
DATA_KEY_A = bytes(range(32))
DATA_KEY_B = bytes(range(32, 64))
MESSAGE_ID = bytes(range(100, 132))
CONTEXT = {"purpose": "key-commitment vector"}
FRAME = 64
PLAINTEXT = b"Pay Alice 100 EUR for the invoice 2026-12-01, ref ABCDEF-0001. " + b"." * 33
FREE_EDK = ("securestore-salamander", b"free block")

_R = 0xE1 << 120
_ONE = 1 << 127  # the field's 1 in GCM's bit-reflected representation


def gf_mul(x: int, y: int) -> int:
    """Multiply two elements of GF(2^128) as GCM does (NIST SP 800-38D, 6.3)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def gf_pow(x: int, e: int) -> int:
    """``x`` to the power ``e``."""
    result = _ONE
    while e:
        if e & 1:
            result = gf_mul(result, x)
        x = gf_mul(x, x)
        e >>= 1
    return result


def gf_inv(x: int) -> int:
    """The multiplicative inverse (x^(2^128 - 2))."""
    if x == 0:
        raise ZeroDivisionError("zero has no inverse")
    return gf_pow(x, 2**128 - 2)


def _blocks(data: bytes) -> list[int]:
    padded = data + bytes(-len(data) % 16)
    return [int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16)]


def _ghash_blocks(aad: bytes, ciphertext: bytes) -> list[int]:
    lengths = struct.pack(">QQ", len(aad) * 8, len(ciphertext) * 8)
    return _blocks(aad) + _blocks(ciphertext) + _blocks(lengths)


def _ecb(key: bytes, block: bytes) -> int:
    # One raw AES block (GCM's H and E(J0)): ECB on a single block is the primitive.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return int.from_bytes(encryptor.update(block) + encryptor.finalize(), "big")


def _tag(key: bytes, iv: bytes, blocks: list[int]) -> int:
    h = _ecb(key, bytes(16))
    y = 0
    for block in blocks:
        y = gf_mul(y ^ block, h)
    return y ^ _ecb(key, iv + b"\x00\x00\x00\x01")


def collide(key1: bytes, key2: bytes, iv: bytes, blocks: list[int], free: int) -> tuple[int, int]:
    """Solve for block ``free`` so that the GCM tag is the same under both keys.

    Returns (free block, common tag). GHASH is linear in each block: the tag is
    ``X * H^e + rest`` with ``e`` the block's distance from the end, so equal tags
    mean ``X * (H1^e + H2^e) = rest1 + rest2``.
    """
    base = list(blocks)
    base[free] = 0
    e = len(base) - free
    h1, h2 = _ecb(key1, bytes(16)), _ecb(key2, bytes(16))
    rest = _tag(key1, iv, base) ^ _tag(key2, iv, base)
    x = gf_mul(rest, gf_inv(gf_pow(h1, e) ^ gf_pow(h2, e)))
    base[free] = x
    tag = _tag(key1, iv, base)
    assert tag == _tag(key2, iv, base)
    return x, tag


def _edk(keyring: RawAesKeyring, data_key: bytes) -> EncryptedDataKey:
    materials = keyring.wrap(EncryptionMaterials(SUITE, CONTEXT, bytearray(data_key)))
    return materials.encrypted_data_keys[-1]


def _header(ck1: bytes, ck2: bytes, real: list[EncryptedDataKey]) -> bytes:
    commitment = commitment_key(SUITE, DATA_KEY_A, MESSAGE_ID)

    def body(free_ciphertext: bytes) -> bytes:
        edks = [*real, EncryptedDataKey(FREE_EDK[0], FREE_EDK[1], free_ciphertext)]
        return serialize_body(SUITE, MESSAGE_ID, CONTEXT, edks, FRAME, commitment)

    # The free EDK is the last one: its ciphertext ends 1 + 4 + 32 bytes before the
    # body ends. Pad its start so that the free block is 16-byte aligned.
    probe = body(bytes(16))
    start = len(probe) - (1 + 4 + 32) - 16
    pad = -start % 16
    template = body(bytes(pad) + bytes(16))
    offset = start + pad
    assert offset % 16 == 0
    blocks = _ghash_blocks(template, b"")
    x, tag = collide(ck1, ck2, bytes(12), blocks, offset // 16)
    final = body(bytes(pad) + x.to_bytes(16, "big"))
    return final + tag.to_bytes(16, "big")


def _frame(ck1: bytes, ck2: bytes, seq: int, plaintext: bytes, *, final: bool) -> bytes:
    iv = bytes(8) + seq.to_bytes(4, "big")
    label = FRAME_AAD_FINAL if final else FRAME_AAD_REGULAR
    aad = MESSAGE_ID + label + struct.pack(">IQ", seq, len(plaintext))
    ciphertext = bytearray(AESGCM(ck1).encrypt(iv, plaintext, aad)[:-16])
    free = len(plaintext) // 16 - 1  # the last whole block of the frame
    blocks = _ghash_blocks(aad, bytes(ciphertext))
    x, tag = collide(ck1, ck2, iv, blocks, len(_blocks(aad)) + free)
    ciphertext[free * 16 : free * 16 + 16] = x.to_bytes(16, "big")
    body = bytes(ciphertext) + tag.to_bytes(16, "big")
    if final:
        return (
            SEQUENCE_NUMBER_END
            + seq.to_bytes(4, "big")
            + iv
            + len(plaintext).to_bytes(4, "big")
            + body
        )
    return seq.to_bytes(4, "big") + iv + body


def _ring(name: str, key: bytes) -> dict[str, Any]:
    return {"type": "raw-aes", "namespace": NAMESPACE, "name": name, "key": key.hex()}


def build() -> tuple[bytes, bytes, bytes]:
    """Return (message, plaintext under key A, plaintext under key B)."""
    ring_a = RawAesKeyring(NAMESPACE, "key-a", KEY_A)
    ring_b = RawAesKeyring(NAMESPACE, "key-b", KEY_B)
    ck1 = content_key(SUITE, DATA_KEY_A, MESSAGE_ID)
    ck2 = content_key(SUITE, DATA_KEY_B, MESSAGE_ID)
    header = _header(ck1, ck2, [_edk(ring_a, DATA_KEY_A), _edk(ring_b, DATA_KEY_B)])
    frames = [
        _frame(ck1, ck2, 1, PLAINTEXT[:FRAME], final=False),
        _frame(ck1, ck2, 2, PLAINTEXT[FRAME:], final=True),
    ]
    message = header + b"".join(frames)
    # What each content key decrypts the frames to (the tags verify under both).
    plain: list[bytes] = []
    parsed = parse(message)
    for ck in (ck1, ck2):
        AESGCM(ck).decrypt(bytes(12), parsed.auth_tag, parsed.body)
        out = b""
        for seq, frame in enumerate(frames, 1):
            final = frame.startswith(SEQUENCE_NUMBER_END)
            length = len(frame) - (40 if final else 32)
            label = FRAME_AAD_FINAL if final else FRAME_AAD_REGULAR
            aad = MESSAGE_ID + label + struct.pack(">IQ", seq, length)
            iv = frame[8:20] if final else frame[4:16]
            out += AESGCM(ck).decrypt(iv, frame[-(length + 16) :], aad)
        plain.append(out)
    return message, plain[0], plain[1]


def main() -> None:
    message, plain_a, plain_b = build()
    assert plain_a != plain_b
    record = {
        "description": (
            "suite 0x0478; header and frame tags verify under the content keys of two data "
            "keys (GCM multi-key collision); the header commits to key A's data key"
        ),
        "expected_context": CONTEXT,
        "ciphertext": base64.b64encode(message).decode(),
        "outcomes": [
            {"keyring": _ring("key-a", KEY_A), "expect": "success", "plaintext": plain_a.hex()},
            {
                "keyring": _ring("key-b", KEY_B),
                "expect": "header failure",
                "reason": "key commitment mismatch",
                "uncommitted_plaintext": plain_b.hex(),
            },
        ],
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The key-commitment vector: one message whose tags verify under two data keys.

Made by ``tests/vectors/salamander.py``. Only the key commitment stops key B:
these tests fail if the decryptor's commitment comparison is removed.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from securestore.errors import AuthenticationError
from securestore.keyrings import DecryptionMaterials, RawAesKeyring
from securestore.message import DecryptingReader, Decryptor, decrypt, parse
from securestore.message.derivation import commitment_key, content_key
from securestore.message.frames import FrameCipher
from securestore.message.sizes import Layout

VECTOR = Path(__file__).resolve().parent / "key-commitment" / "invisible-salamanders.json"


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR.read_text())
    return data


def _keyring(ring: dict[str, str]) -> RawAesKeyring:
    return RawAesKeyring(ring["namespace"], ring["name"], bytes.fromhex(ring["key"]))


def _frames(cipher: FrameCipher, message: bytes, header_length: int) -> bytes:
    layout = Layout.from_ciphertext_length(len(message), cipher.frame_length, header_length)
    out = b""
    for seq in range(1, layout.frame_count + 1):
        lo, hi = layout.ciphertext_range(seq, seq)
        out += cipher.decrypt_frame(seq, message[lo:hi], final=seq == layout.frame_count)
    return out


def test_key_a_decrypts_on_every_path() -> None:
    vector = _load()
    message = base64.b64decode(vector["ciphertext"])
    success = vector["outcomes"][0]
    assert success["expect"] == "success"
    keyring = _keyring(success["keyring"])
    plaintext = bytes.fromhex(success["plaintext"])
    context = vector["expected_context"]
    assert decrypt(message, keyring, expected_context=context) == plaintext
    assert DecryptingReader(io.BytesIO(message), keyring, expected_context=context).read() == (
        plaintext
    )
    decryptor = Decryptor(parse(message), keyring, expected_context=context)
    body = message[decryptor.header.length :]
    assert decryptor.decrypt_frames(1, body, includes_final=True) == plaintext


def test_key_b_is_refused_by_the_commitment_alone() -> None:
    vector = _load()
    message = base64.b64decode(vector["ciphertext"])
    refused = vector["outcomes"][1]
    assert refused["expect"] == "header failure"
    keyring = _keyring(refused["keyring"])
    context = vector["expected_context"]
    header = parse(message)

    # Everything but the commitment accepts key B: its data key unwraps, and under its
    # content key the header tag and every frame tag verify, to another plaintext.
    materials = keyring.unwrap(
        DecryptionMaterials(header.suite, context), header.encrypted_data_keys
    )
    data_key = materials.data_key
    assert data_key is not None
    cipher = FrameCipher(
        header.suite,
        content_key(header.suite, data_key, header.message_id),
        header.message_id,
        header.frame_length,
    )
    cipher.verify_header(header.body, header.iv, header.auth_tag)
    uncommitted = _frames(cipher, message, header.length)
    assert uncommitted == bytes.fromhex(refused["uncommitted_plaintext"])
    assert uncommitted != bytes.fromhex(vector["outcomes"][0]["plaintext"])
    assert commitment_key(header.suite, data_key, header.message_id) != header.suite_data

    # The decryptor refuses it on every path.
    with pytest.raises(AuthenticationError):
        Decryptor(header, keyring, expected_context=context)
    with pytest.raises(AuthenticationError):
        decrypt(message, keyring, expected_context=context)
    with pytest.raises(AuthenticationError):
        DecryptingReader(io.BytesIO(message), keyring, expected_context=context)


def test_vector_is_what_the_generator_builds() -> None:
    """The stored message has the structure the generator promises (3 EDKs, 2 frames)."""
    message = base64.b64decode(_load()["ciphertext"])
    header = parse(message)
    assert header.suite.value == 0x0478
    assert [edk.provider_id for edk in header.encrypted_data_keys] == [
        "securestore-vectors",
        "securestore-vectors",
        "securestore-salamander",
    ]
    layout = Layout.from_ciphertext_length(len(message), header.frame_length, header.length)
    assert layout.frame_count == 2

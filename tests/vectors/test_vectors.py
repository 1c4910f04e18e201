"""Run every vector file in this folder against its expected outcome."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from securestore.errors import AuthenticationError, FormatError, NoMatchingKeyError
from securestore.keyrings import RawAesKeyring
from securestore.message import DecryptingReader, Decryptor, decrypt, parse

VECTORS = sorted(Path(__file__).resolve().parent.glob("*.json"))
OUTCOMES = {"success", "header failure", "payload failure", "no match"}


def test_vectors_exist() -> None:
    names = {path.name for path in VECTORS}
    assert len(names) >= 15
    kinds = {json.loads(path.read_text())["expect"] for path in VECTORS}
    assert kinds == OUTCOMES


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    vector: dict[str, Any] = json.loads(path.read_text())
    expect = vector["expect"]
    assert expect in OUTCOMES
    ring = vector["keyring"]
    keyring = RawAesKeyring(ring["namespace"], ring["name"], bytes.fromhex(ring["key"]))
    message = base64.b64decode(vector["ciphertext"])
    context = vector["expected_context"]
    if expect == "no match":
        with pytest.raises(NoMatchingKeyError):
            decrypt(message, keyring, expected_context=context)
        return
    if expect == "header failure":
        with pytest.raises((FormatError, AuthenticationError)):
            Decryptor(parse(message), keyring, expected_context=context)
        return
    decryptor = Decryptor(parse(message), keyring, expected_context=context)
    assert decryptor.header.suite.committing
    if expect == "payload failure":
        with pytest.raises((FormatError, AuthenticationError)):
            decrypt(message, keyring, expected_context=context)
        with pytest.raises((FormatError, AuthenticationError)):
            decryptor.decrypt_frames(1, message[decryptor.header.length :], includes_final=True)
        # A stream hands out the frames that authenticated before the damage, exactly
        # those (never the final frame before the end of the message checked out).
        released = bytearray()
        reader = DecryptingReader(io.BytesIO(message), keyring, expected_context=context)
        with pytest.raises((FormatError, AuthenticationError)):  # noqa: PT012
            for part in reader:
                released += part
        assert released == bytes.fromhex(vector["released"])
        return
    plaintext = bytes.fromhex(vector["plaintext"])
    assert decrypt(message, keyring, expected_context=context) == plaintext
    assert DecryptingReader(io.BytesIO(message), keyring).read() == plaintext

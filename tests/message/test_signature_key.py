"""The signer's public key from the encryption context is read strictly (signature.py).

A context value that is not exactly base64 of a compressed point on the suite's
curve is a malformed message, not a key found by skipping what does not decode.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from securestore.errors import AuthenticationError, FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import encrypt, verify_signature
from securestore.message.signature import MessageSigner, MessageVerifier
from securestore.message.suites import AlgorithmSuite

SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


def _signed(data: bytes) -> tuple[str, bytes]:
    signer = MessageSigner(SIGNED)
    signer.update(data)
    return signer.public_key, signer.footer()


def _verify(key: str, data: bytes, footer: bytes) -> None:
    verifier = MessageVerifier(SIGNED, key)
    verifier.update(data)
    verifier.verify(footer[2:])


def test_an_honest_signature_verifies() -> None:
    key, footer = _signed(b"header and body")
    assert int.from_bytes(footer[:2], "big") == len(footer) - 2
    _verify(key, b"header and body", footer)
    with pytest.raises(AuthenticationError):
        _verify(key, b"header and bodY", footer)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:4] + "!" + k[4:],  # a character outside the alphabet, skipped by a lax decode
        lambda k: k[:4] + "\n" + k[4:],
        lambda k: k + "=",
        lambda k: k[:-4],  # a truncated point
        lambda k: "é" + k,  # not ASCII
        lambda k: "A" * len(k),  # decodes, but is no point on the curve
    ],
    ids=["junk", "newline", "padding", "truncated", "non-ascii", "not-a-point"],
)
def test_a_malformed_public_key_is_refused(mangle: Callable[[str], str]) -> None:
    key, _ = _signed(b"x")
    with pytest.raises(FormatError, match="public key is malformed"):
        MessageVerifier(SIGNED, mangle(key))


def test_an_unsigned_suite_has_no_signer() -> None:
    with pytest.raises(ValueError, match="no signature"):
        MessageSigner(AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)


def test_verify_signature_refuses_an_unsigned_message() -> None:
    """Nothing to verify is no verification: a caller must not read it as signed."""
    keyring = RawAesKeyring("tests", "sig", b"v" * 32)
    unsigned = bytes(encrypt(b"data", keyring))
    with pytest.raises(FormatError, match="not signed"):
        verify_signature(io.BytesIO(unsigned), keyring)
    signed = bytes(encrypt(b"data", keyring, suite=SIGNED))
    assert verify_signature(io.BytesIO(signed), keyring).suite is SIGNED

"""The secret scanner finds every encoding it promises, and nothing else."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization

from tests.hygiene.scanner import MIN_NEEDLE, SecretScanner, encodings

KEY = bytes([0xFB, 0xFF, 0x3E]) + os.urandom(29)  # has '+' '/' in base64, '-' '_' in urlsafe


@pytest.mark.parametrize(
    ("form", "render"),
    [
        ("raw", lambda k: k.decode("latin-1")),
        ("bytes-repr", lambda k: repr(k)),
        ("hex", lambda k: k.hex()),
        ("HEX", lambda k: k.hex().upper()),
        ("base64", lambda k: base64.b64encode(k).decode()),
        ("base64-unpadded", lambda k: base64.b64encode(k).decode().rstrip("=")),
        ("base64url", lambda k: base64.urlsafe_b64encode(k).decode()),
        ("base64url-unpadded", lambda k: base64.urlsafe_b64encode(k).decode().rstrip("=")),
    ],
)
def test_each_encoding_is_found(form: str, render: object) -> None:
    scanner = SecretScanner()
    scanner.add("key", KEY)
    text = f"DEBUG something happened: {render(KEY)} and more"  # type: ignore[operator]
    leaks = scanner.find(text, "log")
    assert form in {leak.form for leak in leaks}
    assert all(leak.label == "key" for leak in leaks)


def test_clean_text_has_no_leaks() -> None:
    scanner = SecretScanner()
    scanner.add("key", KEY)
    scanner.add("secret access key", "securestore-local-secret")
    assert scanner.find(os.urandom(4096).hex() + repr(os.urandom(4096)), "noise") == []
    with pytest.raises(AssertionError, match="secret access key"):
        scanner.assert_clean([("out", "Authorization uses securestore-local-secret")])


def test_pem_lines_der_and_private_numbers_are_found(rsa_keys: object) -> None:
    (key, pem), _ = rsa_keys  # type: ignore[misc]
    scanner = SecretScanner()
    scanner.add_rsa_private_key("rsa", key, pem)
    body = pem.decode().splitlines()[5]
    assert {leak.form for leak in scanner.find(f"x {body} y", "out")} == {"pem-line"}
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert scanner.find(der.hex(), "out")
    assert scanner.find(f"RSAPrivateNumbers(d={key.private_numbers().d})", "out")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert scanner.find(public.decode(), "public key") == []


def test_short_needles_are_refused() -> None:
    assert all(len(needle) >= MIN_NEEDLE for needle in encodings(b"abcd").values())
    with pytest.raises(ValueError, match="too short"):
        SecretScanner().add_text("pin", "1234")

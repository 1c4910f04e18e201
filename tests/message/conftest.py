"""Shared fixtures for the message-format tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.keyrings import RawAesKeyring, RawRsaKeyring

AES_KEY = bytes(range(32))
NAMESPACE = "securestore-test"
KEY_NAME = "aes-key-1"


@pytest.fixture(scope="session")
def aes_keyring() -> RawAesKeyring:
    """A raw AES keyring with a fixed key."""
    return RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key per session (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_keyring(rsa_private_key: rsa.RSAPrivateKey) -> RawRsaKeyring:
    """A raw RSA keyring holding the session key pair."""
    return RawRsaKeyring(NAMESPACE, "rsa-key-1", private_key=rsa_private_key)

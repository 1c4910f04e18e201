"""Key derivation and key commitment (docs/format.md, "Key derivation").

Committing suites (format version 2) derive the content key with HKDF-SHA512,
salt = message id, info = suite id || "DERIVEKEY", and the 32-byte commitment key
with salt = message id, info = "COMMITKEY". Version 1 HKDF suites use no salt and
info = suite id || message id; the oldest suites use the data key directly.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from securestore.message.suites import AlgorithmSuite

__all__ = ["DERIVE_KEY_LABEL", "COMMIT_KEY_LABEL", "commitment_key", "content_key"]

DERIVE_KEY_LABEL = b"DERIVEKEY"
COMMIT_KEY_LABEL = b"COMMITKEY"
COMMITMENT_LENGTH = 32


def content_key(suite: AlgorithmSuite, data_key: bytes | bytearray, message_id: bytes) -> bytes:
    """Derive the key that encrypts the header tag and the frames."""
    if len(data_key) != suite.key_length:
        raise ValueError("data key has the wrong length for the algorithm suite")
    algorithm = suite.kdf_hash()
    if algorithm is None:
        return bytes(data_key)
    if suite.committing:
        hkdf = HKDF(
            algorithm=algorithm,
            length=suite.key_length,
            salt=message_id,
            info=suite.id_bytes + DERIVE_KEY_LABEL,
        )
    else:
        hkdf = HKDF(
            algorithm=algorithm,
            length=suite.key_length,
            salt=None,
            info=suite.id_bytes + message_id,
        )
    return hkdf.derive(bytes(data_key))


def commitment_key(suite: AlgorithmSuite, data_key: bytes | bytearray, message_id: bytes) -> bytes:
    """Derive the key commitment stored in the header of committing suites."""
    algorithm = suite.kdf_hash()
    if not suite.committing or algorithm is None:
        raise ValueError("the algorithm suite does not commit to its key")
    hkdf = HKDF(
        algorithm=algorithm, length=COMMITMENT_LENGTH, salt=message_id, info=COMMIT_KEY_LABEL
    )
    return hkdf.derive(bytes(data_key))

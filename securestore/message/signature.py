"""Message signatures of the signing suites (docs/format.md, "Footer").

The signer's public key travels in the encryption context under
``aws-crypto-public-key`` as base64 of the compressed point; the footer is a
two-byte length and a DER ECDSA signature over the hash of header and body.
"""

from __future__ import annotations

import base64
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from securestore.errors import AuthenticationError, FormatError
from securestore.message.suites import AlgorithmSuite

__all__ = ["MessageSigner", "MessageVerifier"]


def _parts(suite: AlgorithmSuite) -> tuple[ec.EllipticCurve, hashes.HashAlgorithm]:
    curve, digest = suite.curve(), suite.signature_hash()
    if curve is None or digest is None:
        raise ValueError("the algorithm suite has no signature")
    return curve, digest


class MessageSigner:
    """Hashes a message as it is written and produces its footer."""

    def __init__(self, suite: AlgorithmSuite) -> None:
        curve, digest = _parts(suite)
        self._digest = digest
        self._key = ec.generate_private_key(curve)
        self._hash = hashes.Hash(digest)

    def __repr__(self) -> str:
        return "MessageSigner()"

    @property
    def public_key(self) -> str:
        """The context value: base64 of the compressed public point."""
        point = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        return base64.b64encode(point).decode("ascii")

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash the next bytes of the message."""
        self._hash.update(data)

    def footer(self) -> bytes:
        """Sign what was hashed; return the serialized footer."""
        signature = self._key.sign(self._hash.finalize(), ec.ECDSA(Prehashed(self._digest)))
        return struct.pack(">H", len(signature)) + signature


class MessageVerifier:
    """Hashes a message as it is read and checks its footer."""

    def __init__(self, suite: AlgorithmSuite, encoded_public_key: str) -> None:
        curve, digest = _parts(suite)
        try:
            point = base64.b64decode(encoded_public_key.encode("ascii"), validate=True)
            self._key = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
            raise FormatError("the message's signature public key is malformed") from None
        self._digest = digest
        self._hash = hashes.Hash(digest)

    def __repr__(self) -> str:
        return "MessageVerifier()"

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash the next bytes of the message."""
        self._hash.update(data)

    def verify(self, signature: bytes) -> None:
        """Check the signature over everything hashed; raise :class:`AuthenticationError`."""
        try:
            self._key.verify(signature, self._hash.finalize(), ec.ECDSA(Prehashed(self._digest)))
        except InvalidSignature:
            raise AuthenticationError() from None

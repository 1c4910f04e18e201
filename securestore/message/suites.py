"""Algorithm suites and the decrypt policy (docs/format.md, "Algorithm suites").

:class:`AlgorithmSuite` is the single source of suite ids and sizes. The store
writes only :attr:`AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY` (0x0478);
the committing signed suite (0x0578) is read and may be written; the older,
non-committing suites are read only under :attr:`DecryptPolicy.ALLOW_NON_COMMITTING`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["AlgorithmSuite", "DecryptPolicy", "SuiteInfo"]

IV_LENGTH = 12
TAG_LENGTH = 16


@dataclass(frozen=True)
class SuiteInfo:
    """Sizes and algorithms of one suite.

    ``kdf_hash`` is ``None`` for the legacy suites that use the data key directly;
    ``curve`` is ``None`` for suites without a message signature.
    """

    message_version: int
    key_length: int
    kdf_hash: str | None
    committing: bool
    curve: str | None
    signature_hash: str | None

    @property
    def message_id_length(self) -> int:
        """Length of the message id: 16 bytes in format version 1, 32 in version 2."""
        return 32 if self.message_version == 2 else 16

    @property
    def suite_data_length(self) -> int:
        """Length of the header's algorithm suite data (the commitment key)."""
        return 32 if self.committing else 0


_INFO: dict[int, SuiteInfo] = {
    0x0014: SuiteInfo(1, 16, None, False, None, None),
    0x0046: SuiteInfo(1, 24, None, False, None, None),
    0x0078: SuiteInfo(1, 32, None, False, None, None),
    0x0114: SuiteInfo(1, 16, "sha256", False, None, None),
    0x0146: SuiteInfo(1, 24, "sha256", False, None, None),
    0x0178: SuiteInfo(1, 32, "sha256", False, None, None),
    0x0214: SuiteInfo(1, 16, "sha256", False, "p256", "sha256"),
    0x0346: SuiteInfo(1, 24, "sha384", False, "p384", "sha384"),
    0x0378: SuiteInfo(1, 32, "sha384", False, "p384", "sha384"),
    0x0478: SuiteInfo(2, 32, "sha512", True, None, None),
    0x0578: SuiteInfo(2, 32, "sha512", True, "p384", "sha384"),
}

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_CURVES: dict[str, type[ec.EllipticCurve]] = {"p256": ec.SECP256R1, "p384": ec.SECP384R1}


class AlgorithmSuite(enum.IntEnum):
    """The ESDK algorithm suites this library knows, by their two-byte id."""

    AES_128_GCM_IV12_TAG16 = 0x0014
    AES_192_GCM_IV12_TAG16 = 0x0046
    AES_256_GCM_IV12_TAG16 = 0x0078
    AES_128_GCM_IV12_TAG16_HKDF_SHA256 = 0x0114
    AES_192_GCM_IV12_TAG16_HKDF_SHA256 = 0x0146
    AES_256_GCM_IV12_TAG16_HKDF_SHA256 = 0x0178
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 = 0x0214
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0346
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0378
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578

    @property
    def info(self) -> SuiteInfo:
        """The suite's sizes and algorithms."""
        return _INFO[self.value]

    @property
    def id_bytes(self) -> bytes:
        """The suite id as it appears on the wire (two bytes, big-endian)."""
        return self.value.to_bytes(2, "big")

    @property
    def message_version(self) -> int:
        """The message format version this suite is written with (1 or 2)."""
        return self.info.message_version

    @property
    def key_length(self) -> int:
        """Length of the data key and of the derived content key, in bytes."""
        return self.info.key_length

    @property
    def committing(self) -> bool:
        """Whether the header carries a key commitment."""
        return self.info.committing

    @property
    def signed(self) -> bool:
        """Whether the message ends with an ECDSA signature footer."""
        return self.info.curve is not None

    @property
    def iv_length(self) -> int:
        """Length of every AES-GCM IV of the suite."""
        return IV_LENGTH

    @property
    def tag_length(self) -> int:
        """Length of every AES-GCM authentication tag of the suite."""
        return TAG_LENGTH

    def kdf_hash(self) -> hashes.HashAlgorithm | None:
        """A new instance of the HKDF hash, or ``None`` when the data key is used directly."""
        name = self.info.kdf_hash
        return None if name is None else _HASHES[name]()

    def signature_hash(self) -> hashes.HashAlgorithm | None:
        """A new instance of the hash signed by the footer, or ``None`` when unsigned."""
        name = self.info.signature_hash
        return None if name is None else _HASHES[name]()

    def curve(self) -> ec.EllipticCurve | None:
        """A new instance of the signature curve, or ``None`` when unsigned."""
        name = self.info.curve
        return None if name is None else _CURVES[name]()


class DecryptPolicy(enum.Enum):
    """Which suites a decryptor accepts.

    The default demands key commitment: a message must be readable under one data key
    only. ``ALLOW_NON_COMMITTING`` is an explicit opt-in for reading old messages.
    """

    REQUIRE_COMMITTING = "require-committing"
    ALLOW_NON_COMMITTING = "allow-non-committing"

    def allows(self, suite: AlgorithmSuite) -> bool:
        """Whether a message written with ``suite`` may be decrypted under this policy."""
        return suite.committing or self is DecryptPolicy.ALLOW_NON_COMMITTING

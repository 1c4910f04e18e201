"""The raw RSA keyring: data keys wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256).

Interoperable with the ESDK raw RSA keyring and ``RawMasterKey``. Provider id is
the namespace, provider info the key name, ciphertext the RSA output. A public
key alone can wrap; unwrapping needs the private key.

Wrapping always uses OAEP with SHA-256 (MGF1 with SHA-256). Unwrapping also
accepts OAEP with SHA-1, SHA-384 and SHA-512 (MGF1 with the same hash), which
other ESDK writers may be configured with; the padding is not recorded in the
message, so each is tried. PKCS#1 v1.5 invites padding-oracle (Bleichenbacher)
attacks and is read only behind ``allow_legacy_pkcs1=True``; then a failed
unwrap of a matching key yields a random data key instead of an error, so that
every failure ends in the one authentication error of the header tag and no
outcome tells a well-padded ciphertext from a bad one (the TLS countermeasure).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import securestore.arguments as args
from securestore.errors import ConfigurationError, NoMatchingKeyError
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)

__all__ = ["RawRsaKeyring", "load_private_key_pem", "load_public_key_pem"]

_MIN_BITS = 2048


_OAEP_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (
    hashes.SHA256,  # what we write, so tried first
    hashes.SHA1,
    hashes.SHA384,
    hashes.SHA512,
)


def _oaep(algorithm: type[hashes.HashAlgorithm] = hashes.SHA256) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=None)


def load_public_key_pem(data: bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM (SubjectPublicKeyInfo or PKCS#1)."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigurationError("not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError("the PEM public key is not an RSA key")
    return key


def load_private_key_pem(data: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#8 or PKCS#1, optionally encrypted)."""
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError):
        raise ConfigurationError("not a readable PEM private key (or wrong password)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("the PEM private key is not an RSA key")
    return key


class RawRsaKeyring:
    """Wraps data keys with an RSA public key (OAEP-SHA-256); unwraps with the private key.

    ``allow_legacy_pkcs1`` additionally unwraps PKCS#1 v1.5 (see the module
    docstring for what that costs): with it, a message whose data key for this
    key name does not unwrap fails with :class:`AuthenticationError` when decrypted,
    not with :class:`NoMatchingKeyError`.
    """

    @args.checked(
        {
            "namespace": args.text,
            "name": args.text,
            "public_key": args.optional(args.instance_of(rsa.RSAPublicKey, "an RSAPublicKey")),
            "private_key": args.optional(args.instance_of(rsa.RSAPrivateKey, "an RSAPrivateKey")),
        }
    )
    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        public_key: rsa.RSAPublicKey | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        allow_legacy_pkcs1: bool = False,
    ) -> None:
        if not namespace or not name:
            raise ConfigurationError("a raw RSA keyring needs a namespace and a key name")
        if public_key is None and private_key is not None:
            public_key = private_key.public_key()
        if public_key is None:
            raise ConfigurationError("a raw RSA keyring needs a public or a private key")
        if public_key.key_size < _MIN_BITS:
            raise ConfigurationError(f"RSA keys shorter than {_MIN_BITS} bits are refused")
        if private_key is not None and (
            private_key.public_key().public_numbers() != public_key.public_numbers()
        ):
            raise ConfigurationError("the RSA public and private keys do not match")
        self.namespace = namespace
        self.name = name
        self._public = public_key
        self._private = private_key
        self.allow_legacy_pkcs1 = allow_legacy_pkcs1

    def __repr__(self) -> str:
        legacy = ", allow_legacy_pkcs1=True" if self.allow_legacy_pkcs1 else ""
        return (
            f"RawRsaKeyring(namespace={self.namespace!r}, name={self.name!r}, "
            f"can_unwrap={self._private is not None}{legacy})"
        )

    def describe(self) -> str:
        """A secret-free description of the key, for error messages."""
        return f"raw-rsa {self.namespace}/{self.name}"

    def decrypt_s3ec(self, encrypted_key: bytes, *, legacy_pkcs1: bool) -> bytes | None:
        """RSA-decrypt an S3 Encryption Client data key with the private key.

        OAEP with SHA-1 (``RSA-OAEP-SHA1``), or PKCS#1 v1.5 for the legacy ``RSA``
        wrap when ``legacy_pkcs1`` (a padding-oracle risk the caller opted into).
        ``None`` without a private key or when the key does not fit.
        """
        if self._private is None:
            return None
        try:
            if legacy_pkcs1:
                return self._private.decrypt(encrypted_key, padding.PKCS1v15())
            return self._private.decrypt(encrypted_key, _oaep(hashes.SHA1))
        except ValueError:
            return None

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Generate the data key if absent, then add a copy wrapped with the public key."""
        data_key = materials.data_key
        if data_key is None:
            data_key = bytearray(os.urandom(materials.suite.key_length))
        wrapped = self._public.encrypt(bytes(data_key), _oaep())
        edk = EncryptedDataKey(self.namespace, self.name.encode("utf-8"), wrapped)
        return materials.with_data_key(data_key, edk)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Return materials with the first data key the private key unwraps, else raise."""
        if materials.data_key is not None:
            return materials
        if self._private is not None:
            name = self.name.encode("utf-8")
            length = materials.suite.key_length
            for edk in encrypted_data_keys:
                if edk.provider_id != self.namespace or edk.provider_info != name:
                    continue
                plain = self._unwrap_oaep(self._private, edk.ciphertext, length)
                if plain is None and self.allow_legacy_pkcs1:
                    plain = _unwrap_pkcs1(self._private, edk.ciphertext, length)
                if plain is not None:
                    return materials.with_data_key(bytearray(plain))
        raise NoMatchingKeyError(
            "no encrypted data key could be unwrapped with the raw RSA key",
            tried=(self.describe() + ("" if self._private else " (public key only)"),),
        )

    @staticmethod
    def _unwrap_oaep(key: rsa.RSAPrivateKey, ciphertext: bytes, length: int) -> bytes | None:
        for algorithm in _OAEP_HASHES:
            try:
                plain = key.decrypt(ciphertext, _oaep(algorithm))
            except ValueError:
                continue
            if len(plain) == length:
                return plain
        return None


def _unwrap_pkcs1(key: rsa.RSAPrivateKey, ciphertext: bytes, length: int) -> bytes:
    """PKCS#1 v1.5, with any failure replaced by a random key (never an error).

    OpenSSL's implicit rejection already answers bad padding with a synthetic
    message; a wrong length is answered the same way here, so that only the
    header tag, with its one fixed error, ever decides.
    """
    substitute = os.urandom(length)
    try:
        plain = key.decrypt(ciphertext, padding.PKCS1v15())
    except ValueError:
        return substitute
    return plain if len(plain) == length else substitute

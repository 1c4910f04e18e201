"""Key files: create AES and RSA key files safely, and load them with a permission check.

AES key file format: one line holding the base64 of the key (32 bytes for
AES-256), then a newline. On reading, a file of exactly 16, 24 or 32 raw bytes
is also accepted. RSA keys are PEM: PKCS#8 for the private key (optionally
encrypted with a password), SubjectPublicKeyInfo for the public key.

Secret files are created with ``O_CREAT | O_EXCL`` and mode 0600 from the start,
so they never exist with wider permissions, and an existing file is never
overwritten. Loading refuses a secret file that group or others may access.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import ConfigurationError
from securestore.keyrings.raw_rsa import load_private_key_pem, load_public_key_pem

__all__ = [
    "generate_aes_key_file",
    "generate_rsa_key_files",
    "load_aes_key_file",
    "load_rsa_private_key_file",
    "load_rsa_public_key_file",
]

_SECRET_MODE = 0o600
_PUBLIC_MODE = 0o644
_MAX_KEY_FILE = 64 * 1024


def _create(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigurationError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as error:
        raise ConfigurationError(f"cannot create {path}: {error.strerror}") from error
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        os.unlink(path)
        raise ConfigurationError(f"cannot write {path}: {error.strerror}") from error
    os.close(fd)


def _read_secret(path: Path) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ConfigurationError(f"cannot open key file {path}: {error.strerror}") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"key file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        if info.st_size > _MAX_KEY_FILE:
            raise ConfigurationError(f"key file {path} is too large to be a key")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(_MAX_KEY_FILE + 1)
    finally:
        os.close(fd)


def generate_aes_key_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` holding a new random AES-256 key (base64, mode 0600)."""
    key = os.urandom(32)
    _create(Path(path), base64.b64encode(key) + b"\n", _SECRET_MODE)


def load_aes_key_file(path: str | os.PathLike[str]) -> bytearray:
    """Read an AES key file (base64 line or raw bytes) after checking its permissions."""
    data = _read_secret(Path(path))
    if len(data) in (16, 24, 32):
        return bytearray(data)
    try:
        key = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"key file {path} holds neither base64 nor a raw AES key"
        ) from None
    if len(key) not in (16, 24, 32):
        raise ConfigurationError(f"key file {path} does not hold a 128, 192 or 256-bit key")
    return bytearray(key)


def generate_rsa_key_files(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    *,
    bits: int = 3072,
    password: bytes | None = None,
) -> None:
    """Create a new RSA key pair: private PEM (mode 0600) and public PEM (mode 0644)."""
    if bits not in (3072, 4096):
        raise ConfigurationError("RSA key size must be 3072 or 4096 bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create(Path(private_path), private_pem, _SECRET_MODE)
    try:
        _create(Path(public_path), public_pem, _PUBLIC_MODE)
    except ConfigurationError:
        os.unlink(private_path)
        raise


def load_rsa_private_key_file(
    path: str | os.PathLike[str], *, password: bytes | None = None
) -> rsa.RSAPrivateKey:
    """Read an RSA private key PEM after checking its permissions."""
    try:
        return load_private_key_pem(_read_secret(Path(path)), password)
    except ConfigurationError as error:
        if str(path) in error.message:
            raise
        raise ConfigurationError(f"key file {path}: {error.message}") from None


def load_rsa_public_key_file(path: str | os.PathLike[str]) -> rsa.RSAPublicKey:
    """Read an RSA public key PEM (no permission check: it is public)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from error
    try:
        return load_public_key_pem(data)
    except ConfigurationError as error:
        raise ConfigurationError(f"key file {path}: {error.message}") from None

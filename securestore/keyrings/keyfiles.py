"""Key files: create AES and RSA key files safely, and load them with ownership checks.

AES key file format: one line holding the base64 of the key (32 bytes for
AES-256), then a newline. On reading, base64 is tried first (with or without the
newline); a file that is not base64 of a key is taken as raw key bytes. Only
32-byte (AES-256) keys are accepted unless the caller passes
``allow_short_keys=True`` (then 16 and 24 bytes too). RSA keys are PEM: PKCS#8
for the private key (optionally encrypted with a password),
SubjectPublicKeyInfo for the public key.

Secret files are created with ``O_CREAT | O_EXCL`` and mode 0600 from the start,
so they never exist with wider permissions, and an existing file is never
overwritten. Loading a secret file (AES key, RSA private key) refuses, as
OpenSSH's ``StrictModes`` does for its key files:

- a file that group or others may access (any of the 077 mode bits);
- a file owned by anyone but the effective user or root: root itself therefore
  refuses another user's key file, since that user could change it;
- a file whose directory, or any directory above it (as written and with
  symlinks resolved), is owned by anyone but the
  effective user or root, or is writable by group or others, since whoever may
  write there can replace the file. A group/world-writable directory with the
  sticky bit (``/tmp``) is accepted, since there only the file's owner (us or
  root, checked above) may rename or remove it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore.errors import ConfigurationError, KeyringError, LocalFileError
from securestore.keyrings.raw_rsa import load_private_key_pem, load_public_key_pem

__all__ = [
    "generate_aes_key_file",
    "generate_rsa_key_files",
    "is_encrypted_pem",
    "load_aes_key_file",
    "load_rsa_private_key_file",
    "load_rsa_public_key_file",
    "public_key_pem",
    "read_passphrase_file",
    "write_public_key_file",
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


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _check_owner(path: Path, info: os.stat_result) -> None:
    if not _trusted_owner(info.st_uid):
        raise LocalFileError(
            f"key file {path} is owned by uid {info.st_uid}, not by you (uid {os.geteuid()})"
            " or root; its owner could change it",
            hint=f"use a key file of your own: cp {path} NEW && chmod 600 NEW",
        )


def _directories(path: Path) -> list[Path]:
    """Every directory above ``path``, as written and with symlinks resolved."""
    found: list[Path] = []
    for start in (Path(os.path.abspath(path)).parent, Path(os.path.realpath(path)).parent):
        for directory in (start, *start.parents):
            if directory not in found:
                found.append(directory)
    return found


def _check_directories(path: Path) -> None:
    """Refuse a key file that someone else could replace (see the module docstring)."""
    for directory in _directories(path):
        try:
            folder = os.stat(directory)
        except OSError as error:
            raise LocalFileError(
                f"cannot check directory {directory} of key file {path}: {error.strerror}",
                hint="the key file's directories must be ones you may search (x permission)",
            ) from error
        if not _trusted_owner(folder.st_uid):
            raise LocalFileError(
                f"key file {path} is in directory {directory}, owned by uid {folder.st_uid}"
                " (not you or root), who could replace it",
                hint="move the key file to a directory of your own, such as ~/.securestore",
            )
        if folder.st_mode & 0o022 and not folder.st_mode & stat.S_ISVTX:
            raise LocalFileError(
                f"key file {path} is in directory {directory}, which group or others may"
                f" write (mode {stat.S_IMODE(folder.st_mode):o}), so it could be replaced",
                hint=f"run: chmod go-w {directory} (or move the key file elsewhere)",
            )


#: Reading a key needs no free space: these say what a key file must be instead.
_OPEN_HINT = "check the key file's path and that you may read it"
_NOT_A_FILE_HINT = "give the key file itself (a directory, device or pipe holds no key)"


def _read_secret(path: Path, *, kind: Callable[[bytes], None] | None = None) -> bytes:
    """The bytes of a secret file after the checks of the module docstring.

    ``kind`` sees the bytes first and may refuse the file for what it holds (a public
    key given as a private one), which says more than the mode of a file not secret.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise LocalFileError(
            f"cannot open key file {path}: {error.strerror}", hint=_OPEN_HINT
        ) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LocalFileError(f"key file {path} is not a regular file", hint=_NOT_A_FILE_HINT)
        if info.st_size > _MAX_KEY_FILE:
            raise LocalFileError(f"key file {path} is too large to be a key", hint=_NOT_A_FILE_HINT)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
        if kind is not None:
            kind(data)
        if info.st_mode & 0o077:
            raise LocalFileError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o})",
                hint=f"run: chmod 600 {path}",
            )
        _check_owner(path, info)
        _check_directories(path)
        return data
    except OSError as error:
        raise LocalFileError(
            f"cannot read key file {path}: {error.strerror}", hint=_OPEN_HINT
        ) from error
    finally:
        os.close(fd)


def generate_aes_key_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` holding a new random AES-256 key (base64, mode 0600)."""
    key = os.urandom(32)
    _create(Path(path), base64.b64encode(key) + b"\n", _SECRET_MODE)


_KEY_LENGTHS = (16, 24, 32)
_WHITESPACE = b" \t\r\n"


def _decode_aes_key(path: str | os.PathLike[str], data: bytes) -> bytes:
    """The key in ``data``: base64 when it decodes to a key length, else raw bytes."""
    try:
        decoded = base64.b64decode(data.strip(_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) in _KEY_LENGTHS:
        return decoded
    # Raw bytes only when the file is not base64 of a key (checked first), so that a
    # base64 key saved without its newline is never used as its ASCII text.
    if len(data) in _KEY_LENGTHS:
        return data
    hint = "create one with: securestore keygen --aes FILE"
    if decoded:
        raise ConfigurationError(
            f"key file {path} holds base64 of {len(decoded)} bytes, "
            "not of a 128, 192 or 256-bit key",
            hint=hint,
        )
    raise ConfigurationError(f"key file {path} holds neither base64 nor a raw AES key", hint=hint)


def load_aes_key_file(path: str | os.PathLike[str], *, allow_short_keys: bool = False) -> bytearray:
    """Read an AES key file (base64 line, or raw bytes) after the checks of this module.

    The key must be 32 bytes (AES-256); ``allow_short_keys=True`` also accepts 16-
    and 24-byte keys. Raises :class:`LocalFileError` for a file that cannot be used
    and :class:`ConfigurationError` for one that holds no acceptable key.
    """
    key = _decode_aes_key(path, _read_secret(Path(path)))
    if len(key) != 32 and not allow_short_keys:
        raise ConfigurationError(
            f"key file {path} holds a {len(key) * 8}-bit key; an AES-256 key file needs 256 bits",
            hint="create one with: securestore keygen --aes FILE "
            "(shorter keys need allow_short_keys=True in the library)",
        )
    return bytearray(key)


def generate_rsa_key_files(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    *,
    bits: int = 3072,
    password: bytes | None = None,
) -> None:
    """Create a new RSA key pair: private PEM (mode 0600) and public PEM (mode 0644).

    With ``password`` the private key is written as encrypted PKCS#8.
    """
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


#: A passphrase, or a function asked for it only when the key turns out to be encrypted.
Passphrase = bytes | Callable[[], bytes | None] | None

_ENCRYPTED_PEM = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


def is_encrypted_pem(data: bytes) -> bool:
    """Whether a PEM private key is passphrase-protected (PKCS#8 or legacy OpenSSL)."""
    return any(marker in data for marker in _ENCRYPTED_PEM)


def load_rsa_private_key_file(
    path: str | os.PathLike[str], *, password: Passphrase = None
) -> rsa.RSAPrivateKey:
    """Read an RSA private key PEM after checking its permissions.

    ``password`` unlocks an encrypted key; it may be a function, called only when the
    key is encrypted (a prompt). It is ignored for a key that is not encrypted, so one
    passphrase can be given for several keys.

    Raises:
        LocalFileError: the file cannot be used (permissions, owner, missing).
        ConfigurationError: the file holds no RSA private key.
        KeyringError: the key is encrypted and no passphrase, or a wrong one, was given.
    """
    data = _read_secret(Path(path), kind=functools.partial(_not_public, path))
    secret: bytes | None = None
    if is_encrypted_pem(data):
        secret = password() if callable(password) else password
        if not secret:
            raise KeyringError(
                f"RSA private key {path} is encrypted and no passphrase was given",
                hint="give its passphrase: password= (CLI: --rsa-passphrase-file FILE), "
                "or run on a terminal to be asked",
            )
    try:
        return load_private_key_pem(data, secret)
    except ConfigurationError as error:
        if secret is not None:
            raise KeyringError(
                f"cannot unlock RSA private key {path}: wrong passphrase",
                hint="check the passphrase (of a passphrase file, the first line is used)",
            ) from None
        if str(path) in error.message:
            raise
        raise ConfigurationError(f"key file {path}: {error.message}") from None


_PUBLIC_PEM = (b"-----BEGIN PUBLIC KEY-----", b"-----BEGIN RSA PUBLIC KEY-----")


def _not_public(path: str | os.PathLike[str], data: bytes) -> None:
    if any(marker in data for marker in _PUBLIC_PEM) and b"PRIVATE KEY-----" not in data:
        raise ConfigurationError(
            f"key file {path} is a PEM public key, not a private key",
            hint="decrypting needs the private key; a public key only encrypts "
            "(give it with --rsa-public-key)",
        )


def read_passphrase_file(path: str | os.PathLike[str]) -> bytes:
    """The passphrase in ``path``: its first line, without the line end.

    The file is checked like a key file (mode 0600, owner, directories).
    """
    data = _read_secret(Path(path))
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not line:
        raise ConfigurationError(f"passphrase file {path} is empty (its first line is used)")
    return line


def load_rsa_public_key_file(path: str | os.PathLike[str]) -> rsa.RSAPublicKey:
    """Read an RSA public key PEM (no permission check: it is public)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from error
    try:
        return load_public_key_pem(data)
    except ConfigurationError as error:
        hint = None
        if b"PRIVATE KEY-----" in data:
            hint = (
                "this is a private key: give it with --rsa-private-key, or derive the "
                "public key with `securestore keygen --public-from`"
            )
        raise ConfigurationError(f"key file {path}: {error.message}", hint=hint) from None


def write_public_key_file(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str],
    *,
    password: Passphrase = None,
) -> None:
    """Derive the public key of an RSA private key file and write it (0644, never overwrites)."""
    _create(Path(public_path), public_key_pem(private_path, password=password), _PUBLIC_MODE)


def public_key_pem(private_path: str | os.PathLike[str], *, password: Passphrase = None) -> bytes:
    """The public key of an RSA private key file, as PEM (SubjectPublicKeyInfo)."""
    key = load_rsa_private_key_file(private_path, password=password)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

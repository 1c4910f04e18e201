"""The securestore exception hierarchy.

Every error the library raises on purpose derives from :class:`SecureStoreError`.
Lower-layer errors (botocore, cryptography, OS) are translated at the boundary
with ``raise ... from`` so the original stays available as ``__cause__``.

::

    SecureStoreError
    ├── ConfigurationError          bad arguments or settings (also a ValueError)
    │   ├── InvalidLocationError    malformed s3:// URL, invalid bucket name or key
    │   └── LocalFileError          a local source or destination cannot be used
    ├── TransportSecurityError      plain HTTP, untrusted certificate, TLS < 1.2
    ├── StorageError                S3 refused or failed a request
    │   ├── NotFoundError           no such bucket, key or upload
    │   ├── AccessDeniedError       credentials lack permission
    │   ├── PreconditionFailedError the object changed while being read
    │   ├── ArchivedObjectError     the object is archived (GLACIER...): restore it first
    │   └── TransferError           a transfer gave up after its retries
    ├── KeyringError                data key could not be wrapped or unwrapped
    │   ├── NoMatchingKeyError      no keyring could decrypt any stored data key
    │   └── KeyUnavailableError     the key service failed or refused the key
    │       └── BranchKeyStoreError a branch key store failed, or its item did not authenticate
    │           └── BranchKeyNotFoundError  no such branch key (or version) in the store
    ├── IntegrityError              the stored bytes are not what was written
    │   ├── FormatError             malformed message (safe to detail)
    │   └── AuthenticationError     authentication failed (one fixed message)
    └── PolicyError                 object stored with a mode other than demanded

Messages name the bucket and key where known and never contain key material,
plaintext or credentials.

A hint that names a library parameter gives the command-line option right after it,
``read it with relocated=True (CLI: --relocated)``, or the other way round,
``add --force (library: overwrite_readonly=True)``; the CLI shows only its own part
(``securestore_cli.errors.cli_wording``).
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "ArchivedObjectError",
    "AuthenticationError",
    "BranchKeyNotFoundError",
    "BranchKeyStoreError",
    "ConfigurationError",
    "FormatError",
    "IntegrityError",
    "NotAMessageError",
    "InvalidLocationError",
    "KeyUnavailableError",
    "KeyringError",
    "LocalFileError",
    "FileChangedError",
    "NoMatchingKeyError",
    "NotFoundError",
    "PolicyError",
    "PreconditionFailedError",
    "SecureStoreError",
    "StorageError",
    "EndpointUnreachableError",
    "TransferError",
    "TransportSecurityError",
]


class SecureStoreError(Exception):
    """Base class of every error securestore raises on purpose.

    ``bucket`` and ``key`` name the object concerned, when there is one.
    ``hint`` is an optional, human-oriented suggestion for fixing the cause.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.bucket = bucket
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        where = _location(self.bucket, self.key)
        return f"{self.message} ({where})" if where else self.message


def _location(bucket: str | None, key: str | None) -> str:
    if bucket and key is not None:
        return f"s3://{bucket}/{key}"
    if bucket:
        return f"s3://{bucket}"
    return ""


class ConfigurationError(SecureStoreError, ValueError):
    """Invalid arguments or settings; nothing was sent."""


class InvalidLocationError(ConfigurationError):
    """A malformed ``s3://`` URL, bucket name or object key."""


class LocalFileError(ConfigurationError):
    """A local file cannot be read or written (missing, a directory, no permission)."""


class FileChangedError(LocalFileError):
    """A local file changed while it was being uploaded: nothing was stored from it."""


class TransportSecurityError(SecureStoreError):
    """The connection would not be HTTPS with a verified certificate and TLS >= 1.2."""


class StorageError(SecureStoreError):
    """S3 refused or failed a request.

    ``code`` is the S3 error code (for example ``SlowDown``) when known.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket: str | None = None,
        key: str | None = None,
        hint: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, bucket=bucket, key=key, hint=hint)
        self.code = code


class EndpointUnreachableError(StorageError):
    """The endpoint could not be reached, or stopped answering within the read timeout
    (after the retries): not an answer about the object, so a job of many objects stops
    once it keeps happening."""


class NotFoundError(StorageError):
    """The bucket, object or multipart upload does not exist."""


class AccessDeniedError(StorageError):
    """The credentials in use are not allowed to perform the request."""


class PreconditionFailedError(StorageError):
    """A conditional request failed (for example the object changed meanwhile)."""


class ArchivedObjectError(StorageError):
    """The object is in an archive storage class (GLACIER, DEEP_ARCHIVE, an archive tier)
    and not restored: S3 refuses to read or copy it (``InvalidObjectState``)."""


class KeyringError(SecureStoreError):
    """A data key could not be wrapped or unwrapped."""


class NoMatchingKeyError(KeyringError):
    """None of the configured keyrings can decrypt any of the stored data keys.

    ``tried`` lists descriptions of the keys that were attempted (never key bytes).
    """

    def __init__(
        self,
        message: str,
        *,
        tried: tuple[str, ...] = (),
        bucket: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, bucket=bucket, key=key, hint=hint)
        self.tried = tried


class KeyUnavailableError(KeyringError):
    """The key service failed, or refused to use the key (disabled, unknown, denied)."""


class BranchKeyStoreError(KeyUnavailableError):
    """A branch key store (DynamoDB + KMS) failed, or one of its items did not authenticate."""


class BranchKeyNotFoundError(BranchKeyStoreError):
    """The branch key store holds no such branch key, or no such version of it."""


class IntegrityError(SecureStoreError):
    """The stored bytes are not what was written, or not readable as written."""


class FormatError(IntegrityError):
    """The message is malformed; the message says where, which is safe to reveal."""


class NotAMessageError(FormatError):
    """The object is not a client-side message at all (plaintext, SSE-only, another tool's).

    Distinct from a malformed message: its first bytes do not even start a header.
    Work over a prefix (``rewrap --recursive``) skips such objects and reports them;
    a damaged message is an error.
    """


class AuthenticationError(IntegrityError):
    """Authentication of the ciphertext failed.

    The message is deliberately fixed: it does not say which check failed.
    """

    MESSAGE = (
        "authentication failed: the object was modified, truncated or encrypted with another key"
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        bucket: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message or self.MESSAGE, bucket=bucket, key=key, hint=hint)


class PolicyError(SecureStoreError):
    """An object is stored, or was reported stored, with a mode other than demanded."""


class TransferError(StorageError):
    """A transfer gave up after its retries; partial state was cleaned up."""

"""Translation of botocore exceptions into :mod:`securestore.errors`.

:func:`translate_error` is applied at the boundary of every AWS call; the caller
raises its result ``from`` the botocore exception, so the original stays chained as
``__cause__``. Messages carry the S3 error code and message but never request
bodies, credentials or key material.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Iterator

import botocore.exceptions
import urllib3.exceptions

from securestore.errors import (
    AccessDeniedError,
    ArchivedObjectError,
    ConfigurationError,
    EndpointUnreachableError,
    KeyUnavailableError,
    LocalFileError,
    NotFoundError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransportSecurityError,
)

__all__ = ["stalled", "translate_error"]

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound", "404", "NoSuchVersion"}
_DENIED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "AccessDenied",
    "403",
    "Forbidden",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AccountProblem",
}
_KMS = {
    "KeyUnavailableException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KMS.NotFoundException",
    "KMS.DisabledException",
    "KMS.KMSInvalidStateException",
    "KMS.AccessDeniedException",
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
    "KMS.InvalidKeyUsageException",
}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


_BROKEN = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError)

#: OpenSSL reasons that mean a TLS record arrived damaged (a flipped bit on the wire),
#: on our side or reported by the peer's alert: the connection broke, trust is not in
#: question (a certificate problem is an SSLCertVerificationError or a handshake alert).
_DAMAGED_RECORD_REASONS = frozenset(
    {
        "DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
        "BAD_RECORD_MAC",
        "SSLV3_ALERT_BAD_RECORD_MAC",
        "TLSV1_ALERT_RECORD_OVERFLOW",
        "RECORD_OVERFLOW",
        "ENCRYPTED_LENGTH_TOO_LONG",
        "DATA_LENGTH_TOO_LONG",
        "PACKET_LENGTH_TOO_LONG",
        "BAD_LENGTH",
        "UNEXPECTED_RECORD",
        "UNEXPECTED_EOF_WHILE_READING",
    }
)


def _broken_connection(exc: BaseException) -> bool:
    """Whether an SSL error is a connection that broke after the handshake.

    botocore reports a refused certificate, a reset TLS stream and a damaged TLS
    record (bad record MAC) alike as SSLError; only the first is a
    transport-security problem.
    """
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return False
        if isinstance(current, _BROKEN):
            return True
        if (
            isinstance(current, ssl.SSLError)
            and getattr(current, "reason", None) in _DAMAGED_RECORD_REASONS
        ):
            return True
    return False


def _out_of_descriptors(exc: BaseException) -> bool:
    """Whether a request failed because no file could be opened (EMFILE, ENFILE)."""
    return any(
        isinstance(current, OSError)
        and not isinstance(current, ssl.SSLError)
        and current.errno in (errno.EMFILE, errno.ENFILE)
        for current in _chain(exc)
    )


_READ_TIMEOUT = re.compile(r"read timeout=([0-9.]+)")


def stalled(exc: BaseException) -> str | None:
    """What a read timeout means, naming the timeout; ``None`` if ``exc`` is none.

    botocore and urllib3 report a server that stopped sending as
    ``ReadTimeoutError``, a class name that tells a user nothing.
    """
    for current in _chain(exc):
        if isinstance(
            current,
            botocore.exceptions.ReadTimeoutError
            | urllib3.exceptions.ReadTimeoutError
            | socket.timeout,
        ):
            texts = [str(current), *(str(item) for item in _linked(current))]
            found = next((m for m in map(_READ_TIMEOUT.search, texts) if m), None)
            limit = f"{found.group(1)} s " if found else ""
            # The timeout bounds each read; the wait is that times the request's attempts.
            return (
                "the endpoint stopped answering within the read timeout "
                f"({limit}per attempt, retried)"
            )
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception linked to it (causes, contexts, wrapped errors), once each."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(_linked(current))


def _linked(exc: BaseException) -> list[BaseException]:
    kwargs = getattr(exc, "kwargs", None)
    linked = [
        kwargs.get("error") if isinstance(kwargs, dict) else None,
        exc.__cause__,
        exc.__context__,
        *(arg for arg in exc.args if isinstance(arg, BaseException)),
    ]
    return [item for item in linked if isinstance(item, BaseException)]


#: What a stalled endpoint's error hints.
STALLED_HINT = (
    "a stalled server or network: retry once the endpoint answers again (library: "
    "Connection(read_timeout=...) for a server that needs longer)"
)


def translate_error(
    exc: BaseException, *, bucket: str | None = None, key: str | None = None, action: str = ""
) -> SecureStoreError:
    """Map a botocore exception to the securestore error it stands for.

    The caller raises the result ``from exc``. Messages carry the S3 error code
    and message but never request bodies, credentials or key material.
    """
    if isinstance(exc, SecureStoreError):
        return exc
    if isinstance(exc, botocore.exceptions.HTTPClientError):
        inner = exc.kwargs.get("error")
        if isinstance(inner, SecureStoreError):
            return inner
    what = f"{action} failed" if action else "request failed"
    if _out_of_descriptors(exc):
        # Reported as an SSLError (the CA bundle could not be opened) or a connection
        # error: "untrusted certificate" or "unreachable" would send a user astray.
        return LocalFileError(
            f"{what}: too many open files (the process's limit, ulimit -n, was reached)",
            bucket=bucket,
            key=key,
            hint="raise the limit (ulimit -n 4096) or lower --concurrency",
        )
    if isinstance(exc, botocore.exceptions.SSLError) and _broken_connection(exc):
        return StorageError(
            f"{what}: the TLS connection broke mid-request",
            bucket=bucket,
            key=key,
            hint="a network or server fault; retry, or raise max_attempts",
        )
    if isinstance(exc, botocore.exceptions.SSLError):
        return TransportSecurityError(
            f"{what}: TLS handshake failed (untrusted certificate, wrong host name, "
            "or a server without TLS 1.2+)",
            bucket=bucket,
            key=key,
            hint="check the endpoint URL and pass the CA that signed its certificate "
            "with --ca-bundle / AWS_CA_BUNDLE",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "")) or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
        detail = err.get("Message") or code
        message = f"{what}: {code}: {detail}" if detail != code else f"{what}: {code}"
        if code == "NoSuchBucket" or (code in ("404", "NotFound") and key is None):
            return NotFoundError(
                f"{what}: bucket does not exist",
                bucket=bucket,
                code=code,
                hint="create it with 'securestore mb' or check the name",
            )
        if code in _NOT_FOUND and key is None:
            # A bucket-level request (a listing): "no such object" and a key hint mislead.
            return NotFoundError(
                f"{what}: the server answered {code} for the bucket",
                bucket=bucket,
                code=code,
                hint="check the bucket name and region (`securestore ls s3://BUCKET/`); a "
                "server that does not implement this request (or has nothing to list) may "
                "answer so",
            )
        if code in _NOT_FOUND:
            return NotFoundError(f"{what}: no such object", bucket=bucket, key=key, code=code)
        if code in _DENIED:
            return AccessDeniedError(
                message,
                bucket=bucket,
                key=key,
                code=code,
                hint="check the credentials and the bucket/key policies",
            )
        if code in _KMS or code.startswith("KMS."):
            return KeyUnavailableError(
                message,
                bucket=bucket,
                key=key,
                hint="check the KMS key id, its state and key policy",
            )
        if code in _PRECONDITION:
            return PreconditionFailedError(message, bucket=bucket, key=key, code=code)
        if code == "InvalidObjectState":
            return ArchivedObjectError(
                f"{what}: the object is archived (GLACIER or DEEP_ARCHIVE storage class, or "
                "an archive access tier) and not restored",
                bucket=bucket,
                key=key,
                code=code,
                hint="restore it first (aws s3api restore-object --bucket B --key K "
                "--restore-request Days=N), then retry once the restore has completed",
            )
        if code in ("InvalidBucketName", "InvalidArgument", "InvalidRequest", "KeyTooLongError"):
            return ConfigurationError(message, bucket=bucket, key=key)
        return StorageError(message, bucket=bucket, key=key, code=code)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return AccessDeniedError(
            f"{what}: no AWS credentials found",
            bucket=bucket,
            key=key,
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run "
            "'securestore local' and use the variables it prints",
        )
    if isinstance(
        exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
    ):
        return EndpointUnreachableError(
            f"{what}: could not connect to the endpoint",
            bucket=bucket,
            key=key,
            hint="check the endpoint URL and that the server is running",
        )
    if isinstance(exc, botocore.exceptions.ConnectionClosedError):
        # The endpoint closed the connection before it answered: after a TLS record was
        # damaged in flight the peer may close on it before we read its alert. The same
        # fault as above; the class name alone told a user nothing.
        return StorageError(
            f"{what}: the TLS connection broke mid-request (closed before the endpoint answered)",
            bucket=bucket,
            key=key,
            hint="a network or server fault; retry, or raise max_attempts",
        )
    reason = stalled(exc)
    if reason is not None:
        return EndpointUnreachableError(
            f"{what}: {reason}", bucket=bucket, key=key, hint=STALLED_HINT
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StorageError(f"{what}: {type(exc).__name__}", bucket=bucket, key=key)
    return StorageError(f"{what}: {type(exc).__name__}: {exc}", bucket=bucket, key=key)

"""Collected values: a snapshot field holds the value or the error that prevented it.

A check that reads a failed field with :meth:`Collected.get` raises
:class:`Unavailable`, which the check runner turns into an ``ERROR`` result:
never a silent pass. "Not configured" is a value, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["AUDIT_LEVEL_CODES", "Collected", "CollectionError", "Unavailable"]

T = TypeVar("T")

#: Error codes that mean the audit as a whole could not talk to AWS (the endpoint
#: is unreachable, or the credentials are missing, invalid or expired, or it
#: answered "success" without what the API always returns), not that one
#: permission is missing: they make the audit fail (exit 4), never only a check.
AUDIT_LEVEL_CODES = frozenset(
    {
        # a 200 answer without the shape its API always returns (audit/shapes.py), or
        # one the answer readers could not read
        "MalformedResponse",
        "UnexpectedResponse",
        # connection
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "ReadTimeoutError",
        "SSLError",
        "TransportSecurityError",
        # credentials
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "UnknownCredentialError",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "TokenRefreshRequired",
        "UnrecognizedClientException",
        "AuthFailure",
    }
)


@dataclass(frozen=True)
class CollectionError:
    """Why a snapshot field could not be collected.

    ``operation`` is the API operation (``GetBucketPolicy``), ``code`` the error
    code (``AccessDenied``, ``Throttling``, ``EndpointConnectionError``).
    """

    operation: str
    code: str
    message: str = ""

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message and self.message != self.code else ""
        return f"{self.operation} failed with {self.code}{detail}"

    @property
    def audit_level(self) -> bool:
        """True for connection and credential failures (:data:`AUDIT_LEVEL_CODES`)."""
        return self.code in AUDIT_LEVEL_CODES


class Unavailable(Exception):  # noqa: N818 - a signal inside the audit, not an error class
    """Raised by :meth:`Collected.get` when the field failed to collect.

    The check runner turns it into an ``ERROR`` result; it never leaves the audit.
    """

    def __init__(self, error: CollectionError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Collected(Generic[T]):
    """A collected value, or the error that prevented collecting it."""

    value: T | None = None
    error: CollectionError | None = None

    @classmethod
    def ok(cls, value: T) -> Collected[T]:
        """A successfully collected value (which may be ``None`` for "not configured")."""
        return cls(value=value)

    @classmethod
    def failed(cls, error: CollectionError) -> Collected[T]:
        """A field whose collection failed."""
        return cls(error=error)

    @property
    def is_ok(self) -> bool:
        """True when the value was collected."""
        return self.error is None

    def get(self) -> T:
        """Return the value, or raise :class:`Unavailable` if collection failed."""
        if self.error is not None:
            raise Unavailable(self.error)
        return self.value  # type: ignore[return-value]

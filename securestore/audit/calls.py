"""One counted API call of audit collection, whose every failure becomes a recorded error.

Shared by bucket collection (:mod:`securestore.audit.collect`), the object scan
(:mod:`securestore.audit.collect_objects`) and the Batch Operations task that
classifies objects (:mod:`securestore.batch_scan`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from securestore.audit.answers import Absent
from securestore.audit.collected import Collected, CollectionError
from securestore.errors import SecureStoreError
from securestore.transport import translate_error

__all__ = ["CallCounter", "record_call"]

# Error codes that mean "not configured", i.e. a valid empty value.
_ABSENT = {
    "GetBucketEncryption": {"ServerSideEncryptionConfigurationNotFoundError"},
    "GetBucketPolicy": {"NoSuchBucketPolicy"},
    "GetPublicAccessBlock": {"NoSuchPublicAccessBlockConfiguration"},
    "GetBucketOwnershipControls": {"OwnershipControlsNotFoundError"},
    "GetObjectLockConfiguration": {"ObjectLockConfigurationNotFoundError"},
    "GetBucketReplication": {"ReplicationConfigurationNotFoundError"},
    "GetBucketLifecycleConfiguration": {"NoSuchLifecycleConfiguration"},
}


class CallCounter:
    """Counts API calls; one per bucket plus one for account-level calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        """Count one call (thread-safe: key lookups share the account counter)."""
        with self._lock:
            self.calls += 1

    def fail(self) -> None:
        """Count one failed call."""
        with self._lock:
            self.failed += 1


def record_call(
    counter: CallCounter, operation: str, method: Callable[..., Any], **kwargs: Any
) -> Collected[Any]:
    """One API call, counted; any failure becomes a CollectionError (or absence).

    Everything is caught, not only botocore's documented errors: an answer
    botocore cannot parse (a 403 with an empty body raises its
    ``ResponseParserError``) must cost this field, not the audit.
    """
    counter.add()
    try:
        return Collected.ok(method(**kwargs))
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(
            err.get("Code")
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown")
        )
        if code in _ABSENT.get(operation, ()):
            return Collected.ok(Absent())
        counter.fail()
        return Collected.failed(CollectionError(operation, code, str(err.get("Message", ""))))
    except Exception as exc:
        counter.fail()
        if isinstance(exc, botocore.exceptions.BotoCoreError | SecureStoreError):
            message = translate_error(exc, action=operation).message
        else:
            message = f"unexpected answer: {exc}"
        return Collected.failed(CollectionError(operation, type(exc).__name__, message))

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
from securestore.audit.shapes import MalformedAnswer, check_answer, check_body
from securestore.errors import SecureStoreError
from securestore.transport import translate_error

__all__ = ["MALFORMED", "AnswerCheckingClients", "CallCounter", "record_call", "watch_answers"]

#: The collection error code of an answer without the shape its API always returns.
MALFORMED = "MalformedResponse"

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
        answer = method(**kwargs)
        check_answer(operation, answer)
        return Collected.ok(answer)
    except MalformedAnswer as exc:  # from check_answer or the before-parse hook
        counter.fail()
        return Collected.failed(CollectionError(operation, MALFORMED, str(exc)))
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


def _check_raw_answer(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` handler: the XML root of an answer (see shapes.check_body)."""
    body = response_dict.get("body")
    if isinstance(body, bytes | bytearray):  # streamed bodies (GetObject) are not judged
        model = operation_model.service_model
        check_body(
            str(getattr(model, "resolved_protocol", None) or model.protocol),
            str(operation_model.name),
            int(response_dict.get("status_code") or 0),
            bytes(body),
        )


def watch_answers(client: Any) -> Any:
    """Make ``client`` raise :class:`MalformedAnswer` for an S3 answer whose XML root is not
    the documented one (idempotent; a client without botocore events is returned as is)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register(
            "before-parse", _check_raw_answer, unique_id="securestore-audit-answer-shape"
        )
    return client


class AnswerCheckingClients:
    """A client factory whose clients check each answer's body (:func:`watch_answers`)."""

    def __init__(self, clients: Any) -> None:
        self._clients = clients

    def client(self, service_name: str, region_name: str | None = None) -> Any:
        """The wrapped factory's client, watched."""
        return watch_answers(self._clients.client(service_name, region_name=region_name))

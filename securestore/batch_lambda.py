"""The Lambda side of S3 Batch Operations jobs (:mod:`securestore.batch`): invocation schema 2.0.

:func:`lambda_handler` runs a task function per object of an invocation and maps
its outcome to S3's result codes (transient library errors ``TemporaryFailure``,
so S3 retries them); :func:`run_locally` drives the same handler over a manifest,
as S3 would, which is how the tests exercise a task.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus

from securestore.batch_manifest import parse_manifest_csv
from securestore.errors import (
    ConfigurationError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransferError,
)

__all__ = ["TaskFunction", "TaskResult", "lambda_handler", "run_locally"]

#: ``task(bucket, key, version_id, user_arguments) -> result string``; raise to fail.
TaskFunction = Callable[[str, str, "str | None", Mapping[str, Any]], str]


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome as S3 Batch Operations records it."""

    task_id: str
    code: str  # Succeeded | TemporaryFailure | PermanentFailure
    message: str


def _result(
    task_id: str, task: TaskFunction, item: Mapping[str, Any], args: Mapping[str, Any]
) -> TaskResult:
    # S3 sends keys URL-encoded, a space possibly as '+' (unquote_plus, as AWS Lambda
    # Powertools found by testing against Batch Operations).
    bucket, key = item["s3Bucket"], unquote_plus(item["s3Key"])
    try:
        message = task(bucket, key, item.get("s3VersionId"), args)
    except (TransferError, PreconditionFailedError) as exc:
        # Worth another try: throttled, interrupted, or the object changed meanwhile.
        return TaskResult(task_id, "TemporaryFailure", str(exc))
    except StorageError as exc:
        transient = exc.code in ("SlowDown", "Throttling", "RequestTimeout", "InternalError")
        return TaskResult(
            task_id, "TemporaryFailure" if transient else "PermanentFailure", str(exc)
        )
    except SecureStoreError as exc:
        return TaskResult(task_id, "PermanentFailure", str(exc))
    return TaskResult(task_id, "Succeeded", message)


def lambda_handler(event: Mapping[str, Any], task: TaskFunction) -> dict[str, Any]:
    """Handle one S3 Batch Operations invocation (schema 2.0) with ``task``.

    Library errors become result codes (transient ones ``TemporaryFailure``, so S3
    retries them); anything else propagates and fails the invocation, as a bug should.
    """
    if event.get("invocationSchemaVersion") != "2.0":
        raise ConfigurationError("the handler speaks invocation schema 2.0 only")
    args = event.get("job", {}).get("userArguments") or {}
    results = [_result(item["taskId"], task, item, args) for item in event.get("tasks", [])]
    return {
        "invocationSchemaVersion": "2.0",
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event.get("invocationId", ""),
        "results": [
            {"taskId": r.task_id, "resultCode": r.code, "resultString": r.message[:1024]}
            for r in results
        ],
    }


def run_locally(
    manifest: bytes,
    task: TaskFunction,
    user_arguments: Mapping[str, str] | None = None,
    *,
    batch_size: int = 1,
) -> list[TaskResult]:
    """Run ``task`` over every object of ``manifest`` through :func:`lambda_handler`, as
    S3 Batch Operations would invoke it (one task per invocation by default)."""
    entries = list(parse_manifest_csv(manifest))
    job_id = str(uuid.uuid4())
    out: list[TaskResult] = []
    for start in range(0, len(entries), batch_size):
        event = {
            "invocationSchemaVersion": "2.0",
            "invocationId": str(uuid.uuid4()),
            "job": {"id": job_id, "userArguments": dict(user_arguments or {})},
            "tasks": [
                {
                    "taskId": f"{start + i}",
                    "s3Bucket": e.bucket,
                    "s3Key": quote(e.key, safe="/"),
                    "s3VersionId": e.version_id,
                }
                for i, e in enumerate(entries[start : start + batch_size])
            ],
        }
        answer = lambda_handler(json.loads(json.dumps(event)), task)
        out += [
            TaskResult(r["taskId"], r["resultCode"], r["resultString"]) for r in answer["results"]
        ]
    return out

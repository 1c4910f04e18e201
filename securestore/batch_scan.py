"""Full object coverage as an S3 Batch Operations job: classify every object of a manifest.

``securestore audit --sample-objects N`` inspects a sample from one machine; for
every object of a large estate, ``securestore audit BUCKET --objects-batch``
writes a manifest and a ``LambdaInvoke`` job instead (:func:`scan_request`). The
Lambda function runs :func:`handler`, which inspects each object exactly as the
sampled scan does (:func:`securestore.audit.collect_objects.inspect_object`),
classifies it with the same pure classifier
(:func:`securestore.audit.object_format.classify`) and returns the result as the
task's result string, which the job's completion report (every task, not only
the failed ones) records per object: a compact JSON object with the format, the
server-side encryption, what is legacy and the ``S3.OBJ.n`` checks it fails.
:func:`summarize_report` counts a completion report's results.

Permissions of the function's role: ``s3:GetObject`` (and
``s3:GetObjectVersion`` for versioned manifests) on the objects; nothing else.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from securestore.audit.calls import CallCounter, record_call
from securestore.audit.checks.object_formats import object_findings
from securestore.audit.collect_objects import inspect_object
from securestore.audit.collected import Collected, CollectionError
from securestore.audit.object_format import classify
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.batch import TaskFunction, create_job_request, lambda_handler, lambda_operation
from securestore.errors import StorageError, TransferError

__all__ = ["handler", "scan_operation", "scan_request", "scan_task", "summarize_report"]

#: The user argument naming the required server-side encryption (``--require``).
REQUIRE_ARGUMENT = "require"
_TRANSIENT = frozenset({"SlowDown", "Throttling", "RequestTimeout", "InternalError", "503", "500"})


def _raise(error: CollectionError, bucket: str, key: str) -> None:
    """A recorded call error as the library error the task contract expects."""
    message = f"{key}: {error}"
    if error.audit_level or error.code in _TRANSIENT:
        raise TransferError(message, bucket=bucket, key=key)
    raise StorageError(message, bucket=bucket, key=key, code=error.code)


def scan_task(clients: Any) -> TaskFunction:
    """The per-object classification, as a task (:func:`securestore.batch.lambda_handler`).

    User argument ``require`` (``sse-s3``, ``kms``, ``dsse-kms``; default ``sse-s3``)
    decides ``S3.OBJ.1``. A failed call raises (throttling and connection failures as
    :class:`~securestore.errors.TransferError`, retried by S3); a classified object,
    findings included, is a success whose result string holds the classification.
    """

    def task(bucket: str, key: str, version_id: str | None, args: Mapping[str, Any]) -> str:
        options = AuditOptions(
            require=EncryptionRequirement.parse(str(args.get(REQUIRE_ARGUMENT) or "sse-s3"))
        )
        counter = CallCounter()

        def call(operation: str, method: Any, **kwargs: Any) -> Collected[Any]:
            return record_call(counter, operation, method, **kwargs)

        sample = inspect_object(
            call,
            clients.client("s3"),
            bucket,
            key,
            require_rank=options.require.rank,
            version_id=version_id,
        )
        errors = [
            sample.error,
            sample.instruction.error if sample.instruction is not None else None,
            sample.parent_exists.error if sample.parent_exists is not None else None,
        ]
        for error in errors:
            if error is not None:
                _raise(error, bucket, key)
        classification = classify(sample)
        result: dict[str, Any] = classification.to_dict()
        if "problem" in result:  # the result string must stay within S3's 1,024 characters
            result["problem"] = str(result["problem"])[:300]
        result["sse"] = sample.sse or "none"
        result["findings"] = list(object_findings(sample, classification, options))
        return json.dumps(result, sort_keys=True, separators=(",", ":"))

    return task


def handler(event: Mapping[str, Any], _context: Any) -> dict[str, Any]:
    """The Lambda entry point of ``--objects-batch`` jobs (``securestore.batch_scan.handler``),
    over the TLS-only connection built from the Lambda environment."""
    from securestore import Connection

    return lambda_handler(event, scan_task(Connection()))


def scan_operation(function_arn: str, *, require: EncryptionRequirement) -> dict[str, Any]:
    """``LambdaInvoke`` of :func:`handler` with the required encryption as user argument."""
    return lambda_operation(function_arn, {REQUIRE_ARGUMENT: require.value})


def scan_request(
    *,
    account_id: str,
    function_arn: str,
    require: EncryptionRequirement,
    manifest_bucket: str,
    manifest_key: str,
    manifest_etag: str,
    role_arn: str,
    buckets: str,
) -> dict[str, Any]:
    """The CreateJob request of a classification job: a completion report of every task
    (the results are the point), confirmation required before it runs."""
    return create_job_request(
        account_id=account_id,
        operation=scan_operation(function_arn, require=require),
        manifest_bucket=manifest_bucket,
        manifest_key=manifest_key,
        manifest_etag=manifest_etag,
        role_arn=role_arn,
        report_bucket=manifest_bucket,
        report_prefix="securestore-object-scan",
        description=f"securestore audit --objects-batch {buckets}",
        report_scope="AllTasks",
    )


def summarize_report(report_csv: bytes) -> dict[str, Any]:
    """Counts of a completion report (``Report_CSV_20180820``): objects per format,
    per failed check, and tasks that failed.

    Rows are ``bucket, key, version, task status, error code, HTTP status, result``.
    """
    formats: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    failed = 0
    for row in csv.reader(io.StringIO(report_csv.decode("utf-8"))):
        if len(row) < 7:
            continue
        if row[3] != "succeeded":
            failed += 1
            continue
        try:
            result = json.loads(row[6])
        except ValueError:
            failed += 1
            continue
        formats[str(result.get("format", "unknown"))] += 1
        findings.update(str(f) for f in result.get("findings", ()))
    return {
        "formats": dict(sorted(formats.items())),
        "findings": dict(sorted(findings.items())),
        "failed_tasks": failed,
    }

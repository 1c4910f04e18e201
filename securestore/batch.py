"""Bulk changes as S3 Batch Operations jobs: manifests, CreateJob requests, the per-object task.

For estates too big to loop over from one machine, ``reencrypt --batch`` and
``rewrap --batch`` hand the work to S3 Batch Operations. This module builds
what such a job needs and nothing calls AWS except :func:`upload_manifest` and
:func:`create_job`:

* the manifest: ``S3BatchOperations_CSV_20180820`` rows ``bucket,key[,version]``
  with URL-encoded keys (:func:`manifest_csv`), from a listing
  (:func:`entries_from_listing`) or from an inventory audit's short objects
  (:func:`entries_from_inventory`);
* the operation: ``S3UpdateObjectEncryption`` (changes the SSE-KMS key or moves
  SSE-S3 to SSE-KMS without moving data; :func:`update_encryption_operation`),
  ``S3PutObjectCopy`` (copies in place with the new encryption; the only way for
  ``NOT-SSE`` objects; objects up to 5 GB; :func:`copy_operation`) or
  ``LambdaInvoke`` for client-side re-wrapping (:func:`lambda_operation`);
* the ``CreateJob`` request (:func:`create_job_request`), with a completion
  report of failed tasks, validated against botocore's model of
  ``s3control.CreateJob`` (:func:`validate_request`); ``--dry-run`` prints it.

The Lambda side is :func:`lambda_handler` (invocation schema 2.0): it runs a
task function per object and maps its outcome to S3's result codes; the same
function runs locally over a manifest with :func:`run_locally`, which is how the
tests exercise it. SSE-C objects are never in a job: S3 cannot copy or update
them without the customer's key.

Manifests live in :mod:`securestore.batch_manifest` and the Lambda runtime in
:mod:`securestore.batch_lambda`; their names are re-exported here, and the
task functions and ``handler`` (the Lambda entry point) stay here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.validate import ParamValidator

from securestore.batch_lambda import TaskFunction, TaskResult, lambda_handler, run_locally
from securestore.batch_manifest import (
    MANIFEST_FORMAT,
    ManifestEntry,
    ManifestFile,
    entries_from_inventory,
    entries_from_listing,
    manifest_csv,
    parse_manifest_csv,
    upload_manifest,
    write_manifest,
)
from securestore.errors import ConfigurationError
from securestore.location import validate_bucket_name
from securestore.transport import translate_error

__all__ = [
    "MANIFEST_FORMAT",
    "ManifestEntry",
    "ManifestFile",
    "TaskFunction",
    "TaskResult",
    "copy_in_place_task",
    "copy_operation",
    "create_job",
    "create_job_request",
    "describe_job",
    "entries_from_inventory",
    "entries_from_listing",
    "handler",
    "lambda_handler",
    "lambda_operation",
    "manifest_csv",
    "parse_manifest_csv",
    "reencrypt_request",
    "rewrap_task",
    "run_locally",
    "update_encryption_operation",
    "upload_manifest",
    "validate_request",
    "write_manifest",
]

# --- operations -----------------------------------------------------------------------------


def _key_arn(kms_key_arn: str) -> str:
    if not kms_key_arn.startswith("arn:") or ":key/" not in kms_key_arn:
        raise ConfigurationError(
            f"Batch Operations need a KMS key ARN, not {kms_key_arn!r}",
            hint="give arn:aws:kms:REGION:ACCOUNT:key/ID",
        )
    return kms_key_arn


def update_encryption_operation(kms_key_arn: str, *, bucket_key: bool = True) -> dict[str, Any]:
    """``S3UpdateObjectEncryption`` to SSE-KMS under ``kms_key_arn`` (no data movement;
    only for objects already server-side encrypted)."""
    return {
        "S3UpdateObjectEncryption": {
            "ObjectEncryption": {
                "SSEKMS": {"KMSKeyArn": _key_arn(kms_key_arn), "BucketKeyEnabled": bucket_key}
            }
        }
    }


def copy_operation(
    bucket: str, *, kms_key_arn: str | None = None, bucket_key: bool = True, partition: str = "aws"
) -> dict[str, Any]:
    """``S3PutObjectCopy`` of each object onto itself in ``bucket``, with SSE-KMS under
    ``kms_key_arn`` (or SSE-S3 without one). Metadata is copied, not replaced, so
    client-side encryption metadata stays with the object."""
    spec: dict[str, Any] = {
        "TargetResource": f"arn:{partition}:s3:::{validate_bucket_name(bucket)}",
        "MetadataDirective": "COPY",
    }
    if kms_key_arn:
        spec["SSEAwsKmsKeyId"] = _key_arn(kms_key_arn)
        spec["BucketKeyEnabled"] = bucket_key
        spec["NewObjectMetadata"] = {"SSEAlgorithm": "KMS"}
    else:
        spec["NewObjectMetadata"] = {"SSEAlgorithm": "AES256"}
    return {"S3PutObjectCopy": spec}


def lambda_operation(function_arn: str, user_arguments: Mapping[str, str]) -> dict[str, Any]:
    """``LambdaInvoke`` of the securestore handler (schema 2.0) with ``user_arguments``."""
    if not function_arn.startswith("arn:") or ":function:" not in function_arn:
        raise ConfigurationError(f"not a Lambda function ARN: {function_arn!r}")
    return {
        "LambdaInvoke": {
            "FunctionArn": function_arn,
            "InvocationSchemaVersion": "2.0",
            "UserArguments": dict(user_arguments),
        }
    }


def create_job_request(
    *,
    account_id: str,
    operation: Mapping[str, Any],
    manifest_bucket: str,
    manifest_key: str,
    manifest_etag: str,
    role_arn: str,
    report_bucket: str,
    report_prefix: str = "securestore-batch-reports",
    description: str = "securestore",
    priority: int = 10,
    confirmation_required: bool = True,
    client_request_token: str | None = None,
    versioned: bool = False,
    report_scope: str = "FailedTasksOnly",
) -> dict[str, Any]:
    """The ``s3control.create_job`` parameters: the manifest pinned by ETag, a completion
    report of failed tasks (``report_scope="AllTasks"``: of every task, for jobs whose
    results are the point, such as :mod:`securestore.batch_scan`), and (by default)
    confirmation required before it runs."""
    fields = ["Bucket", "Key", "VersionId"] if versioned else ["Bucket", "Key"]
    # The job runs in the role's partition (aws-cn, aws-us-gov): its ARNs must too.
    partition = _partition_of(role_arn)
    return {
        "AccountId": account_id,
        "ConfirmationRequired": confirmation_required,
        "Operation": dict(operation),
        "Report": {
            "Bucket": f"arn:{partition}:s3:::{validate_bucket_name(report_bucket)}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": report_prefix,
            "ReportScope": report_scope,
        },
        "ClientRequestToken": client_request_token or str(uuid.uuid4()),
        "Manifest": {
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": fields},
            "Location": {
                "ObjectArn": (
                    f"arn:{partition}:s3:::{validate_bucket_name(manifest_bucket)}/{manifest_key}"
                ),
                "ETag": manifest_etag,
            },
        },
        "Description": description[:256],
        "Priority": priority,
        "RoleArn": role_arn,
    }


def _partition_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[1] not in ("aws", "aws-cn", "aws-us-gov"):
        raise ConfigurationError(f"not an ARN in a known partition: {arn!r}")
    return parts[1]


def validate_request(request: Mapping[str, Any]) -> None:
    """Check ``request`` against botocore's model of ``s3control.CreateJob``.

    Raises:
        ConfigurationError: the request would be refused by the SDK (the report says why).
    """
    model = botocore.session.get_session().get_service_model("s3control")
    shape = model.operation_model("CreateJob").input_shape
    assert shape is not None
    report = ParamValidator().validate(dict(request), shape)
    if report.has_errors():
        raise ConfigurationError(f"invalid CreateJob request: {report.generate_report()}")


def create_job(clients: Any, request: Mapping[str, Any]) -> str:
    """Validate and send ``request``; return the job id.

    Raises:
        ConfigurationError: the request does not validate.
        StorageError: CreateJob failed.
    """
    validate_request(request)
    s3control = clients.client("s3control")
    try:
        answer = s3control.create_job(**request)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, action="CreateJob") from exc
    return str(answer["JobId"])


# --- task functions -------------------------------------------------------------------------


def copy_in_place_task(clients: Any, *, kms_key_arn: str | None = None) -> TaskFunction:
    """What ``S3PutObjectCopy`` does to one object, as a task: copy it onto itself with
    SSE-KMS under ``kms_key_arn`` (SSE-S3 without), metadata kept. For running a job's
    manifest locally (tests, small estates)."""
    encryption: dict[str, Any] = (
        {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": _key_arn(kms_key_arn),
            "BucketKeyEnabled": True,
        }
        if kms_key_arn
        else {"ServerSideEncryption": "AES256"}
    )

    def task(bucket: str, key: str, version_id: str | None, _args: Mapping[str, Any]) -> str:
        source: dict[str, str] = {"Bucket": bucket, "Key": key}
        if version_id:
            source["VersionId"] = version_id
        try:
            clients.client("s3").copy_object(
                Bucket=bucket, Key=key, CopySource=source, MetadataDirective="COPY", **encryption
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate_error(exc, bucket=bucket, key=key, action="CopyObject") from exc
        return f"copied in place with {encryption['ServerSideEncryption']}"

    return task


def _arns(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def rewrap_task(store_for: Callable[[str], Any], clients: Any) -> TaskFunction:
    """The client-side re-wrap of one object, as ``securestore rewrap`` does it
    (:meth:`securestore.SecureStore.rewrap`): user arguments ``add_kms_keys`` and
    ``remove_kms_keys`` (comma-separated key ARNs). ``store_for(bucket)`` gives a
    client-side store whose keyring unwraps the objects."""
    from securestore.keyrings import AwsKmsKeyring

    def task(bucket: str, key: str, _version_id: str | None, args: Mapping[str, Any]) -> str:
        add = [
            AwsKmsKeyring(arn, client_factory=lambda region: clients.client("kms", region))
            for arn in _arns(args.get("add_kms_keys"))
        ]
        remove = _arns(args.get("remove_kms_keys"))
        if not add and not remove:
            raise ConfigurationError("the job names no key to add or remove")
        result = store_for(bucket).rewrap(key, add=add, remove_kms_keys=remove)
        return f"rewrapped ({result.method.value if result.method else 'unchanged'})"

    return task


def handler(event: Mapping[str, Any], _context: Any) -> dict[str, Any]:
    """The Lambda entry point for ``rewrap --batch`` jobs (``securestore.batch.handler``).

    It unwraps with a KMS discovery keyring (any key the function's role may use
    to decrypt), over the TLS-only connection built from the Lambda environment.
    Permissions: ``s3:GetObject``, ``s3:PutObject``, ``s3:AbortMultipartUpload``
    on the objects, ``kms:Decrypt`` on the current keys and ``kms:Encrypt`` on
    the keys added (docs/audit-inventory.md, "Batch Operations").
    """
    from securestore import Connection, SecureStore
    from securestore.clientside import ClientSide
    from securestore.keyrings import AwsKmsDiscoveryKeyring

    connection = Connection()
    keyring = AwsKmsDiscoveryKeyring(client_factory=lambda region: connection.client("kms", region))

    def store_for(bucket: str) -> Any:
        return SecureStore(bucket, encryption=ClientSide(keyring), connection=connection)

    return lambda_handler(event, rewrap_task(store_for, connection))


def reencrypt_request(
    bucket: str,
    operation: str,
    *,
    kms_key_arn: str | None,
    account_id: str,
    role_arn: str,
    manifest_bucket: str,
    manifest_key: str,
    manifest_etag: str,
    report_bucket: str,
) -> dict[str, Any]:
    """The CreateJob request re-encrypting one exported manifest of ``bucket``
    (:func:`securestore.audit.inventory_export.export_job_manifests`): ``update`` ->
    ``S3UpdateObjectEncryption`` (needs ``kms_key_arn``), ``copy`` -> ``S3PutObjectCopy``.

    Raises:
        ConfigurationError: an unknown operation, or ``update`` without a key.
    """
    if operation == "update":
        if not kms_key_arn:
            raise ConfigurationError("UpdateObjectEncryption needs the KMS key ARN")
        spec = update_encryption_operation(kms_key_arn)
    elif operation == "copy":
        spec = copy_operation(bucket, kms_key_arn=kms_key_arn, partition=_partition_of(role_arn))
    else:
        raise ConfigurationError(f"unknown job operation {operation!r}")
    return create_job_request(
        account_id=account_id,
        operation=spec,
        manifest_bucket=manifest_bucket,
        manifest_key=manifest_key,
        manifest_etag=manifest_etag,
        role_arn=role_arn,
        report_bucket=report_bucket,
        description=f"securestore reencrypt s3://{bucket} ({operation})",
    )


def describe_job(request: Mapping[str, Any]) -> str:
    """The request as indented JSON, for ``--dry-run``."""
    return json.dumps(dict(request), indent=2, sort_keys=True) + "\n"

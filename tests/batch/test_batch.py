"""S3 Batch Operations: job documents validate against botocore's model; the per-object
task functions run locally over a manifest against the TLS endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.batch import (
    ManifestEntry,
    copy_in_place_task,
    copy_operation,
    create_job_request,
    entries_from_inventory,
    entries_from_listing,
    lambda_handler,
    lambda_operation,
    manifest_csv,
    parse_manifest_csv,
    rewrap_task,
    run_locally,
    update_encryption_operation,
    upload_manifest,
    validate_request,
)
from securestore.clientside import ClientSide
from securestore.errors import ConfigurationError, NotFoundError, TransferError
from securestore.keyrings import AwsKmsKeyring
from tests.clientside.conftest import (  # noqa: F401 - shared fixtures
    kms_keyring,
    second_kms_key,
    second_kms_keyring,
)

from ..conftest import unique_bucket_name

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/securestore-batch"


def _request(operation: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return create_job_request(
        account_id="111122223333",
        operation=operation,
        manifest_bucket="central",
        manifest_key="jobs/manifest.csv",
        manifest_etag="0123456789abcdef0123456789abcdef",
        role_arn=ROLE,
        report_bucket="central",
        **kwargs,
    )


@pytest.mark.parametrize(
    "operation",
    [
        update_encryption_operation(KEY),
        copy_operation("source-bucket", kms_key_arn=KEY),
        copy_operation("source-bucket"),
        lambda_operation(
            "arn:aws:lambda:us-east-1:111122223333:function:securestore-rewrap",
            {"add_kms_keys": KEY},
        ),
    ],
    ids=["update-encryption", "copy-kms", "copy-s3", "lambda"],
)
def test_job_requests_validate_against_the_service_model(operation: dict[str, Any]) -> None:
    request = _request(operation, versioned=True)
    validate_request(request)
    assert request["Manifest"]["Spec"]["Fields"] == ["Bucket", "Key", "VersionId"]
    assert request["Report"]["ReportScope"] == "FailedTasksOnly"
    assert request["ConfirmationRequired"] is True


def test_invalid_requests_are_refused() -> None:
    request = _request(update_encryption_operation(KEY))
    request["Priority"] = "high"
    with pytest.raises(ConfigurationError, match="Priority"):
        validate_request(request)
    with pytest.raises(ConfigurationError):
        update_encryption_operation("alias/mine")  # Batch needs the ARN
    with pytest.raises(ConfigurationError):
        lambda_operation("securestore-rewrap", {})


def test_manifest_round_trip_encodes_keys() -> None:
    entries = [
        ManifestEntry("b", "plain.txt"),
        ManifestEntry("b", "dir/with space,comma+plus é.txt"),
    ]
    data = manifest_csv(entries)
    assert b"with%20space%2Ccomma%2Bplus%20%C3%A9.txt" in data
    assert list(parse_manifest_csv(data)) == entries
    with pytest.raises(ConfigurationError):
        manifest_csv([])


def test_entries_from_inventory_leave_sse_c_out() -> None:
    details = [
        {
            "bucket": "b",
            "worst_objects": [
                {"key": "a", "size": 1, "reason": "NOT-SSE"},
                {"key": "c", "size": 1, "reason": "SSE-C"},
                {"key": "s", "size": 1, "reason": "SSE-S3"},
            ],
        }
    ]
    found = list(entries_from_inventory(details, statuses=("NOT-SSE", "SSE-C")))
    assert found == [ManifestEntry("b", "a")]


def test_handler_maps_errors_to_result_codes() -> None:
    def task(bucket: str, key: str, _v: str | None, _a: Mapping[str, Any]) -> str:
        if key == "gone":
            raise NotFoundError("no such key", bucket=bucket, key=key)
        if key == "busy":
            raise TransferError("gave up after retries")
        return "ok"

    manifest = manifest_csv(ManifestEntry("b", k) for k in ("fine", "gone", "busy"))
    codes = [r.code for r in run_locally(manifest, task, batch_size=3)]
    assert codes == ["Succeeded", "PermanentFailure", "TemporaryFailure"]
    with pytest.raises(ConfigurationError):
        lambda_handler({"invocationSchemaVersion": "1.0", "tasks": []}, task)


def test_copy_task_over_a_listing_encrypts_every_object(
    connection: Connection, kms_key: str
) -> None:
    bucket = unique_bucket_name("batch-copy")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="plain/a b.txt", Body=b"a", Metadata={"keep": "me"})
    s3.put_object(Bucket=bucket, Key="s3/x", Body=b"x", ServerSideEncryption="AES256")
    manifest = manifest_csv(entries_from_listing(connection, bucket))
    etag = upload_manifest(connection, bucket, "jobs/manifest.csv", manifest)
    request = create_job_request(
        account_id="123456789012",
        operation=copy_operation(bucket, kms_key_arn=kms_key),
        manifest_bucket=bucket,
        manifest_key="jobs/manifest.csv",
        manifest_etag=etag,
        role_arn=ROLE,
        report_bucket=bucket,
    )
    validate_request(request)

    results = run_locally(manifest, copy_in_place_task(connection, kms_key_arn=kms_key))

    assert [r.code for r in results] == ["Succeeded", "Succeeded"]
    for key in ("plain/a b.txt", "s3/x"):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"].endswith(kms_key.rsplit("/", 1)[-1])
    assert s3.head_object(Bucket=bucket, Key="plain/a b.txt")["Metadata"] == {"keep": "me"}


def test_rewrap_task_moves_client_side_objects_to_another_key(
    connection: Connection,
    kms_key: str,
    kms_keyring: AwsKmsKeyring,  # noqa: F811
    second_kms_key: str,  # noqa: F811
    second_kms_keyring: AwsKmsKeyring,  # noqa: F811
) -> None:
    bucket = unique_bucket_name("batch-rewrap")
    connection.client("s3").create_bucket(Bucket=bucket)

    def store_for(name: str, keyring: AwsKmsKeyring = kms_keyring) -> SecureStore:
        return SecureStore(name, encryption=ClientSide(keyring), connection=connection)

    writer = store_for(bucket)
    for key in ("one", "two/three"):
        writer.put(key, f"secret {key}".encode())
    manifest = manifest_csv(entries_from_listing(connection, bucket))

    results = run_locally(
        manifest,
        rewrap_task(store_for, connection),
        {"add_kms_keys": second_kms_key, "remove_kms_keys": kms_key},
    )

    assert [r.code for r in results] == ["Succeeded", "Succeeded"], results
    reader = store_for(bucket, second_kms_keyring)
    assert reader.get("one") == b"secret one"
    assert reader.get("two/three") == b"secret two/three"
    with pytest.raises(Exception):  # noqa: B017 - the old key no longer opens it
        store_for(bucket).get("one")
    bad = run_locally(manifest, rewrap_task(store_for, connection), {})
    assert {r.code for r in bad} == {"PermanentFailure"}


def test_handler_decodes_keys_as_s3_sends_them() -> None:
    seen: list[str] = []

    def task(_bucket: str, key: str, _v: str | None, _a: Mapping[str, Any]) -> str:
        seen.append(key)
        return "ok"

    event = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "i",
        "job": {"id": "j", "userArguments": {}},
        "tasks": [{"taskId": "1", "s3Bucket": "b", "s3Key": "a+b%2Bc/d%20e", "s3VersionId": None}],
    }
    answer = lambda_handler(event, task)
    assert seen == ["a b+c/d e"]
    assert answer["results"] == [{"taskId": "1", "resultCode": "Succeeded", "resultString": "ok"}]
    assert answer["treatMissingKeysAs"] == "PermanentFailure"

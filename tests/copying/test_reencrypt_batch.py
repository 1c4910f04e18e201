"""reencrypt --batch: the objects go to an S3 Batch Operations job, not through this machine."""

from __future__ import annotations

import hashlib
import json

import pytest

from securestore import Connection, SecureStore, SseS3
from securestore.batch import parse_manifest_csv, validate_request
from tests.support.cli import Run

ROLE = "arn:aws:iam::123456789012:role/securestore-batch"


def _fill(connection: Connection, bucket: str) -> list[str]:
    store = SecureStore(bucket, encryption=SseS3(), connection=connection)
    keys = ["data/a.csv", "data/b c.csv", "data/sub/c.csv"]
    for key in keys:
        store.put(key, b"x")
    store.put("other/d.csv", b"y")
    return keys


def test_dry_run_prints_a_valid_update_job_and_uploads_nothing(
    run: Run, connection: Connection, bucket: str, other_bucket: str, kms_key: str
) -> None:
    keys = _fill(connection, bucket)
    result = run(
        "reencrypt", f"s3://{bucket}/data/", "--recursive", "--sse", "kms",
        "--kms-key-id", kms_key, "--batch", "--batch-role", ROLE,
        "--batch-bucket", other_bucket, "--dryrun",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)
    validate_request(request)
    assert request["Operation"] == {
        "S3UpdateObjectEncryption": {
            "ObjectEncryption": {"SSEKMS": {"KMSKeyArn": kms_key, "BucketKeyEnabled": True}}
        }
    }
    assert request["RoleArn"] == ROLE and request["ConfirmationRequired"] is True
    manifest = "".join(f"{bucket},{k.replace(' ', '%20')}\n" for k in keys).encode()
    assert (
        request["Manifest"]["Location"]["ETag"]
        == hashlib.md5(manifest, usedforsecurity=False).hexdigest()
    )
    assert [e.key for e in parse_manifest_csv(manifest)] == keys
    assert "KeyCount" in (listing := connection.client("s3").list_objects_v2(Bucket=other_bucket))
    assert listing["KeyCount"] == 0  # nothing uploaded in a dry run
    # Nothing changed either.
    assert SecureStore(bucket, connection=connection).head("data/a.csv").encryption.algorithm == (
        "AES256"
    )


def test_back_to_sse_s3_is_a_copy_job(
    run: Run, connection: Connection, bucket: str, other_bucket: str
) -> None:
    _fill(connection, bucket)
    result = run(
        "reencrypt", f"s3://{bucket}/data/a.csv", "--sse", "s3", "--batch",
        "--batch-role", ROLE, "--batch-bucket", other_bucket, "--dryrun",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    operation = json.loads(result.stdout)["Operation"]
    assert operation["S3PutObjectCopy"]["NewObjectMetadata"] == {"SSEAlgorithm": "AES256"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch"], "--batch needs --batch-role and --batch-bucket"),
        (["--batch-role", ROLE], "--batch needs"),
        (["--batch", "--batch-role", ROLE, "--batch-bucket", "x-bucket",
          "--batch-operation", "update", "--sse", "s3"], "only moves objects to SSE-KMS"),
    ],
)  # fmt: skip
def test_batch_usage_errors(run: Run, bucket: str, extra: list[str], message: str) -> None:
    args = ["reencrypt", f"s3://{bucket}/k", *extra]
    if "--sse" not in extra:
        args += ["--sse", "s3"]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_job_that_cannot_be_created_leaves_no_manifest_behind(
    run: Run,
    connection: Connection,
    bucket: str,
    other_bucket: str,
    kms_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateJob (s3control) cannot run on the embedded endpoint, so its failure is
    simulated; the manifest upload and the clean-up are real S3 calls."""
    from securestore import batch
    from securestore.errors import StorageError

    uploaded: list[str] = []
    real_upload = batch.upload_manifest

    def upload(clients: object, where: str, key: str, data: bytes) -> str:
        uploaded.append(key)
        return real_upload(clients, where, key, data)

    def refuse(clients: object, request: object) -> str:
        raise StorageError("CreateJob failed: AccessDenied", code="AccessDenied")

    monkeypatch.setattr(batch, "upload_manifest", upload)
    monkeypatch.setattr(batch, "create_job", refuse)
    _fill(connection, bucket)
    result = run(
        "reencrypt", f"s3://{bucket}/data/", "--recursive", "--sse", "kms",
        "--kms-key-id", kms_key, "--batch", "--batch-role", ROLE, "--batch-bucket", other_bucket,
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    assert "CreateJob failed" in result.output
    assert uploaded  # the manifest was written, then removed
    assert connection.client("s3").list_objects_v2(Bucket=other_bucket)["KeyCount"] == 0

"""rewrap --batch: a LambdaInvoke job that runs securestore.batch.handler per object."""

from __future__ import annotations

import json

import pytest

from securestore import Connection, SecureStore, SseS3
from securestore.batch import validate_request
from securestore.store import create_bucket
from tests.conftest import unique_bucket_name
from tests.support.cli import Run

ROLE = "arn:aws:iam::123456789012:role/securestore-batch"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:securestore-rewrap"
OLD = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
NEW = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"


def test_dry_run_prints_a_lambda_job_with_the_key_changes(
    run: Run, connection: Connection, bucket: str
) -> None:
    reports = unique_bucket_name("reports")
    create_bucket(connection, reports)
    store = SecureStore(bucket, encryption=SseS3(), connection=connection)
    for key in ("p/a", "p/b"):
        store.put(key, b"x")
    result = run(
        "rewrap", f"s3://{bucket}/p/", "--recursive", "--add-kms-key-id", NEW,
        "--remove-kms-key-id", OLD, "--batch", "--batch-role", ROLE, "--batch-bucket", reports,
        "--batch-function", FUNCTION, "--dryrun",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)
    validate_request(request)
    assert request["Operation"]["LambdaInvoke"] == {
        "FunctionArn": FUNCTION,
        "InvocationSchemaVersion": "2.0",
        "UserArguments": {"add_kms_keys": NEW, "remove_kms_keys": OLD},
    }
    assert connection.client("s3").list_objects_v2(Bucket=reports)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch", "--batch-role", ROLE, "--batch-bucket", "b-bucket"], "--batch-function"),
        (["--batch-function", FUNCTION], "--batch"),
        (["--batch", "--batch-role", ROLE, "--batch-bucket", "b-bucket",
          "--batch-function", FUNCTION, "--add-key-file", "k.key"], "KMS keys only"),
        (["--batch", "--batch-role", ROLE, "--batch-bucket", "b-bucket",
          "--batch-function", FUNCTION, "--add-kms-key-id", "alias/x"], "KMS key ARNs"),
    ],
)  # fmt: skip
def test_batch_usage_errors(run: Run, bucket: str, extra: list[str], message: str) -> None:
    result = run("rewrap", f"s3://{bucket}/k", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output

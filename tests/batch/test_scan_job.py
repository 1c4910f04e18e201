"""audit --objects-batch: a LambdaInvoke job classifying every object with the scan's own
classifier. The request validates against botocore's model; the task runs locally over a
manifest of real S3EC objects on the TLS endpoint."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest

from securestore import Connection
from securestore.audit import EncryptionRequirement
from securestore.batch import ManifestEntry, manifest_csv, run_locally, validate_request
from securestore.batch_scan import scan_request, scan_task, summarize_report
from securestore.store import create_bucket
from tests.conftest import unique_bucket_name
from tests.support.cli import Run

ROLE = "arn:aws:iam::123456789012:role/securestore-batch"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:securestore-scan"
_VECTORS = {
    v["name"]: v
    for v in json.loads(
        (Path(__file__).parents[1] / "vectors" / "s3ec" / "manifest.json").read_text()
    )["vectors"]
}


def test_scan_request_validates_and_reports_every_task() -> None:
    request = scan_request(
        account_id="123456789012",
        function_arn=FUNCTION,
        require=EncryptionRequirement.KMS,
        manifest_bucket="central",
        manifest_key="scan/manifest.csv",
        manifest_etag="0123456789abcdef0123456789abcdef",
        role_arn=ROLE,
        buckets="a b",
    )
    validate_request(request)
    assert request["Report"]["ReportScope"] == "AllTasks"
    assert request["Operation"]["LambdaInvoke"]["UserArguments"] == {"require": "kms"}
    assert request["ConfirmationRequired"] is True


@pytest.fixture(scope="module")
def objects(connection: Connection) -> str:
    s3 = connection.client("s3")
    name = unique_bucket_name("scan-job")
    s3.create_bucket(Bucket=name)
    for key, vector in (("v3", "v3-aes-gcm"), ("v1", "v1-refused"), ("v2i", "v2-instruction-file")):
        v = _VECTORS[vector]
        s3.put_object(
            Bucket=name, Key=key, Body=base64.b64decode(v["body"]), Metadata=v["metadata"]
        )
        if "instruction_file" in v:
            s3.put_object(
                Bucket=name,
                Key=key + ".instruction",
                Body=v["instruction_file"].encode(),
                Metadata={"x-amz-crypto-instr-file": ""},
            )
    s3.put_object(Bucket=name, Key="orphan.instruction", Body=b"{}")
    s3.put_object(Bucket=name, Key="plain file", Body=b"hello")
    return name


def test_the_task_classifies_each_object_of_a_manifest(
    connection: Connection, objects: str
) -> None:
    keys = ["v3", "v1", "v2i", "v2i.instruction", "orphan.instruction", "plain file", "gone"]
    manifest = manifest_csv(ManifestEntry(objects, k) for k in keys)
    results = run_locally(manifest, scan_task(connection), {"require": "sse-s3"}, batch_size=3)
    by = dict(zip(keys, results, strict=True))
    assert by["gone"].code == "PermanentFailure"
    parsed = {k: json.loads(r.message) for k, r in by.items() if r.code == "Succeeded"}
    assert {k: p["format"] for k, p in parsed.items()} == {
        "v3": "s3ec-v3",
        "v1": "s3ec-v1",
        "v2i": "s3ec-v2",
        "v2i.instruction": "instruction-file",
        "orphan.instruction": "instruction-file",
        "plain file": "plain",
    }
    assert parsed["v1"]["findings"] == ["S3.OBJ.2"]  # AES-CBC
    assert parsed["v3"]["findings"] == []
    assert parsed["v2i"]["findings"] == []  # client-side through its instruction file
    assert parsed["plain file"]["findings"] == ["S3.OBJ.1"]  # moto stores it without SSE
    assert "S3.OBJ.3" in parsed["orphan.instruction"]["findings"]
    assert "S3.OBJ.3" not in parsed["v2i.instruction"]["findings"]
    assert all(len(r.message) <= 1024 for r in results)

    report = io.StringIO()
    writer = csv.writer(report)
    for key, r in by.items():
        status = "succeeded" if r.code == "Succeeded" else "failed"
        writer.writerow([objects, key, "", status, r.code, "200", r.message])
    summary = summarize_report(report.getvalue().encode())
    assert summary["failed_tasks"] == 1
    assert summary["formats"]["instruction-file"] == 2
    assert summary["findings"]["S3.OBJ.2"] == 1


def test_cli_dry_run_prints_the_job_and_uploads_nothing(
    run: Run, connection: Connection, objects: str
) -> None:
    reports = unique_bucket_name("scan-reports")
    create_bucket(connection, reports)
    result = run(
        "audit", objects, "--require", "kms", "--objects-batch", "--batch-role", ROLE,
        "--batch-bucket", reports, "--batch-function", FUNCTION, "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)
    validate_request(request)
    assert request["Operation"]["LambdaInvoke"]["FunctionArn"] == FUNCTION
    assert request["Report"]["ReportScope"] == "AllTasks"
    assert "--objects-batch (dry run): 6 objects" in result.stderr
    assert connection.client("s3").list_objects_v2(Bucket=reports)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--objects-batch", "--batch-role", ROLE], "--batch-function"),
        (["--batch-function", FUNCTION], "--objects-batch"),
        (["--objects-batch", "--batch-role", ROLE, "--batch-bucket", "b-bucket",
          "--batch-function", FUNCTION, "--sample-objects", "3"], "BUCKETs only"),
        (["--object-budget", "10"], "need --sample-objects"),
    ],
)  # fmt: skip
def test_usage_errors(run: Run, extra: list[str], message: str) -> None:
    result = run("audit", "some-bucket", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output

"""From an inventory audit to Batch Operations jobs and back: every short object is
exported, the jobs' requests validate, the per-object task re-encrypts them, and a new
inventory of the bucket then passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import Connection
from securestore.audit.inventory import audit_inventory
from securestore.audit.inventory_export import export_job_manifests
from securestore.audit.options import AuditOptions, EncryptionRequirement
from securestore.audit.runner import exit_status
from securestore.batch import (
    copy_in_place_task,
    describe_job,
    parse_manifest_csv,
    reencrypt_request,
    run_locally,
    validate_request,
)
from securestore.errors import ConfigurationError
from tests.audit.inventory_gen import Row, write_inventory
from tests.audit.test_inventory import _listing

from ..conftest import unique_bucket_name

ROLE = "arn:aws:iam::123456789012:role/securestore-batch"


def test_audit_export_batch_audit_again(
    connection: Connection, kms_key: str, tmp_path: Path
) -> None:
    bucket = unique_bucket_name("batch-estate")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="plain/a b+c.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="plain/b", Body=b"bb")
    s3.put_object(Bucket=bucket, Key="s3/c", Body=b"ccc", ServerSideEncryption="AES256")
    s3.put_object(
        Bucket=bucket, Key="kms/d", Body=b"d", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key
    )
    rows = [*_listing(connection, bucket), Row(bucket, "sse-c/e", 1, "SSE-C")]
    manifest = write_inventory(tmp_path / "inv", rows, source_bucket=bucket, file_format="Parquet")
    kms = AuditOptions(require=EncryptionRequirement.KMS)
    assert exit_status(audit_inventory([str(manifest)], options=kms)) == 1

    jobs, skipped = export_job_manifests(
        [str(manifest)], clients=None, require=EncryptionRequirement.KMS, into=tmp_path / "jobs"
    )

    assert skipped == 1  # the SSE-C object cannot be in a job
    by_op = {j.operation: j for j in jobs}
    assert [e.key for e in parse_manifest_csv(by_op["copy"].path.read_bytes())] == [
        "plain/a b+c.txt",
        "plain/b",
    ]
    assert [e.key for e in parse_manifest_csv(by_op["update"].path.read_bytes())] == ["s3/c"]
    for job in jobs:
        request = reencrypt_request(
            bucket,
            job.operation,
            kms_key_arn=kms_key,
            account_id="123456789012",
            role_arn=ROLE,
            manifest_bucket="central",
            manifest_key=f"jobs/{job.path.name}",
            manifest_etag=job.md5,
            report_bucket="central",
        )
        validate_request(request)
        assert job.md5 in describe_job(request)
        results = run_locally(
            job.path.read_bytes(), copy_in_place_task(connection, kms_key_arn=kms_key)
        )
        assert {r.code for r in results} == {"Succeeded"}

    after = [r for r in _listing(connection, bucket)]
    again = write_inventory(tmp_path / "again", after, source_bucket=bucket, file_format="CSV")
    assert exit_status(audit_inventory([str(again)], options=kms)) == 0


def test_dsse_cannot_be_a_batch_job(tmp_path: Path) -> None:
    manifest = write_inventory(tmp_path, [Row("b", "k", 1, "SSE-S3")], source_bucket="b")
    with pytest.raises(ConfigurationError, match="DSSE-KMS"):
        export_job_manifests(
            [str(manifest)], clients=None, require=EncryptionRequirement.DSSE_KMS, into=tmp_path
        )

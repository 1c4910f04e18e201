"""``securestore audit`` through click's runner: formats, exit codes, suppressions."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from securestore_cli.audit import audit_command

from securestore import Connection

from ..conftest import unique_bucket_name
from .test_collect import _LocalS3Control, _tls_policy


@pytest.fixture(scope="module")
def audited(connection: Connection) -> str:
    name = unique_bucket_name("audit-cli")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=_tls_policy(name))
    return name


def invoke(connection: Connection, *args: str) -> tuple[int, str]:
    obj = SimpleNamespace(connection=_LocalS3Control(connection), progress_enabled=lambda: False)
    result = CliRunner().invoke(audit_command, list(args), obj=obj, catch_exceptions=False)
    return result.exit_code, result.output


def test_json_report_and_findings_exit_one(connection: Connection, audited: str) -> None:
    code, out = invoke(connection, audited, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    statuses = {r["check_id"]: r["status"] for r in doc["results"]}
    assert statuses["S3.TLS.1"] == "PASS" and statuses["S3.ENC.1"] == "FAIL"


def test_fail_on_threshold_and_suppressions(
    connection: Connection, audited: str, tmp_path: Path
) -> None:
    sup = tmp_path / "suppress.json"
    failing = json.loads(invoke(connection, audited, "--format", "json")[1])["results"]
    entries = [
        {"check_id": r["check_id"], "bucket": audited, "reason": "accepted in test"}
        for r in failing
        if r["status"] in ("FAIL", "ERROR")
    ]
    sup.write_text(json.dumps(entries))
    out_file = tmp_path / "report.md"
    code, _ = invoke(
        connection,
        audited,
        "--suppress",
        str(sup),
        "--format",
        "markdown",
        "--output",
        str(out_file),
    )
    assert code == 0
    assert "accepted in test" in out_file.read_text()


def test_framework_and_missing_bucket_exit_four(connection: Connection) -> None:
    code, out = invoke(connection, "no-such-bucket-cli-123", "--framework", "aws-fsbp")
    assert code == 4
    assert "does not exist" in out


def test_usage_errors(connection: Connection) -> None:
    assert invoke(connection)[0] == 2
    assert invoke(connection, "b1b", "--all-buckets")[0] == 2
    assert invoke(connection, "--all-buckets", "--format", "pdf")[0] == 2

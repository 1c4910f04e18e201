"""An audit that could not run says so: exit 4 in every format, never a hang or a crash.

Failures are produced by real clients against real TLS servers on loopback: a
closed port, a stub (``tests/audit/stub.py``) that rewrites chosen answers of
the moto endpoint, and a session without credentials.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from securestore_cli.audit import audit_command

from securestore import Connection
from securestore.audit import Registry, Status, run_checks
from securestore.audit.collect import Collector
from securestore.audit.reports import FORMATS
from tests.support.endpoints import endpoint_connection

from ..conftest import Endpoint, unique_bucket_name
from .stub import Canned, StubEndpoint, StubRequest
from .test_collect import _LocalS3Control

# A port of this helper's range that nothing listens on.
CLOSED_PORT = 21301

pytestmark = pytest.mark.timeout(120)


def _connection(endpoint: Endpoint, url: str, **kwargs: Any) -> Connection:
    return endpoint_connection(
        endpoint.env,
        endpoint_url=url,
        max_attempts=1,
        connect_timeout=2,
        read_timeout=5,
        **kwargs,
    )


def invoke(connection: Connection, *args: str) -> tuple[int, str]:
    obj = SimpleNamespace(connection=_LocalS3Control(connection), progress_enabled=lambda: False)
    result = CliRunner().invoke(audit_command, list(args), obj=obj, catch_exceptions=False)
    return result.exit_code, result.stdout  # the report; the error: line goes to stderr


def _errors_listed(fmt: str, text: str) -> bool:
    """True when the report in ``fmt`` lists at least one audit-level error."""
    if fmt == "json":
        return bool(json.loads(text)["errors"])
    if fmt == "sarif":
        invocation = json.loads(text)["runs"][0]["invocations"][0]
        return invocation["executionSuccessful"] is False and bool(
            invocation["toolExecutionNotifications"]
        )
    if fmt == "ocsf":
        return any(f["status_code"] == "AUDIT_ERROR" for f in json.loads(text))
    if fmt == "junit":
        root = ET.fromstring(text)  # noqa: S314 - our own report
        return any(s.get("name") == "audit" for s in root) and int(root.get("errors", "0")) >= 1
    if fmt == "csv":
        return any(row["check_id"] == "AUDIT" for row in csv.DictReader(io.StringIO(text)))
    if fmt == "markdown":
        return "**Audit error:**" in text
    return "audit error:" in text


@pytest.fixture
def stub(tls_endpoint: Endpoint, tmp_path: Path) -> Iterator[Any]:
    """``stub(answer)`` starts a stub in front of the endpoint; stopped after the test."""
    started: list[StubEndpoint] = []

    def start(answer: Any) -> StubEndpoint:
        server = StubEndpoint(
            tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path / f"stub{len(started)}", answer
        )
        started.append(server.__enter__())
        return server

    try:
        yield start
    finally:
        for server in started:
            server.__exit__(None, None, None)


# --- connection and credential failures ------------------------------------------------------


def test_unreachable_endpoint_exits_four_in_every_format(tls_endpoint: Endpoint) -> None:
    conn = _connection(tls_endpoint, f"https://127.0.0.1:{CLOSED_PORT}")
    for fmt in FORMATS:
        code, out = invoke(conn, "some-bucket", "--format", fmt)
        assert code == 4, fmt
        assert _errors_listed(fmt, out), fmt
    doc = json.loads(invoke(conn, "some-bucket", "--format", "json")[1])
    assert any("EndpointConnectionError" in e for e in doc["errors"])


def test_all_buckets_unreachable_still_reports_in_every_format(tls_endpoint: Endpoint) -> None:
    """--all-buckets cannot even list: the report (with the error) is still written."""
    conn = _connection(tls_endpoint, f"https://127.0.0.1:{CLOSED_PORT}")
    for fmt in FORMATS:
        code, out = invoke(conn, "--all-buckets", "--format", fmt)
        assert code == 4, fmt
        assert _errors_listed(fmt, out), fmt
    doc = json.loads(invoke(conn, "--all-buckets", "--format", "json")[1])
    assert any("ListBuckets" in e for e in doc["errors"])


def test_exit_four_wins_over_fail_on_and_framework(tls_endpoint: Endpoint) -> None:
    conn = _connection(tls_endpoint, f"https://127.0.0.1:{CLOSED_PORT}")
    for framework in ("cis-aws-foundations", "aws-fsbp"):
        code, _ = invoke(conn, "some-bucket", "--framework", framework, "--fail-on", "critical")
        assert code == 4, framework


def test_invalid_credentials_are_an_audit_error(tls_endpoint: Endpoint, stub: Any) -> None:
    def reject(request: StubRequest) -> Canned:
        if request.target:
            body = b'{"__type": "UnrecognizedClientException", "message": "bad token"}'
            return Canned(400, body, {"Content-Type": "application/x-amz-json-1.1"})
        return Canned(
            403,
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId</Code>"
            b"<Message>The AWS Access Key Id you provided does not exist.</Message></Error>",
            {"Content-Type": "application/xml"},
        )

    server = stub(reject)
    conn = _connection(tls_endpoint, server.url)
    code, out = invoke(conn, "some-bucket", "--format", "sarif", "--fail-on", "critical")
    assert code == 4
    invocation = json.loads(out)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert any(
        "InvalidAccessKeyId" in n["message"]["text"]
        for n in invocation["toolExecutionNotifications"]
    )


def test_missing_credentials_are_an_audit_error(
    tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.Session(region_name="us-east-1")
    assert session.get_credentials() is None
    conn = _connection(tls_endpoint, tls_endpoint.url, session=session)
    code, out = invoke(conn, "some-bucket", "--format", "json", "--fail-on", "critical")
    assert code == 4
    assert any("NoCredentialsError" in e for e in json.loads(out)["errors"])


def test_bucket_whose_every_call_failed_is_an_audit_error(
    tls_endpoint: Endpoint, connection: Connection, stub: Any
) -> None:
    name = unique_bucket_name("audit-denied")
    connection.client("s3").create_bucket(Bucket=name)

    def deny_bucket(request: StubRequest) -> Canned | None:
        if request.path.strip("/").split("/")[0] != name:
            return None
        return Canned(
            403,
            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            {"Content-Type": "application/xml"},
        )

    server = stub(deny_bucket)
    conn = _connection(tls_endpoint, server.url)
    code, out = invoke(conn, name, "--format", "json", "--fail-on", "critical")
    assert code == 4
    assert json.loads(out)["errors"] == [
        f"bucket {name}: every API call failed (GetBucketLocation failed with AccessDenied: "
        "Access Denied)"
    ]


# --- malformed answers -------------------------------------------------------------------------


def test_empty_403_on_get_bucket_location_is_a_recorded_error(
    tls_endpoint: Endpoint, connection: Connection, stub: Any
) -> None:
    name = unique_bucket_name("audit-empty403")
    connection.client("s3").create_bucket(Bucket=name)

    def empty_403(request: StubRequest) -> Canned | None:
        return Canned(403) if "location" in request.query else None

    server = stub(empty_403)
    conn = _connection(tls_endpoint, server.url)
    collection = Collector(_LocalS3Control(conn)).collect([name])
    (snapshot,) = collection.snapshots
    assert snapshot.region.error is not None
    assert snapshot.region.error.operation == "GetBucketLocation"
    assert snapshot.encryption.is_ok  # the other calls still ran
    code, out = invoke(conn, name, "--format", "json")
    assert code == 1  # findings on a fresh bucket; not 5 (a crash)
    assert json.loads(out)["errors"] == []


def test_describe_key_without_arn_does_not_hang(
    tls_endpoint: Endpoint, connection: Connection, kms_key: str, stub: Any
) -> None:
    """Buckets sharing one key wait for one DescribeKey; a malformed answer reaches all."""
    s3 = connection.client("s3")
    names = [unique_bucket_name("audit-noarn") for _ in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": kms_key,
                        }
                    }
                ]
            },
        )

    def no_arn(request: StubRequest) -> Canned | None:
        if request.target.endswith(".DescribeKey"):
            body = json.dumps({"KeyMetadata": {"KeyId": kms_key.rsplit("/", 1)[1]}}).encode()
            return Canned(200, body, {"Content-Type": "application/x-amz-json-1.1"})
        return None

    server = stub(no_arn)
    conn = _connection(tls_endpoint, server.url)
    collection = Collector(_LocalS3Control(conn), max_workers=3, wait_timeout=30).collect(names)
    assert len(collection.snapshots) == 3
    report = run_checks(collection.snapshots, registry=Registry.builtin())
    kms = [r for r in report.results if r.check_id in ("KMS.1", "KMS.2")]
    assert len(kms) == 6
    assert all(r.status is Status.ERROR and "KeyMetadata.Arn" in r.message for r in kms)
    describes = [r for r in server.requests if r.target.endswith(".DescribeKey")]
    assert len(describes) == 1  # shared, and completed for every waiter


def test_describing_thread_failure_reaches_every_waiter() -> None:
    """A future is completed with the exception when describing raises (no hang)."""

    class Exploding:
        def client(self, service_name: str, region_name: str | None = None) -> Any:
            raise RuntimeError("factory broke")

    collector = Collector(Exploding(), wait_timeout=5)
    got = collector.key("alias/x", "us-east-1")
    assert got.error is not None and got.error.code == "RuntimeError"
    again = collector.key("alias/x", "us-east-1")  # the cached future was completed
    assert again.error is not None and again.error.code == "RuntimeError"

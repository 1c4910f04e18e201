"""Which KMS key is which: --kms-key-id vs --sse-kms-key-id; audit errors say ``error:``."""

from __future__ import annotations

import json

import pytest

from securestore import Connection
from tests.support.cli import Run


def keys_in(connection: Connection, bucket: str) -> list[str]:
    listed = connection.client("s3").list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.mark.parametrize("sse", ["kms", "dsse-kms", "sse-kms"])
def test_client_side_kms_layer_needs_an_explicit_key(
    run: Run, connection: Connection, bucket: str, kms_key: str, sse: str
) -> None:
    """Before, the SSE layer silently used the AWS-managed key, not the --kms-key-id given."""
    url = f"s3://{bucket}/k"
    result = run(
        "put", "-", url, "--client-side", "--kms-key-id", kms_key, "--sse", sse, input=b"x"
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: --sse {sse} with --client-side needs --sse-kms-key-id")
    assert lines[1].startswith("hint: add --sse-kms-key-id")
    assert keys_in(connection, bucket) == []


def test_sse_kms_key_id_sets_the_server_side_layer(run: Run, bucket: str, kms_key: str) -> None:
    url = f"s3://{bucket}/both"
    put = run(
        "put", "-", url, "--client-side", "--kms-key-id", kms_key, "--sse", "kms",
        "--sse-kms-key-id", kms_key, input=b"data",
    )  # fmt: skip
    assert put.exit_code == 0, put.stderr
    head = json.loads(run("head", url, "--json").stdout)
    assert head["encryption"]["mode"] == "sse-kms"
    assert head["encryption"]["kms_key_id"] == kms_key
    assert run("get", url, "--kms-key-id", kms_key).stdout_bytes == b"data"


def test_aws_managed_key_for_the_layer_is_said_explicitly(
    run: Run, bucket: str, kms_key: str
) -> None:
    url = f"s3://{bucket}/managed"
    put = run(
        "put", "-", url, "--client-side", "--kms-key-id", kms_key, "--sse", "kms",
        "--sse-kms-key-id", "alias/aws/s3", input=b"data",
    )  # fmt: skip
    assert put.exit_code == 0, put.stderr
    assert json.loads(run("head", url, "--json").stdout)["encryption"]["mode"] == "sse-kms"


def test_client_side_with_a_key_file_and_sse_kms_keeps_the_default_layer_key(
    run: Run, bucket: str, tmp_path: object
) -> None:
    """No KMS wrapping key, so nothing to confuse: --sse kms alone stays allowed."""
    from pathlib import Path

    key = Path(str(tmp_path)) / "k.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    put = run("put", "-", f"s3://{bucket}/f", "--key-file", str(key), "--sse", "kms", input=b"d")
    assert put.exit_code == 0, put.stderr


def test_sse_kms_key_id_without_a_kms_layer_is_refused(run: Run, bucket: str) -> None:
    result = run(
        "put", "-", f"s3://{bucket}/x", "--client-side", "--sse-kms-key-id", "k", input=b"x"
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --sse-kms-key-id needs --sse kms")


def test_help_says_what_each_kms_key_id_means(run: Run) -> None:
    put = " ".join(run("put", "--help").stdout.split())
    assert "With --client-side: a key that wraps the message's data key" in put
    assert "never the SSE layer's key (that is --sse-kms-key-id)" in put
    get = " ".join(run("get", "--help").stdout.split())
    assert "unwrap a client-side object's data key" in get
    assert "the server-side key the object must be stored with" in get


def test_audit_that_cannot_run_prints_an_error_line(run: Run) -> None:
    result = run("audit", "some-bucket", AWS_ENDPOINT_URL="https://127.0.0.1:9")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: the audit could not run completely: ")
    assert "audit error:" not in result.stderr
    assert result.stderr.splitlines()[1].startswith("hint: ")

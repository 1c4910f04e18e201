"""An SSE-KMS key named by alias, for an identity without kms:DescribeKey.

S3 reports the key ARN of what it stored; without DescribeKey that ARN cannot be
told to be the alias's key, so the write is refused (fail closed), and the hint must
name the cause: the alias and kms:DescribeKey. The endpoint is made to answer as AWS
does: KMS refuses DescribeKey (AccessDeniedException) and S3 reports the key ARN
(moto echoes the alias as given, which would hide the case).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from securestore import Connection
from securestore.modes import SseKms, StoredEncryption, unconfirmed_alias
from securestore.transport import Connection as TransportConnection
from tests.support.cli import Run, stderr_lines

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALIAS_ARN = "arn:aws:kms:us-east-1:111122223333:alias/team"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _deny_describe_key(request: Any, **_: Any) -> AWSResponse | None:
    if not request.headers.get("X-Amz-Target", b"").endswith(b".DescribeKey"):
        return None
    body = json.dumps({"__type": "AccessDeniedException", "message": "not authorized"})
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(request.url, 400, headers, _Body(body.encode()))


@pytest.fixture
def alias_arn(connection: Connection, kms_key: str) -> str:
    name = f"alias/denied-{uuid.uuid4().hex[:12]}"
    connection.client("kms").create_alias(AliasName=name, TargetKeyId=kms_key)
    return kms_key.split(":key/")[0] + ":" + name


@pytest.fixture
def as_aws(
    monkeypatch: pytest.MonkeyPatch, connection: Connection, kms_key: str, alias_arn: str
) -> list[bool]:
    """The CLI's clients: DescribeKey denied, S3 reporting key ARNs (the tests' own untouched)."""
    alias_name = alias_arn.split(":", 5)[5]
    ignored_sse: list[bool] = []  # append True: the server ignores the SSE-KMS request

    def key_arn(parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("SSEKMSKeyId") in (alias_arn, alias_name):
            parsed["SSEKMSKeyId"] = kms_key
            if ignored_sse:  # a server that stored SSE-S3 whatever was asked
                parsed["ServerSideEncryption"] = "AES256"
                del parsed["SSEKMSKeyId"]

    original = TransportConnection.client

    def client(self: TransportConnection, service: str, region_name: str | None = None) -> Any:
        made = original(self, service, region_name)
        if self is not connection and not getattr(made, "_as_aws", False):
            made._as_aws = True
            made.meta.events.register("before-send.kms", _deny_describe_key)
            made.meta.events.register("after-call.s3", key_arn)
        return made

    monkeypatch.setattr(TransportConnection, "client", client)
    return ignored_sse


def _check_refusal(run: Run, *args: str, alias: str) -> None:
    result = run(*args)
    assert result.exit_code == 3, result.output  # refused: the key is not confirmed
    [error] = stderr_lines(result, "error:")
    assert "cannot confirm" in error and alias in error, error
    [hint] = stderr_lines(result, "hint:")
    assert "kms:DescribeKey" in hint and alias in hint, hint


@pytest.mark.usefixtures("as_aws")
def test_kms_key_id_alias_names_describe_key(
    run: Run, connection: Connection, bucket: str, alias_arn: str, tmp_path: Path
) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    alias_name = alias_arn.split(":", 5)[5]
    url = f"s3://{bucket}/a.txt"
    _check_refusal(
        run, "put", str(source), url, "--sse", "kms", "--kms-key-id", alias_name, alias=alias_name
    )
    assert connection.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


@pytest.mark.usefixtures("as_aws")
def test_bucket_default_alias_names_describe_key(
    run: Run, connection: Connection, bucket: str, alias_arn: str, tmp_path: Path
) -> None:
    connection.client("s3").put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": alias_arn,
                    }
                }
            ]
        },
    )
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    _check_refusal(run, "put", str(source), f"s3://{bucket}/a.txt", alias=alias_arn)
    assert connection.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_another_mode_stored_keeps_its_own_hint(
    run: Run, as_aws: list[bool], alias_arn: str, bucket: str, tmp_path: Path
) -> None:
    """Only a key the alias cannot be matched to is blamed on kms:DescribeKey."""
    as_aws.append(True)
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    alias_name = alias_arn.split(":", 5)[5]
    result = run(
        "put", str(source), f"s3://{bucket}/a.txt", "--sse", "kms", "--kms-key-id", alias_name
    )
    assert result.exit_code == 3, result.output
    [error] = stderr_lines(result, "error:")
    assert "S3 did not store the object as requested" in error, error
    assert "DescribeKey" not in result.stderr


@pytest.mark.parametrize(
    ("key_id", "stored", "resolved", "expected"),
    [
        ("alias/team", StoredEncryption("aws:kms", ARN), None, "alias/team"),
        (ALIAS_ARN, StoredEncryption("aws:kms", ARN), None, ALIAS_ARN),
        ("alias/team", StoredEncryption("aws:kms", ARN), ARN, None),  # resolved: not this case
        ("alias/team", StoredEncryption("AES256"), None, None),  # the algorithm differs
        (ARN, StoredEncryption("aws:kms", ARN), None, None),  # not an alias
        ("1234abcd", StoredEncryption("aws:kms", ARN), None, None),
    ],
)
def test_unconfirmed_alias(
    key_id: str, stored: StoredEncryption, resolved: str | None, expected: str | None
) -> None:
    assert unconfirmed_alias(SseKms(key_id), stored, resolved) == expected

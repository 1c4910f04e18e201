"""An upload without --sse asks for the bucket's default encryption, explicitly.

S3 applies a bucket's default only to requests that ask for no encryption; an
upload that named SSE-S3 (as securestore did) overrode a default of SSE-KMS,
which a bucket hardened to SSE-KMS (``harden --sse kms``) is there to prevent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.account import default_encryption
from securestore.errors import StorageError
from securestore.modes import BucketDefault, DsseKms, SseKms, SseS3, StoredEncryption
from tests.conftest import Endpoint
from tests.reliability.conftest import ProxyFactory, make_proxy  # noqa: F401 - a fixture
from tests.support.cli import Run


def _set_default(connection: Connection, bucket: str, rule: dict[str, Any]) -> None:
    connection.client("s3").put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
    )


def _kms_rule(key: str, algorithm: str = "aws:kms", bucket_key: bool = True) -> dict[str, Any]:
    return {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm, "KMSMasterKeyID": key},
        "BucketKeyEnabled": bucket_key,
    }


def _stored(connection: Connection, bucket: str, key: str) -> tuple[str, str | None]:
    head = connection.client("s3").head_object(Bucket=bucket, Key=key)
    return head["ServerSideEncryption"], head.get("SSEKMSKeyId")


def test_put_without_sse_keeps_a_kms_default(
    run: Run, connection: Connection, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    """Old code: AES256 (the explicit SSE-S3 header overrode the default)."""
    _set_default(connection, bucket, _kms_rule(kms_key))
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    result = run("put", str(source), f"s3://{bucket}/a.txt")
    assert result.exit_code == 0, result.output
    algorithm, key = _stored(connection, bucket, "a.txt")
    assert algorithm == "aws:kms" and key is not None and key.endswith(kms_key.split("/")[-1])


def test_an_explicit_sse_still_wins(
    run: Run, connection: Connection, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    _set_default(connection, bucket, _kms_rule(kms_key))
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    assert run("put", str(source), f"s3://{bucket}/a.txt", "--sse", "s3").exit_code == 0
    assert _stored(connection, bucket, "a.txt") == ("AES256", None)


def test_a_tree_upload_keeps_the_default(
    run: Run, connection: Connection, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    _set_default(connection, bucket, _kms_rule(kms_key))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_bytes(b"x")
    (tmp_path / "t" / "y").write_bytes(b"y")
    result = run("sync", str(tmp_path / "t"), f"s3://{bucket}/t/")
    assert result.exit_code == 0, result.output
    for key in ("t/x", "t/y"):
        assert _stored(connection, bucket, key)[0] == "aws:kms"


def test_default_encryption_reads_each_kind(
    connection: Connection, bucket: str, kms_key: str
) -> None:
    assert default_encryption(connection, bucket) == SseS3()  # moto: no configuration
    _set_default(
        connection, bucket, {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    )
    assert default_encryption(connection, bucket) == SseS3()
    _set_default(connection, bucket, _kms_rule(kms_key, bucket_key=False))
    assert default_encryption(connection, bucket) == SseKms(kms_key, bucket_key=False)
    _set_default(connection, bucket, _kms_rule(kms_key))
    assert default_encryption(connection, bucket) == SseKms(kms_key, bucket_key=True)
    assert default_encryption(connection, bucket, bucket_key=False) == SseKms(
        kms_key, bucket_key=False
    )
    _set_default(connection, bucket, _kms_rule(kms_key, "aws:kms:dsse"))
    assert default_encryption(connection, bucket) == DsseKms(kms_key)


def test_a_default_that_cannot_be_read(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket: str,
    kms_key: str,
    make_proxy: ProxyFactory,  # noqa: F811 - the fixture imported above
) -> None:
    """Denied: no header (the default applies, whatever it is); not implemented (an
    S3-compatible server): SSE-S3, what an upload got before."""
    from tests.support.proxy import ErrorResponse, Rule

    _set_default(connection, bucket, _kms_rule(kms_key))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(ErrorResponse(403, "AccessDenied", "no"), method="GET", query="encryption"))
    proxy.add(Rule(ErrorResponse(501, "NotImplemented", "no"), method="GET", query="encryption"))
    through = dataclasses.replace(tls_endpoint, url=proxy.url).connection(max_attempts=1)
    assert default_encryption(through, bucket) == BucketDefault()
    assert default_encryption(through, bucket) == SseS3()


def test_the_bucket_default_mode_refuses_an_unencrypted_write() -> None:
    """A server that stores the object without encryption fails the check."""
    assert BucketDefault().request_params() == {}
    assert BucketDefault().check_write(StoredEncryption(None)) is not None
    assert BucketDefault().check_write(StoredEncryption("rot13")) is not None
    for algorithm in ("AES256", "aws:kms", "aws:kms:dsse"):
        assert BucketDefault().check_write(StoredEncryption(algorithm)) is None


def test_a_dry_run_put_asks_nothing(
    run: Run, connection: Connection, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import securestore.account

    asked: list[str] = []
    monkeypatch.setattr(
        securestore.account, "default_encryption", lambda *a, **k: asked.append("x")
    )
    source = tmp_path / "a.txt"
    source.write_bytes(b"x")
    result = run("put", str(source), f"s3://{bucket}/a.txt", "--dryrun")
    assert result.exit_code == 0, result.output
    assert asked == []


def test_an_endpoint_that_does_not_answer_is_an_error(tls_endpoint: Endpoint, bucket: str) -> None:
    """Not a silent SSE-S3: the upload would not get through either."""
    import socket

    from securestore.errors import EndpointUnreachableError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = dataclasses.replace(tls_endpoint, url=f"https://127.0.0.1:{port}")
    with pytest.raises(EndpointUnreachableError):
        default_encryption(gone.connection(max_attempts=1), bucket)


def test_a_put_whose_default_is_unreadable_keeps_a_kms_default(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket: str,
    kms_key: str,
    tmp_path: Path,
    make_proxy: ProxyFactory,  # noqa: F811 - the fixture imported above
) -> None:
    """A role without s3:GetEncryptionConfiguration (what ``iam-policy`` grants) sends no
    encryption header, so the bucket's SSE-KMS default applies: an explicit SSE-S3
    (the old fallback) overrode it, silently."""
    from tests.support.cli import cli_runner
    from tests.support.proxy import ErrorResponse, Rule

    _set_default(connection, bucket, _kms_rule(kms_key))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(
        Rule(ErrorResponse(403, "AccessDenied", "no"), method="GET", query="encryption", times=None)
    )
    run = cli_runner(tls_endpoint, AWS_ENDPOINT_URL=proxy.url)
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    result = run("put", str(source), f"s3://{bucket}/a.txt")
    assert result.exit_code == 0, result.output
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_bytes(b"x" * 10)
    result = run("cp", "--recursive", str(tmp_path / "t"), f"s3://{bucket}/t/")
    assert result.exit_code == 0, result.output
    result = run("cp", f"s3://{bucket}/a.txt", f"s3://{bucket}/copy.txt")
    assert result.exit_code == 0, result.output
    for key in ("a.txt", "t/x", "copy.txt"):
        algorithm, stored_key = _stored(connection, bucket, key)
        assert algorithm == "aws:kms", key
        assert stored_key is not None and stored_key.endswith(kms_key.split("/")[-1])


def test_a_context_keeps_the_default_key_and_algorithm(
    run: Run, connection: Connection, bucket: str, kms_key: str, tmp_path: Path
) -> None:
    """--context alone asked for SSE-KMS with the AWS-managed key (aws:kms without a key
    id): a DSSE-KMS default became single-layer SSE-KMS, a KMS default lost its key."""
    pairs = {"team": "x"}
    assert default_encryption(connection, bucket, context=pairs) == SseKms(None, context=pairs)
    _set_default(connection, bucket, _kms_rule(kms_key))
    assert default_encryption(connection, bucket, context=pairs) == SseKms(kms_key, context=pairs)
    _set_default(connection, bucket, _kms_rule(kms_key, "aws:kms:dsse"))
    assert default_encryption(connection, bucket, context=pairs) == DsseKms(kms_key, context=pairs)
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    result = run("put", str(source), f"s3://{bucket}/a.txt", "--context", "team=x")
    assert result.exit_code == 0, result.output
    assert _stored(connection, bucket, "a.txt")[0] == "aws:kms:dsse"


def test_a_server_fault_reading_the_default_is_an_error(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket: str,
    kms_key: str,
    tmp_path: Path,
    make_proxy: ProxyFactory,  # noqa: F811 - the fixture imported above
) -> None:
    """Old code: a 500 (retries spent) was taken for "no default": SSE-S3 named explicitly,
    over the bucket's SSE-KMS default. Now the put fails (exit 4), nothing written."""
    from tests.support.cli import cli_runner
    from tests.support.proxy import ErrorResponse, Rule

    _set_default(connection, bucket, _kms_rule(kms_key))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    fault = ErrorResponse(500, "InternalError", "We encountered an internal error.")
    proxy.add(Rule(fault, method="GET", query="encryption", times=None))
    through = dataclasses.replace(tls_endpoint, url=proxy.url).connection(max_attempts=1)
    with pytest.raises(StorageError):
        default_encryption(through, bucket)
    run = cli_runner(tls_endpoint, AWS_ENDPOINT_URL=proxy.url, AWS_MAX_ATTEMPTS="1")
    source = tmp_path / "a.txt"
    source.write_bytes(b"secret")
    result = run("put", str(source), f"s3://{bucket}/a.txt")
    assert result.exit_code == 4, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.output
    assert connection.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0

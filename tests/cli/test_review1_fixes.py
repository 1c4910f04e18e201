"""Fixes from the reliability review of stop 19 (review 1), CLI side."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore import Connection, SecureStore, SecureStoreError, TransferConfig, create_bucket
from securestore.aborting import abort_upload
from tests.conftest import Endpoint
from tests.reliability.conftest import ProxyFactory, make_proxy  # noqa: F401 - a fixture
from tests.support.cli import Run
from tests.support.proxy import Rule, Stall
from tests.support.rclone import RcloneServer, find_rclone


def test_a_failed_abort_is_an_escaped_warning_line(
    run: Run, connection: Connection, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("ls", f"s3://{bucket}/").exit_code in (0, 1)  # the CLI's logging is set up
    capsys.readouterr()
    # An upload id the server does not know: the abort fails, as on a lost connection.
    abort_upload(
        connection.client("s3"), bucket, "esc\x1b[31mRED", "no-such-upload", interrupted=False
    )
    err = capsys.readouterr().err
    assert err.startswith("warning: could not abort multipart upload no-such-upload"), err
    assert "esc\\x1b[31mRED" in err and "\x1b" not in err
    assert err.count("\n") == 1


def test_a_stalled_endpoint_is_named_with_its_read_timeout(
    tls_endpoint: Endpoint,
    bucket: str,
    make_proxy: ProxyFactory,  # noqa: F811 - the fixture imported above
) -> None:
    store = SecureStore(bucket, connection=tls_endpoint.connection())
    store.put("stalled.bin", b"x" * 4096)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(5), method="PUT", times=None))
    proxy.add(Rule(Stall(5, after=100), method="GET", times=None))
    through = SecureStore(
        bucket,
        connection=dataclasses.replace(tls_endpoint, url=proxy.url).connection(
            max_attempts=1, read_timeout=1
        ),
        transfer=TransferConfig(read_retries=0),
    )
    with pytest.raises(SecureStoreError) as upload:
        through.put("new.bin", b"data")
    stalled = "the endpoint stopped answering within the read timeout (1 s per attempt, retried)"
    assert stalled in str(upload.value)
    assert "ReadTimeoutError" not in str(upload.value)
    with pytest.raises(SecureStoreError) as download:
        through.get("stalled.bin")
    assert "stopped answering within the read timeout" in str(download.value)
    assert "ReadTimeoutError" not in str(download.value)


def test_uploads_of_a_bucket_rclone_answers_no_such_upload_for_are_none(tmp_path: Path) -> None:
    # rclone serve s3 answers ListMultipartUploads of a bucket that never had an upload
    # NoSuchUpload: there is nothing to list. A missing bucket is still an error.
    if find_rclone() is None:
        pytest.skip("rclone is not installed")
    with RcloneServer(tmp_path) as endpoint:
        create_bucket(endpoint.connection(), "bucket-level")
        env = {
            "AWS_ENDPOINT_URL": endpoint.url,
            "AWS_CA_BUNDLE": endpoint.ca_bundle,
            "AWS_ACCESS_KEY_ID": endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
            "AWS_REGION": endpoint.region,
        }

        def run(*args: str) -> Result:
            return CliRunner().invoke(main_group, list(args), env=env)

        for args in (("ls",), ("abort",), ("ls", "--json")):
            result = run("uploads", *args, "s3://bucket-level/")
            assert (result.exit_code, result.stderr) == (0, ""), result.output
            assert result.stdout in ("", "[]\n", "[\n]\n")
        assert json.loads(run("uploads", "ls", "s3://bucket-level/", "--json").stdout) == []
        for args in (("ls",), ("abort",)):
            missing = run("uploads", *args, "s3://no-such-bucket-rclone/")
            assert missing.exit_code == 4, missing.output
            assert "bucket does not exist" in missing.stderr


def test_ls_of_a_prefix_that_matched_nothing_exits_1_as_aws_cli(
    run: Run, connection: Connection, bucket: str
) -> None:
    empty_root = run("ls", f"s3://{bucket}/")  # an empty bucket: success, as aws-cli
    assert (empty_root.exit_code, empty_root.stdout) == (0, ""), empty_root.output
    connection.client("s3").put_object(Bucket=bucket, Key="there/a.txt", Body=b"a")
    for args in (("ls", f"s3://{bucket}/missing/"), ("ls", f"s3://{bucket}/miss", "--recursive")):
        result = run(*args)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", ""), result.output
    as_json = run("ls", f"s3://{bucket}/missing/", "--json")  # the empty array says it
    assert (as_json.exit_code, as_json.stdout) == (0, "[\n]\n")
    found = run("ls", f"s3://{bucket}/there/")
    assert found.exit_code == 0 and "a.txt" in found.stdout
    assert run("ls", f"s3://{bucket}/").exit_code == 0


def test_head_labels_the_client_side_marker_as_unverified_metadata(
    run: Run, connection: Connection, bucket: str
) -> None:
    # Anyone who can write the object can set these: head must not present them as facts.
    metadata = {"securestore-format": "aws-esdk-v2", "securestore-plaintext-length": "3"}
    connection.client("s3").put_object(Bucket=bucket, Key="m", Body=b"abc", Metadata=metadata)
    result = run("head", f"s3://{bucket}/m")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("client-side:"))
    assert "securestore-plaintext-length=3" in line and "not verified" in line

"""The object commands through click's runner against the TLS endpoint: output and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import Result

from securestore import Connection, SecureStore, SseS3
from tests.conftest import unique_bucket_name

PART = 5 * 1024 * 1024


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]


def test_put_get_round_trip_each_mode(run, bucket: str, kms_key: str, tmp_path: Path) -> None:
    data = os.urandom(PART + 17)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    for sse, extra in (
        ("s3", []),
        ("kms", ["--kms-key-id", kms_key]),
        ("dsse-kms", ["--kms-key-id", kms_key]),
    ):
        url = f"s3://{bucket}/{sse}/obj"
        put = run("put", str(src), url, "--sse", sse, *extra)
        assert put.exit_code == 0, put.stderr
        assert sse in put.stderr
        dest = tmp_path / f"out-{sse}"
        got = run("get", url, str(dest), "--require", sse)
        assert got.exit_code == 0, got.stderr
        assert dest.read_bytes() == data
        head = run("head", url, "--json")
        assert head.exit_code == 0
        described = json.loads(head.stdout)
        assert described["size"] == len(data)
        assert (
            described["encryption"]["mode"]
            == {"s3": "sse-s3", "kms": "sse-kms", "dsse-kms": "dsse-kms"}[sse]
        )


def test_stdin_to_stdout(run, bucket: str) -> None:
    data = os.urandom(PART * 2 + 3)
    put = run("put", "-", f"s3://{bucket}/piped", input=data)
    assert put.exit_code == 0, put.stderr
    got = run("get", f"s3://{bucket}/piped")
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == data
    dash = run("get", f"s3://{bucket}/piped", "-")
    assert dash.stdout_bytes == data


def test_empty_stdin_does_not_replace_an_existing_object(run, bucket: str) -> None:
    """A producer that failed (`pg_dump db | securestore put - ...`) looks like empty stdin."""
    url = f"s3://{bucket}/dump"
    empty_new = run("put", "-", f"s3://{bucket}/new-empty", input=b"")
    assert empty_new.exit_code == 0, empty_new.stderr  # nothing to lose: allowed
    assert run("put", "-", url, input=b"precious").exit_code == 0
    refused = run("put", "-", url, input=b"")
    assert refused.exit_code == 2
    assert "refusing to replace" in refused.stderr
    assert run("get", url).stdout_bytes == b"precious"
    allowed = run("put", "-", url, "--allow-empty", input=b"")
    assert allowed.exit_code == 0, allowed.stderr
    assert run("get", url).stdout_bytes == b""
    one = run("put", "-", url, input=b"x")  # the peeked byte is put back
    assert one.exit_code == 0, one.stderr
    assert run("get", url).stdout_bytes == b"x"


def test_mode_names_are_the_same_everywhere(run, bucket: str) -> None:
    url = f"s3://{bucket}/names"
    for name in ("s3", "sse-s3", "SSE-S3"):
        assert run("put", "-", url, "--sse", name, input=b"x").exit_code == 0
    for name in ("s3", "sse-s3"):
        got = run("get", url, "--require", name)
        assert got.exit_code == 0, got.stderr
    refused = run("get", url, "--require", "sse-kms")
    assert refused.exit_code == 3, refused.stderr
    for name in ("s3", "sse-s3", "sse-kms", "kms"):
        audited = run("audit", bucket, "--require", name, "--format", "json")
        assert audited.exit_code in (0, 1), audited.stderr


def test_quiet_prints_nothing_on_success(run, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    result = run("--quiet", "put", str(src), f"s3://{bucket}/q")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


def test_kms_context_and_no_bucket_key(run, bucket: str, kms_key: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    result = run(
        "put",
        str(src),
        f"s3://{bucket}/ctx",
        "--kms-key-id",
        kms_key,
        "--context",
        "team=payments",
        "--context",
        "env=test",
        "--no-bucket-key",
    )
    assert result.exit_code == 0, result.stderr
    head = json.loads(run("head", f"s3://{bucket}/ctx", "--json").stdout)
    assert head["encryption"]["mode"] == "sse-kms"
    assert head["encryption"]["bucket_key_enabled"] in (False, None)


def test_ls_and_rm(run, bucket: str) -> None:
    for name in ("a/1", "a/2", "b/3"):
        assert run("put", "-", f"s3://{bucket}/{name}", input=b"data").exit_code == 0
    listing = run("ls", f"s3://{bucket}/a/")
    assert listing.exit_code == 0
    keys = [line.split()[-1] for line in listing.stdout.splitlines()]
    assert keys == ["1", "2"]  # names within a/, as aws s3 ls prints them
    as_json = json.loads(run("ls", f"s3://{bucket}", "--json", "--recursive").stdout)
    assert [item["key"] for item in as_json] == ["a/1", "a/2", "b/3"]
    assert all(item["size"] == 4 for item in as_json)
    empty = json.loads(run("ls", f"s3://{bucket}/zzz", "--json").stdout)
    assert empty == []
    assert run("rm", f"s3://{bucket}/a/1").exit_code == 0
    listed = run("ls", f"s3://{bucket}", "--recursive").stdout.splitlines()
    keys = [line.split()[-1] for line in listed]
    assert keys == ["a/2", "b/3"]
    buckets = run("ls")
    assert bucket in buckets.stdout


def test_mb_creates_and_refuses_duplicates(run) -> None:
    name = unique_bucket_name("mb")
    assert run("mb", f"s3://{name}").exit_code == 0
    again = run("mb", f"s3://{name}")
    assert again.exit_code == 4
    assert error_lines(again)[0].startswith("error: bucket already exists")


def test_require_refuses_other_mode_and_leaves_no_file(run, bucket: str, tmp_path: Path) -> None:
    assert run("put", "-", f"s3://{bucket}/plain", input=b"secret").exit_code == 0
    dest = tmp_path / "out"
    result = run("get", f"s3://{bucket}/plain", str(dest), "--require", "kms")
    assert result.exit_code == 3
    assert error_lines(result) == [
        f"error: refusing to read: the object is stored as sse-s3, not sse-kms (s3://{bucket}/plain)"
    ]
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []
    to_stdout = run("get", f"s3://{bucket}/plain", "--require", "dsse-kms")
    assert to_stdout.exit_code == 3
    assert to_stdout.stdout_bytes == b""


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["put", "-", "s3:/bucket/key"], 2, "error: not an s3:// URL: 's3:/bucket/key'"),
        (["put", "-", "s3://bucket"], 2, "error: no object key in 's3://bucket'"),
        (["get", "s3://Bad_Bucket/key"], 2, "error: invalid bucket name 'Bad_Bucket'"),
        (["get", "s3://ab/key"], 2, "error: invalid bucket name 'ab': must be 3 to 63"),
        (["get", "s3://192.168.1.1/key"], 2, "error: invalid bucket name '192.168.1.1'"),
        (
            ["put", "/nonexistent/file", "s3://bucket-x/key"],
            2,
            "error: no such file: /nonexistent/file",
        ),
        (
            ["put", "-", "s3://bucket-x/key", "--sse", "s3", "--kms-key-id", "k"],
            2,
            "error: a KMS key id or context only applies to kms and dsse-kms",
        ),
        (
            ["put", "-", "s3://bucket-x/key", "--context", "novalue"],
            2,
            "error: invalid context 'novalue': expected KEY=VALUE",
        ),
        (["put", "-", "s3://bucket-x/key", "--sse", "aes"], 2, "error: Invalid value for '--sse'"),
        (["get"], 2, "error: Missing argument"),
        (["frobnicate"], 2, "error: No such command 'frobnicate'"),
        (
            ["put", "-", "s3://bucket-x/key", "--kms-key-id", "a", "--kms-key-id", "b"],
            2,
            "error: several --kms-key-id need --client-side",
        ),
    ],
)
def test_bad_input(run, args: list[str], code: int, error: str) -> None:
    result = run(*args, input=b"")
    assert result.exit_code == code, result.stderr
    lines = error_lines(result)
    assert lines and lines[0].startswith(error), lines
    assert "Traceback" not in result.stderr + result.stdout
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_missing_bucket_and_key(run, bucket: str, tmp_path: Path) -> None:
    missing_key = run("get", f"s3://{bucket}/nope", str(tmp_path / "x"))
    assert missing_key.exit_code == 4
    assert error_lines(missing_key)[0] == f"error: read failed: no such object (s3://{bucket}/nope)"
    assert error_lines(missing_key)[1].startswith("hint: check the bucket, key and region")
    assert list(tmp_path.iterdir()) == []
    missing_bucket = run("get", f"s3://{unique_bucket_name('gone')}/key")
    assert missing_bucket.exit_code == 4
    assert "bucket does not exist" in error_lines(missing_bucket)[0]
    head = run("head", f"s3://{bucket}/nope")
    assert head.exit_code == 4


def test_unknown_kms_key_writes_nothing(run, bucket: str, tmp_path: Path) -> None:
    result = run("put", "-", f"s3://{bucket}/k", "--kms-key-id", "alias/does-not-exist", input=b"x")
    assert result.exit_code == 4
    assert error_lines(result)[0].startswith("error: KMS key alias/does-not-exist is not usable")
    assert run("ls", f"s3://{bucket}").stdout == ""


def test_http_endpoint_is_refused(run, bucket: str) -> None:
    result = run("--endpoint-url", "http://127.0.0.1:9", "ls", f"s3://{bucket}")
    assert result.exit_code == 4
    assert error_lines(result)[0].startswith("error: refusing to send a request over http://")
    assert error_lines(result)[1].startswith("hint:")


def test_untrusted_endpoint_is_refused(run, bucket: str, tmp_path: Path) -> None:
    # The public roots (certifi's bundle) do not know the endpoint's private CA.
    import certifi

    result = run("ls", f"s3://{bucket}", AWS_CA_BUNDLE=certifi.where())
    assert result.exit_code == 4
    assert "TLS handshake failed" in error_lines(result)[0]


def test_an_empty_ca_bundle_variable_is_a_usage_error(run, bucket: str) -> None:
    # Not a silent fall-back to the system trust store.
    result = run("ls", f"s3://{bucket}", AWS_CA_BUNDLE="")
    assert result.exit_code == 2
    assert error_lines(result)[0] == "error: AWS_CA_BUNDLE is set but empty (is a variable unset?)"


def test_missing_ca_bundle_is_a_usage_error(run, bucket: str) -> None:
    result = run("--ca-bundle", "/nonexistent.pem", "ls", f"s3://{bucket}")
    assert result.exit_code == 2
    assert error_lines(result)[0] == "error: CA bundle not found: /nonexistent.pem"


def test_unwritable_destination_leaves_nothing(run, bucket: str, tmp_path: Path) -> None:
    assert run("put", "-", f"s3://{bucket}/obj", input=b"data").exit_code == 0
    (tmp_path / "a-file").write_bytes(b"keep")
    result = run("get", f"s3://{bucket}/obj", str(tmp_path / "a-file" / "sub" / "out"))
    assert result.exit_code == 2
    assert error_lines(result)[0].startswith("error: cannot write to")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_get_into_folder_uses_key_name(run, bucket: str, tmp_path: Path) -> None:
    assert run("put", "-", f"s3://{bucket}/dir/name.txt", input=b"abc").exit_code == 0
    result = run("get", f"s3://{bucket}/dir/name.txt", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "name.txt").read_bytes() == b"abc"


def test_help_documents_exit_codes(run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "2 usage error" in text and "3 integrity or policy error" in text
    assert "4 storage, keyring or transport error" in text


def test_library_sees_what_cli_wrote(run, bucket: str, connection: Connection) -> None:
    assert run("put", "-", f"s3://{bucket}/lib", input=b"shared").exit_code == 0
    store = SecureStore(bucket, connection=connection)
    assert store.get("lib", require=SseS3()) == b"shared"

"""CLI object attributes: --storage-class and the content headers on put, cp, sync and mv.

What S3 stored is read through plain boto3 ``head_object``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, create_bucket
from securestore.attributes import CONTENT_ENCODING_METADATA
from tests.conftest import unique_bucket_name
from tests.support.cli import Run
from tests.tree.conftest import make_tree, object_keys

OPTIONS = (
    "--storage-class",
    "STANDARD_IA",
    "--cache-control",
    "max-age=60",
    "--content-encoding",
    "gzip",
    "--content-disposition",
    "inline",
    "--content-language",
    "en",
    "--expires",
    "2030-01-31T12:00:00Z",
)
STORED = {
    "StorageClass": "STANDARD_IA",
    "CacheControl": "max-age=60",
    "ContentEncoding": "gzip",
    "ContentDisposition": "inline",
    "ContentLanguage": "en",
    "Expires": datetime.datetime(2030, 1, 31, 12, 0, tzinfo=datetime.UTC),
}


def stored(connection: Connection, bucket: str, key: str) -> dict[str, Any]:
    answer = connection.client("s3").head_object(Bucket=bucket, Key=key)
    return {name: answer[name] for name in STORED if answer.get(name) is not None}


@pytest.fixture
def other(connection: Connection) -> Iterator[str]:
    name = unique_bucket_name("attr-cli")
    create_bucket(connection, name)
    yield name
    s3 = connection.client("s3")
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=name, Delete={"Objects": keys})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "a.txt.gz"
    path.write_bytes(b"not really gzip")
    return path


def test_put_sets_every_attribute(
    run: Run, bucket: str, connection: Connection, source: Path
) -> None:
    result = run("put", str(source), f"s3://{bucket}/k", *OPTIONS)
    assert result.exit_code == 0, result.stderr
    assert stored(connection, bucket, "k") == STORED


def test_put_from_stdin_sets_attributes(run: Run, bucket: str, connection: Connection) -> None:
    result = run("put", "-", f"s3://{bucket}/k", *OPTIONS, input=b"streamed")
    assert result.exit_code == 0, result.stderr
    assert stored(connection, bucket, "k") == STORED


def test_put_with_an_unknown_storage_class_is_a_usage_error_and_sends_nothing(
    run: Run, bucket: str, connection: Connection, source: Path
) -> None:
    result = run("put", str(source), f"s3://{bucket}/k", "--storage-class", "COLD")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid storage class 'COLD'")
    assert "hint: use one of" in result.stderr and "DEEP_ARCHIVE" in result.stderr
    assert "Traceback" not in result.stderr
    assert object_keys(connection, bucket) == []


def test_put_with_a_malformed_expires_is_a_usage_error(run: Run, bucket: str, source: Path) -> None:
    result = run("put", str(source), f"s3://{bucket}/k", "--expires", "tomorrow")
    assert result.exit_code == 2
    assert "error: invalid --expires 'tomorrow'" in result.stderr


def test_client_side_put_keeps_the_encoding_as_metadata(
    run: Run, bucket: str, connection: Connection, source: Path, tmp_path: Path
) -> None:
    key = tmp_path / "keys" / "k.key"
    key.parent.mkdir(mode=0o700)
    assert run("keygen", "--aes", str(key)).exit_code == 0
    result = run("put", str(source), f"s3://{bucket}/k", "--key-file", str(key), *OPTIONS)
    assert result.exit_code == 0, result.stderr
    answer = connection.client("s3").head_object(Bucket=bucket, Key="k")
    assert "ContentEncoding" not in answer
    assert answer["Metadata"][CONTENT_ENCODING_METADATA] == "gzip"
    assert stored(connection, bucket, "k") == {
        k: v for k, v in STORED.items() if k != "ContentEncoding"
    }


@pytest.mark.parametrize("command", ["cp", "mv"])
def test_cp_and_mv_of_a_file_set_attributes(
    run: Run, bucket: str, connection: Connection, source: Path, command: str
) -> None:
    result = run(command, str(source), f"s3://{bucket}/dir/", *OPTIONS)
    assert result.exit_code == 0, result.stderr
    assert stored(connection, bucket, "dir/a.txt.gz") == STORED


@pytest.mark.parametrize("command", ["cp-recursive", "sync"])
def test_tree_uploads_set_attributes_on_every_object(
    run: Run, bucket: str, connection: Connection, tmp_path: Path, command: str
) -> None:
    make_tree(tmp_path / "tree", {"a.txt": b"a", "d/b.txt": b"b"})
    args = ["cp", "--recursive"] if command == "cp-recursive" else ["sync"]
    result = run(*args, str(tmp_path / "tree"), f"s3://{bucket}/t/", *OPTIONS)
    assert result.exit_code == 0, result.stderr
    for key in ("t/a.txt", "t/d/b.txt"):
        assert stored(connection, bucket, key) == STORED


@pytest.mark.parametrize("command", ["cp", "sync", "mv"])
def test_s3_to_s3_keeps_the_source_s_attributes_and_options_override(
    run: Run, bucket: str, other: str, connection: Connection, tmp_path: Path, command: str
) -> None:
    make_tree(tmp_path / "tree", {"a.txt": b"a", "d/b.txt": b"b"})
    assert (
        run("cp", "--recursive", str(tmp_path / "tree"), f"s3://{bucket}/t/", *OPTIONS).exit_code
        == 0
    )
    extra = ["--recursive"] if command != "sync" else []
    result = run(command, *extra, f"s3://{bucket}/t/", f"s3://{other}/kept/")
    assert result.exit_code == 0, result.stderr
    for key in ("kept/a.txt", "kept/d/b.txt"):
        assert stored(connection, other, key) == STORED
    source = f"s3://{other}/kept/"
    result = run(
        command,
        *extra,
        source,
        f"s3://{other}/changed/",
        "--storage-class",
        "ONEZONE_IA",
        "--cache-control",
        "no-cache",
    )
    assert result.exit_code == 0, result.stderr
    for key in ("changed/a.txt", "changed/d/b.txt"):
        assert stored(connection, other, key) == {
            **STORED,
            "StorageClass": "ONEZONE_IA",
            "CacheControl": "no-cache",
        }


def test_attribute_options_are_refused_on_downloads(
    run: Run, bucket: str, source: Path, tmp_path: Path
) -> None:
    assert run("put", str(source), f"s3://{bucket}/k").exit_code == 0
    result = run("cp", f"s3://{bucket}/k", str(tmp_path / "out"), "--cache-control", "x")
    assert result.exit_code == 2
    assert "error: --cache-control applies to uploads and copies, not downloads" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["get", "cp"])
def test_reading_an_archived_object_says_to_restore_it(
    run: Run, bucket: str, source: Path, tmp_path: Path, command: str
) -> None:
    assert (
        run("put", str(source), f"s3://{bucket}/cold", "--storage-class", "GLACIER").exit_code == 0
    )
    result = run(command, f"s3://{bucket}/cold", str(tmp_path / "out"))
    assert result.exit_code == 4, result.stderr
    assert "is archived (GLACIER or DEEP_ARCHIVE" in result.stderr
    assert "restore it first (aws s3api restore-object" in result.stderr.split("hint: ")[-1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()

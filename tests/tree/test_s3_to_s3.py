"""S3 to S3 cp, sync and mv through SecureStore.copy (server-side copy, client-side re-bind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import Connection, create_bucket
from tests.conftest import unique_bucket_name
from tests.support.cli import Run
from tests.tree.conftest import lines, make_tree, object_keys, read_tree, uploads

FILES = {"a.txt": b"alpha", "d/b.txt": b"beta", "d/e/c.bin": bytes(range(256)) * 40}


@pytest.fixture
def other(connection: Connection) -> str:
    name = unique_bucket_name("tree-dst")
    create_bucket(connection, name)
    return name


def test_cp_recursive_between_buckets_plain(
    run: Run, bucket: str, other: str, tmp_path: Path, connection: Connection
) -> None:
    make_tree(tmp_path / "src", FILES)
    assert run("cp", str(tmp_path / "src"), f"s3://{bucket}/x/", "--recursive").exit_code == 0
    result = run("cp", f"s3://{bucket}/x/", f"s3://{other}/y/", "--recursive")
    assert result.exit_code == 0, result.stderr
    assert f"copy: s3://{bucket}/x/a.txt to s3://{other}/y/a.txt" in lines(result)
    assert object_keys(connection, other) == sorted(f"y/{n}" for n in FILES)
    assert run("cp", f"s3://{other}/y/", str(tmp_path / "back"), "--recursive").exit_code == 0
    assert read_tree(tmp_path / "back") == FILES


def test_client_side_tree_copied_decrypts_at_its_new_place_and_syncs(
    run: Run, bucket: str, other: str, tmp_path: Path, connection: Connection, key_file: Path
) -> None:
    make_tree(tmp_path / "src", FILES)
    k = ("--key-file", str(key_file))
    assert run("cp", str(tmp_path / "src"), f"s3://{bucket}/b/", "--recursive", *k).exit_code == 0
    result = run("sync", f"s3://{bucket}/b/", f"s3://{other}/c/", *k)
    assert result.exit_code == 0, result.stderr
    assert len(lines(result)) == len(FILES)
    # A second sync compares plaintext sizes and stored mtimes: nothing to do.
    again = run("sync", f"s3://{bucket}/b/", f"s3://{other}/c/", *k)
    assert again.exit_code == 0 and lines(again) == [], again.stdout
    restore = run("sync", f"s3://{other}/c/", str(tmp_path / "restore"), *k)
    assert restore.exit_code == 0, restore.stderr
    assert read_tree(tmp_path / "restore") == FILES
    assert uploads(connection, other) == []


def test_mv_between_buckets_deletes_sources_after_the_copies(
    run: Run, bucket: str, other: str, tmp_path: Path, connection: Connection
) -> None:
    make_tree(tmp_path / "src", FILES)
    assert run("cp", str(tmp_path / "src"), f"s3://{bucket}/", "--recursive").exit_code == 0
    result = run("mv", f"s3://{bucket}/", f"s3://{other}/", "--recursive")
    assert result.exit_code == 0, result.stderr
    assert object_keys(connection, bucket) == []
    assert object_keys(connection, other) == sorted(FILES)


def test_copy_refused_by_require_leaves_source_and_destination(
    run: Run, bucket: str, other: str, tmp_path: Path, connection: Connection
) -> None:
    make_tree(tmp_path / "src", FILES)
    assert run("cp", str(tmp_path / "src"), f"s3://{bucket}/", "--recursive").exit_code == 0
    result = run("mv", f"s3://{bucket}/", f"s3://{other}/", "--recursive", "--require", "kms")
    assert result.exit_code == 3, result.stderr
    assert object_keys(connection, bucket) == sorted(FILES)
    assert object_keys(connection, other) == []

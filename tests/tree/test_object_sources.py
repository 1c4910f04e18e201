"""A tree job given an object key (``s3://b/p/a.txt``): ``rm --recursive`` deletes the
object and its folder ``p/a.txt/`` (never ``p/a.txt.bak``, as aws-cli's text prefix
would); ``cp``/``mv --recursive`` and ``sync`` refuse it when the folder is empty
instead of doing nothing with exit 0 (``sync --delete`` would empty the destination)."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import ConfigurationError, Connection, SecureStore
from securestore.tree import copy_tree, remove_tree
from tests.support.cli import Run, stderr_lines
from tests.tree.conftest import lines, make_tree, object_keys, read_tree

NEIGHBOURS = ["p/a.txt-x", "p/a.txt.bak", "p/a.txtx/y"]


def put(connection: Connection, bucket: str, *keys: str) -> None:
    for key in keys:
        connection.client("s3").put_object(
            Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256"
        )


def test_rm_recursive_of_a_key_deletes_it_and_its_folder_only(
    run: Run, bucket: str, connection: Connection
) -> None:
    put(connection, bucket, "p/a.txt", "p/a.txt/in", *NEIGHBOURS)
    dry = run("rm", "--recursive", f"s3://{bucket}/p/a.txt", "--dryrun")
    assert dry.exit_code == 0, dry.stderr
    assert lines(dry) == [
        f"(dryrun) delete: s3://{bucket}/p/a.txt",
        f"(dryrun) delete: s3://{bucket}/p/a.txt/in",
    ]
    kept = run("rm", "--recursive", f"s3://{bucket}/p/a.txt", "--exclude", "a.txt")
    assert kept.exit_code == 0, kept.stderr
    assert object_keys(connection, bucket) == sorted(["p/a.txt", *NEIGHBOURS])  # by base name
    result = run("rm", "--recursive", f"s3://{bucket}/p/a.txt")
    assert result.exit_code == 0, result.stderr
    assert lines(result) == [f"delete: s3://{bucket}/p/a.txt"]
    assert object_keys(connection, bucket) == NEIGHBOURS


def test_the_library_deletes_a_key_and_its_folder(connection: Connection, bucket: str) -> None:
    put(connection, bucket, "k", "k/1", "k-2")
    result = remove_tree(SecureStore(bucket, connection=connection), "k")
    assert result.deleted + result.done >= 2 and result.ok
    assert object_keys(connection, bucket) == ["k-2"]


@pytest.mark.parametrize(
    "args",
    [["cp", "--recursive"], ["mv", "--recursive"], ["sync"], ["sync", "--delete"]],
    ids=["cp", "mv", "sync", "sync-delete"],
)
def test_a_tree_job_from_an_object_with_an_empty_folder_is_refused(
    run: Run, bucket: str, connection: Connection, tmp_path: Path, args: list[str]
) -> None:
    put(connection, bucket, "p/a.txt", "p/a.txt.bak")
    dest = tmp_path / "dest"
    make_tree(dest, {"mine.txt": b"keep"})
    result = run(*args, f"s3://{bucket}/p/a.txt", str(dest))
    assert result.exit_code == 2, result.output
    (error,) = stderr_lines(result, "error:")
    assert "is an object, not a folder" in error
    assert stderr_lines(result, "hint:") == [
        "hint: copy or move it as one object: cp or mv without --recursive"
    ]
    assert read_tree(dest) == {"mine.txt": b"keep"}
    assert object_keys(connection, bucket) == ["p/a.txt", "p/a.txt.bak"]
    # To S3 too.
    s3 = run(*args, f"s3://{bucket}/p/a.txt", f"s3://{bucket}/q/")
    assert s3.exit_code == 2
    assert object_keys(connection, bucket) == ["p/a.txt", "p/a.txt.bak"]


def test_a_folder_beside_an_object_of_its_name_is_the_tree(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    put(connection, bucket, "p/a", "p/a/in")
    result = run("cp", "--recursive", f"s3://{bucket}/p/a", str(tmp_path / "d"))
    assert result.exit_code == 0, result.stderr
    assert read_tree(tmp_path / "d") == {"in": b"x"}
    # A missing key is a folder like any other: nothing there, nothing done, exit 0.
    assert run("cp", "--recursive", f"s3://{bucket}/none", str(tmp_path / "e")).exit_code == 0


def test_the_library_refuses_an_object_as_a_tree(
    connection: Connection, bucket: str, tmp_path: Path
) -> None:
    put(connection, bucket, "obj")
    with pytest.raises(ConfigurationError, match="is an object, not a folder"):
        copy_tree((SecureStore(bucket, connection=connection), "obj"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rm_of_a_folder_without_recursive_is_refused_not_a_silent_no_op(
    run: Run, bucket: str, connection: Connection
) -> None:
    put(connection, bucket, "dir/a", "dir/b")
    result = run("rm", f"s3://{bucket}/dir/")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""  # it printed "delete: s3://.../dir/" and deleted nothing
    assert stderr_lines(result, "hint:") == ["hint: add --recursive to delete the objects under it"]
    assert object_keys(connection, bucket) == ["dir/a", "dir/b"]
    # A folder marker of that name is an object: deleted, the folder's objects kept.
    put(connection, bucket, "dir/")
    marker = run("rm", f"s3://{bucket}/dir/")
    assert marker.exit_code == 0, marker.stderr
    assert object_keys(connection, bucket) == ["dir/a", "dir/b"]
    # Nothing there at all: S3's delete of a missing key succeeds.
    assert run("rm", f"s3://{bucket}/none/").exit_code == 0

"""``securestore-mtime`` is metadata anyone who can write the object sets: a value no file
can carry is ignored (the object's LastModified is used), never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import Connection
from tests.support.cli import Run
from tests.tree.conftest import read_tree


@pytest.mark.parametrize("stored", ["1e300", "99999999999999999999"])
def test_an_impossible_stored_mtime_is_ignored(
    run: Run, bucket: str, tmp_path: Path, key_file: Path, connection: Connection, stored: str
) -> None:
    url = f"s3://{bucket}/t/"
    put = run("put", "-", f"{url}a.txt", "--key-file", str(key_file), input=b"hello")
    assert put.exit_code == 0, put.stderr
    s3 = connection.client("s3")
    metadata = s3.head_object(Bucket=bucket, Key="t/a.txt")["Metadata"]
    s3.copy_object(
        Bucket=bucket,
        Key="t/a.txt",
        CopySource={"Bucket": bucket, "Key": "t/a.txt"},
        Metadata={**metadata, "securestore-mtime": stored},
        MetadataDirective="REPLACE",
    )
    out = tmp_path / "out"
    result = run("cp", url, str(out), "--recursive", "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert read_tree(out) == {"a.txt": b"hello"}
    modified = s3.head_object(Bucket=bucket, Key="t/a.txt")["LastModified"].timestamp()
    assert (out / "a.txt").stat().st_mtime == modified

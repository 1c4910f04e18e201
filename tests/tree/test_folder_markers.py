"""Keys ending in ``/``: an empty one is a console's folder marker, one with data is an object.

aws-cli leaves out only the empty ones (size 0); an object of that name that
holds bytes is data, and a tree job must not drop it without a word.
"""

from __future__ import annotations

from pathlib import Path

from securestore import Connection
from tests.support.cli import Run
from tests.tree.conftest import object_keys, read_tree


def _fill(connection: Connection, bucket: str) -> None:
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="docs/", Body=b"")
    s3.put_object(Bucket=bucket, Key="docs/sub/", Body=b"")
    s3.put_object(Bucket=bucket, Key="docs/sub/a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="docs/notes/", Body=b"bytes in a key that ends in /")


def test_a_download_refuses_a_non_empty_key_ending_in_slash(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    _fill(connection, bucket)
    result = run("cp", f"s3://{bucket}/docs/", str(tmp_path / "out"), "--recursive")
    assert result.exit_code == 3, result.stderr
    assert f"s3://{bucket}/docs/notes/" in result.stderr
    assert read_tree(tmp_path / "out") == {"sub/a.txt": b"hello"}


def test_an_s3_to_s3_copy_keeps_a_non_empty_key_ending_in_slash(
    run: Run, bucket: str, connection: Connection
) -> None:
    _fill(connection, bucket)
    result = run("cp", f"s3://{bucket}/docs/", f"s3://{bucket}/copy/", "--recursive")
    assert result.exit_code == 0, result.stderr
    copied = [key for key in object_keys(connection, bucket) if key.startswith("copy/")]
    assert copied == ["copy/notes/", "copy/sub/a.txt"]

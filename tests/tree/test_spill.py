"""The paths ``sync --delete`` waits to delete go to an unnamed temporary file past a bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from securestore import Connection, SecureStore
from securestore.tree import spill, sync
from securestore.tree.spill import Spill
from tests.conftest import Endpoint


def test_paths_come_back_in_order_past_the_bound() -> None:
    paths = ["a", "new\nline", "tab\t", "lone\udcff", "é/ü", "", '"quoted"'] + [
        f"p/{i}" for i in range(20)
    ]
    held = Spill(in_memory=3)
    for path in paths:
        held.append(path)
    assert len(held) == len(paths)
    assert list(held) == paths
    assert list(held) == paths  # again
    held.append("late")
    assert list(held)[-2:] == ["p/19", "late"]
    held.close()
    assert list(held) == []


def test_the_file_has_no_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    held = Spill(in_memory=0)
    held.append("x")
    assert list(tmp_path.iterdir()) == []
    held.close()


def test_a_local_sync_delete_past_the_bound_deletes_exactly_the_extras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connection: Connection, bucket: str
) -> None:
    """S3 to a local folder: 30 extra files, 4 in memory, the rest from the file."""
    monkeypatch.setattr(spill, "IN_MEMORY", 4)
    client = connection.client("s3")
    client.put_object(Bucket=bucket, Key="s/kept", Body=b"k", ServerSideEncryption="AES256")
    target = tmp_path / "out"
    (target / "d").mkdir(parents=True)
    for i in range(30):
        (target / "d" / f"extra\n{i:02}").write_bytes(b"x")
    result = sync((SecureStore(bucket, connection=connection), "s/"), target, delete=True)
    assert result.ok, result.failed
    assert result.deleted == 30 and result.done == 1
    assert sorted(os.listdir(target)) == ["d", "kept"] and os.listdir(target / "d") == []


def test_a_remote_sync_delete_past_the_bound_deletes_exactly_the_extras(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", 4)
    client = connection.client("s3")
    for i in range(30):
        client.put_object(
            Bucket=bucket, Key=f"d/x/{i:02}", Body=b"x", ServerSideEncryption="AES256"
        )
    source = tmp_path / "src"
    source.mkdir()
    (source / "kept").write_bytes(b"k")
    store = SecureStore(bucket, connection=tls_endpoint.connection())
    files: list[object] = []
    real = spill.tempfile.TemporaryFile

    def counted(*args: object, **kwargs: object) -> object:
        files.append(real(*args, **kwargs))  # type: ignore[call-overload]
        return files[-1]

    monkeypatch.setattr(spill.tempfile, "TemporaryFile", counted)
    result = sync(source, (store, "d/"), delete=True)
    assert result.ok, result.failed
    assert result.deleted == 30
    # The plan's own list and the deletes it defers both went to a file, and were closed.
    assert len(files) == 2 and all(f.closed for f in files)  # type: ignore[attr-defined]
    left = client.list_objects_v2(Bucket=bucket, Prefix="d/").get("Contents", [])
    assert [item["Key"] for item in left] == ["d/kept"]

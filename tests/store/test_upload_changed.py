"""A file written to while it is uploaded is never stored torn (put, upload_file, cp, sync)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

import securestore.localsource
from securestore import ClientSide, Connection, RawAesKeyring, SecureStore, SseS3
from securestore.errors import FileChangedError
from tests.conftest import Endpoint

MiB = 1024 * 1024
_PAST = 1_600_000_000


def _changing_after_first_part(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[int]:
    """Make the upload's file change (same size, other bytes) once its first part is read."""
    real = securestore.localsource.file_parts
    changed: list[int] = []

    def parts(fd: int, size: int, part_size: int) -> Iterator[Any]:
        for index, part in enumerate(real(fd, size, part_size)):
            if index == 0 and not changed:
                with open(path, "r+b") as f:
                    f.write(b"\0" * 4096)
                changed.append(1)
            yield part

    monkeypatch.setattr(securestore.localsource, "file_parts", parts)
    return changed


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "live.bin"
    path.write_bytes(os.urandom(size))
    os.utime(path, (_PAST, _PAST))  # a write now cannot fall in the same clock tick
    return path


def _open_uploads(connection: Connection, bucket: str) -> list[Any]:
    answer = connection.client("s3").list_multipart_uploads(Bucket=bucket)
    return list(answer.get("Uploads", []))


@pytest.mark.parametrize("size", [100_000, 12 * MiB], ids=["one-put", "multipart"])
@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_a_file_changed_while_read_is_not_stored_and_the_old_object_stays(
    make_store: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    client_side: bool,
) -> None:
    keyring = RawAesKeyring("securestore-tests", "k", bytes(32))
    mode = ClientSide(keyring) if client_side else SseS3()
    store = make_store(encryption=mode)
    store.put("obj", b"the old object")
    path = _file(tmp_path, size)
    changed = _changing_after_first_part(monkeypatch, path)
    with pytest.raises(FileChangedError, match="changed while it was being uploaded"):
        store.upload_file(path, "obj")
    assert changed
    assert store.get("obj") == b"the old object"
    assert _open_uploads(connection, bucket) == []


def test_an_unchanged_file_uploads(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    path = _file(tmp_path, 12 * MiB)
    store.upload_file(path, "obj")
    assert store.get("obj") == path.read_bytes()


def test_put_of_a_changing_file_exits_2_and_sync_stores_the_final_content(
    tls_endpoint: Endpoint,
    make_store: Callable[..., SecureStore],
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _file(tmp_path, 100_000)
    _changing_after_first_part(monkeypatch, path)
    env = dict(tls_endpoint.env)
    put = CliRunner().invoke(main_group, ["put", str(path), f"s3://{bucket}/p"], env=env)
    assert put.exit_code == 2, put.stderr
    assert "changed while it was being uploaded: nothing was stored" in put.stderr
    assert "Traceback" not in put.stderr
    # A tree job uploads the file again once (the first try changed it: nothing stored).
    tree = tmp_path / "tree"
    tree.mkdir()
    moved = tree / "live.bin"
    path.rename(moved)
    os.utime(moved, (_PAST, _PAST))
    _changing_after_first_part(monkeypatch, moved)
    sync = CliRunner().invoke(main_group, ["sync", str(tree), f"s3://{bucket}/t/"], env=env)
    assert sync.exit_code == 0, sync.stderr
    assert make_store().get("t/live.bin") == moved.read_bytes()

"""Fixes from the reliability review of stop 19 (review 1), library side.

A plain ``sync`` (no key option) into a prefix of client-side objects uploaded
new files with server-side encryption only; a later sync with the key found
them unchanged and a restore with the key refused them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import ClientSide, RawAesKeyring, SecureStore, SseS3, create_bucket
from securestore.clientside import FORMAT_METADATA
from securestore.tree import move_tree, sync
from tests.support.cli import Run
from tests.support.rclone import RcloneServer, find_rclone
from tests.tree.conftest import make_tree, object_keys

KEY = RawAesKeyring("tests", "review1", b"q" * 32)


def _old(root: Path, *names: str) -> None:
    old = time.time() - 3600
    for name in names:
        os.utime(root / name, (old, old))


def test_a_plain_sync_adds_no_new_file_among_client_side_objects(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    encrypted = make_store(encryption=ClientSide(KEY))
    make_tree(tmp_path, {"a.txt": b"alpha"})
    _old(tmp_path, "a.txt")
    assert sync(tmp_path, (encrypted, "cs/")).done == 1
    make_tree(tmp_path, {"new.txt": b"new file"})
    for options in ({}, {"encryption": SseS3()}):  # an explicit --sse is no opt-in either
        refused = sync(tmp_path, (make_store(**options), "cs/"))
        assert refused.done == 0 and len(refused.failed) == 1, refused.failed
        error = refused.failed[0].error
        assert "holds client-side objects" in str(error)
        assert "--key-file" in (error.hint or "")
    assert object_keys(encrypted.connection, encrypted.bucket) == ["cs/a.txt"]
    # With the key the new file goes up client-side, as before.
    assert sync(tmp_path, (encrypted, "cs/")).done == 1
    assert encrypted.get("cs/new.txt") == b"new file"


def test_a_plain_sync_into_a_plain_prefix_still_uploads_new_files(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    plain = make_store()
    make_tree(tmp_path, {"a.txt": b"alpha"})
    assert sync(tmp_path, (plain, "p/")).done == 1
    make_tree(tmp_path, {"b.txt": b"beta"})
    again = sync(tmp_path, (plain, "p/"))
    assert again.ok and again.done == 1
    assert plain.get("p/b.txt") == b"beta"


def test_the_cli_refuses_new_files_with_exit_3_and_uploads_nothing(
    run: Run, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    make_tree(tmp_path / "src", {"a.txt": b"alpha"})
    url = f"s3://{bucket}/cs/"
    assert run("sync", str(tmp_path / "src"), url, "--key-file", str(key)).exit_code == 0
    make_tree(tmp_path / "src", {"b.txt": b"beta", "c.txt": b"gamma"})
    result = run("sync", str(tmp_path / "src"), url)
    assert result.exit_code == 3, result.output
    assert "holds client-side objects" in result.stderr
    assert "hint:" in result.stderr and "--key-file" in result.stderr
    store = make_store()
    assert object_keys(store.connection, bucket) == ["cs/a.txt"]


# -- mv of client-side objects where the server keeps no user metadata ------------------------


def _strip_metadata(store: SecureStore, key: str) -> None:
    """What a server that keeps no user metadata holds: the same bytes, no metadata."""
    s3 = store.connection.client("s3")
    source = {"Bucket": store.bucket, "Key": key}
    s3.copy_object(Bucket=store.bucket, Key=key, CopySource=source, MetadataDirective="REPLACE")
    assert FORMAT_METADATA not in store.head(key).metadata


def test_a_client_side_move_without_stored_metadata_is_verified_on_the_layout(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store(encryption=ClientSide(KEY))
    store.put("p/a.txt", b"alpha" * 50)
    store.put("p/sub/b.txt", b"beta")
    for key in ("p/a.txt", "p/sub/b.txt"):
        _strip_metadata(store, key)
    # A longer prefix: the re-bound header (the location is in its context) grows.
    moved = move_tree((store, "p/"), (store, "moved-further/"))
    assert moved.ok and moved.done == 2, moved.failed
    assert object_keys(store.connection, store.bucket) == [
        "moved-further/a.txt",
        "moved-further/sub/b.txt",
    ]
    assert store.get("moved-further/a.txt") == b"alpha" * 50


def test_a_client_side_move_on_rclone_after_a_restart(tmp_path: Path) -> None:
    # rclone serve s3 keeps user metadata in memory only: a restart loses it.
    if find_rclone() is None:
        pytest.skip("rclone is not installed")
    workdir = tmp_path / "rclone"
    workdir.mkdir()
    with RcloneServer(workdir) as endpoint:
        connection = endpoint.connection()
        for name in ("mv-src", "mv-dst"):
            create_bucket(connection, name)
        store = SecureStore("mv-src", encryption=ClientSide(KEY), connection=connection)
        store.put("p/a.txt", b"alpha" * 50)
        store.put("p/sub/b.txt", b"beta")
    with RcloneServer(workdir) as endpoint:
        connection = endpoint.connection()
        first, second = (
            SecureStore(name, encryption=ClientSide(KEY), connection=connection)
            for name in ("mv-src", "mv-dst")
        )
        assert FORMAT_METADATA not in first.head("p/a.txt").metadata
        across = move_tree((first, "p/"), (second, "moved/"))
        assert across.ok and across.done == 2, across.failed
        assert object_keys(connection, "mv-src") == []
        down = move_tree((second, "moved/"), tmp_path / "down")
        assert down.ok and down.done == 2, down.failed
        assert (tmp_path / "down/a.txt").read_bytes() == b"alpha" * 50
        assert object_keys(connection, "mv-dst") == []

"""The tree API against the TLS endpoint: copy_tree, sync, move_tree, remove_tree, remove_bucket."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import (
    AccessDeniedError,
    ClientSide,
    Connection,
    NotFoundError,
    RawAesKeyring,
    SecureStore,
)
from securestore.tree import (
    Task,
    TreeOptions,
    copy_tree,
    sync,
)
from tests.tree.conftest import make_tree, read_tree


def keys(store: SecureStore, prefix: str = "") -> list[str]:
    return [entry.key for entry in store.list(prefix)]


FILES = {
    "a.txt": b"alpha",
    "a-b.txt": b"dash sorts before slash",
    "a/b.txt": b"inside a",
    "a/c/d.bin": os.urandom(3000),
    "z.json": b"{}",
}


@pytest.fixture
def aes(tmp_path: Path) -> RawAesKeyring:
    return RawAesKeyring("tests", "tree", b"k" * 32)


def test_round_trip_plain(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    make_tree(tmp_path / "src", FILES)
    result = copy_tree(tmp_path / "src", (store, "backup"))
    assert result.ok and result.done == len(FILES)
    assert keys(store) == sorted("backup/" + name for name in FILES)
    assert store.head("backup/z.json").content_type == "application/json"
    back = copy_tree((store, "backup/"), tmp_path / "restore")
    assert back.ok and back.done == len(FILES)
    assert read_tree(tmp_path / "restore") == FILES


def test_client_side_backup_and_restore_sync(
    make_store: Callable[..., SecureStore], tmp_path: Path, aes: RawAesKeyring
) -> None:
    store = make_store()
    make_tree(tmp_path / "src", FILES)
    mode = ClientSide(aes)
    assert copy_tree(tmp_path / "src", (store, "b/"), options=TreeOptions(encryption=mode)).ok
    assert store.head("b/a.txt").size != len(FILES["a.txt"])  # ciphertext
    restore = tmp_path / "restore"
    first = sync((store, "b/"), restore, options=TreeOptions(require=mode))
    assert first.ok and first.done == len(FILES)
    assert read_tree(restore) == FILES
    # The restored files carry the source's mtimes, and a second sync transfers nothing.
    assert int(os.stat(restore / "a.txt").st_mtime) == int(os.stat(tmp_path / "src/a.txt").st_mtime)
    again = sync((store, "b/"), restore, options=TreeOptions(require=mode))
    assert again.ok and (again.done, again.unchanged) == (0, len(FILES))
    up = sync(tmp_path / "src", (store, "b/"), options=TreeOptions(encryption=mode))
    assert up.ok and (up.done, up.unchanged) == (0, len(FILES))
    # Same ciphertext-size-changing edit: the plaintext size decides.
    (tmp_path / "src/a.txt").write_bytes(b"alpha!")
    up = sync(tmp_path / "src", (store, "b/"), options=TreeOptions(encryption=mode))
    assert (up.done, up.unchanged) == (1, len(FILES) - 1)


def test_a_file_that_vanishes_mid_walk_is_skipped_and_the_rest_continue(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    make_tree(tmp_path, {"a.txt": b"1", "b.txt": b"2", "c.txt": b"3"})
    gone: list[str] = []

    def on_event(task: Task, outcome: str, error: object) -> None:
        # The walk has already seen b.txt when a.txt completes (one worker, sorted order).
        if not gone:
            (tmp_path / "b.txt").unlink()
            gone.append("b")

    result = copy_tree(tmp_path, (store, ""), concurrency=1, on_event=on_event)
    assert result.ok, result.failed
    assert [skip.path for skip in result.skipped] == [str(tmp_path / "b.txt")]
    assert keys(store) == ["a.txt", "c.txt"]


def test_special_files_and_broken_links_are_skipped(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    make_tree(tmp_path, {"ok.txt": b"1"})
    os.mkfifo(tmp_path / "fifo")  # never opened: opening a FIFO without writer blocks
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path)
    result = copy_tree(tmp_path, (store, ""))
    assert result.ok and keys(store) == ["ok.txt"]
    assert sorted(s.reason for s in result.skipped) == [
        "broken symbolic link",
        "not a regular file",
        "symbolic link loop",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_fails_alone(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    make_tree(tmp_path, {"a.txt": b"1", "secret.txt": b"2", "z.txt": b"3"})
    (tmp_path / "secret.txt").chmod(0)
    result = copy_tree(tmp_path, (store, ""))
    assert [f.source for f in result.failed] == [str(tmp_path / "secret.txt")]
    assert keys(store) == ["a.txt", "z.txt"]


def test_permission_denied_on_one_object_fails_alone(
    make_store: Callable[..., SecureStore], tmp_path: Path, bucket: str, connection: Connection
) -> None:
    store = make_store()
    for name in ("a", "denied", "z"):
        store.put(f"p/{name}", name.encode())
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/p/denied",
            }
        ],
    }
    connection.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    result = copy_tree((store, "p/"), tmp_path / "down")
    assert [f.source for f in result.failed] == [f"s3://{bucket}/p/denied"]
    assert isinstance(result.failed[0].error, AccessDeniedError)
    assert read_tree(tmp_path / "down") == {"a": b"a", "z": b"z"}
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a", "z"]


def test_a_listing_that_fails_is_an_error(
    make_store: Callable[..., SecureStore], connection: Connection, tmp_path: Path
) -> None:
    missing = SecureStore("no-such-bucket-for-tree-tests", connection=connection)
    with pytest.raises(NotFoundError):
        copy_tree((missing, ""), tmp_path / "down")
    assert not (tmp_path / "down").exists()

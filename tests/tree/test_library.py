"""The tree API against the TLS endpoint: copy_tree, sync, move_tree, remove_tree, remove_bucket."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import (
    ClientSide,
    RawAesKeyring,
    SecureStore,
)
from securestore.tree import (
    TreeOptions,
    copy_tree,
    sync,
)


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


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

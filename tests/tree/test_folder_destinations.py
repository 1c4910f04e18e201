"""Keys and paths ending in ``/`` name folders: copy refuses data there, copy_file names the file.

``SecureStore.copy`` to a key ending in ``/`` is refused for an object that holds bytes,
as ``put``/``upload_file`` refuse it (a folder marker may still be copied there: tree
copies need them). ``copy_file`` to a local path ending in ``/`` writes into that
directory under the key's base name, as aws-cli (and the CLI) do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import SecureStore
from securestore.errors import InvalidLocationError
from securestore.tree import Local, copy_file
from tests.support.s3calls import keys_left


def test_copy_of_data_to_a_folder_key_is_refused(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    store.put("src/a.txt", b"alpha")
    with pytest.raises(InvalidLocationError, match="ends in '/'"):
        store.copy("src/a.txt", store, "x/")
    assert keys_left(store.connection, store.bucket) == ["src/a.txt"]


def test_a_folder_marker_still_copies_to_a_folder_key(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store()
    store.put("src/", b"")
    store.put("empty", b"")
    store.copy("src/", store, "dst/")
    store.copy("empty", store, "other/")
    assert keys_left(store.connection, store.bucket) == ["dst/", "empty", "other/", "src/"]


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "Path"])
def test_copy_file_into_a_local_folder_gets_the_key_s_name(
    make_store: Callable[..., SecureStore], tmp_path: Path, as_path: Callable[[str], object]
) -> None:
    store = make_store()
    store.put("dir/a.txt", b"alpha")
    folder = tmp_path / "out"
    result = copy_file((store, "dir/a.txt"), f"{folder}/")  # missing: created
    assert result.ok, result.failed
    assert (folder / "a.txt").read_bytes() == b"alpha"
    # An existing directory, even without its slash (Path drops it), gets the name too.
    store.put("dir/b.txt", b"beta")
    assert copy_file((store, "dir/b.txt"), as_path(str(folder))).ok  # type: ignore[arg-type]
    assert (folder / "b.txt").read_bytes() == b"beta"


def test_copy_file_to_a_local_side_writes_that_file(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("dir/a.txt", b"alpha")
    target = tmp_path / "named.bin"
    assert copy_file((store, "dir/a.txt"), Local(target)).ok
    assert target.read_bytes() == b"alpha"

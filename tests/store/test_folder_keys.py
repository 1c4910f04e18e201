"""A key ending in ``/`` names a folder: no single object's data is written under it.

Before, ``put``, ``upload_file`` and ``tree.copy_file`` wrote such a key literally
while the CLI (``put a.txt s3://b/dir/``, ``cp a.txt s3://b/dir/``) wrote
``dir/a.txt``; a tree download then refuses the object ``dir/`` that holds bytes.
The library refuses it (the CLI names the object before it calls the library), and
``put`` of ``b""`` still writes a console's folder marker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import Connection, InvalidLocationError, NotFoundError, SecureStore
from securestore.tree import copy_file, remote_key


@pytest.fixture
def sent(fault_connection: Connection) -> list[str]:
    requests: list[str] = []
    fault_connection.client("s3").meta.events.register(
        "before-send", lambda request, **_: requests.append(request.method)
    )
    return requests


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "a.txt"
    path.write_bytes(b"data")
    return path


def test_put_of_data_under_a_folder_key_is_refused(
    fault_store: Callable[..., SecureStore], sent: list[str]
) -> None:
    store = fault_store()
    for body in (b"data", iter([b"data"])):
        with pytest.raises(InvalidLocationError, match="names a folder") as info:
            store.put("dir/", body)
        assert info.value.hint is not None and "remote_key" in info.value.hint
    assert sent == []


def test_put_of_an_empty_body_writes_a_folder_marker(
    fault_store: Callable[..., SecureStore],
) -> None:
    store = fault_store()
    store.put("dir/", b"")
    assert store.head("dir/").size == 0


def test_upload_file_to_a_folder_key_is_refused(
    fault_store: Callable[..., SecureStore], sent: list[str], source: Path
) -> None:
    with pytest.raises(InvalidLocationError, match="names a folder"):
        fault_store().upload_file(source, "dir/")
    assert sent == []


@pytest.mark.parametrize("destination", ["dir/", ""], ids=["folder", "empty"])
def test_copy_file_to_a_folder_key_is_refused_before_anything_is_read(
    fault_store: Callable[..., SecureStore], sent: list[str], source: Path, destination: str
) -> None:
    store = fault_store()
    with pytest.raises(InvalidLocationError):
        copy_file(source, (store, destination))
    with pytest.raises(InvalidLocationError):
        copy_file((store, "k"), (store, destination))  # no HEAD of the source either
    assert sent == []


def test_the_clis_rule_is_one_call_away(
    fault_store: Callable[..., SecureStore], source: Path
) -> None:
    store = fault_store()
    assert copy_file(source, (store, remote_key("dir/", source.name))).ok
    assert store.get("dir/a.txt") == b"data"
    with pytest.raises(NotFoundError):
        store.head("dir/")

"""list(), delete() and user metadata."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    ConfigurationError,
    Connection,
    NotFoundError,
    ObjectSummary,
    SecureStore,
)
from tests.store.conftest import PART

KEYS = ["a/1", "a/2", "a/b/3", "ab", "b/1", "c"]


@pytest.fixture
def populated(make_store: Callable[..., SecureStore]) -> SecureStore:
    store = make_store()
    for index, key in enumerate(KEYS):
        store.put(key, b"x" * index)
    return store


def test_list_everything(populated: SecureStore) -> None:
    listed = list(populated.list())
    assert [s.key for s in listed] == KEYS
    assert [s.size for s in listed] == list(range(len(KEYS)))
    assert all(isinstance(s, ObjectSummary) and s.etag and s.last_modified for s in listed)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a/", ["a/1", "a/2", "a/b/3"]),
        ("a", ["a/1", "a/2", "a/b/3", "ab"]),
        ("a/b", ["a/b/3"]),
        ("a/b/3", ["a/b/3"]),
        ("c", ["c"]),
        ("zzz", []),
        ("", KEYS),
    ],
)
def test_list_prefix(populated: SecureStore, prefix: str, expected: list[str]) -> None:
    assert [s.key for s in populated.list(prefix)] == expected


def test_list_of_empty_bucket(make_store: Callable[..., SecureStore]) -> None:
    assert list(make_store().list()) == []


def _small_pages(connection: Connection, page_size: int) -> list[dict[str, Any]]:
    """Make every ListObjectsV2 ask for ``page_size`` keys; record each request's params."""
    calls: list[dict[str, Any]] = []

    def shrink(params: dict[str, Any], **_: Any) -> None:
        params["MaxKeys"] = page_size
        calls.append(dict(params))

    connection.client("s3").meta.events.register("provide-client-params.s3.ListObjectsV2", shrink)
    return calls


def test_list_follows_pagination(
    populated: SecureStore, new_connection: Callable[..., Connection]
) -> None:
    connection = new_connection()
    calls = _small_pages(connection, 2)
    store = SecureStore(populated.bucket, connection=connection)
    assert [s.key for s in store.list()] == KEYS
    assert len(calls) == 3
    assert "ContinuationToken" not in calls[0]
    assert all(call.get("ContinuationToken") for call in calls[1:])
    assert [s.key for s in store.list("a")] == ["a/1", "a/2", "a/b/3", "ab"]


def test_list_is_lazy(populated: SecureStore, new_connection: Callable[..., Connection]) -> None:
    connection = new_connection()
    calls = _small_pages(connection, 2)
    store = SecureStore(populated.bucket, connection=connection)
    listing = store.list()
    assert isinstance(listing, types.GeneratorType)
    assert calls == []
    assert next(listing).key == "a/1"
    assert len(calls) == 1
    listing.close()
    assert len(calls) == 1


def test_list_of_missing_bucket_fails_on_first_item(connection: Connection) -> None:
    listing = SecureStore("securestore-no-such-bucket", connection=connection).list()
    with pytest.raises(NotFoundError):
        next(listing)


def test_delete_removes_the_object(populated: SecureStore) -> None:
    populated.delete("a/2")
    with pytest.raises(NotFoundError):
        populated.head("a/2")
    assert [s.key for s in populated.list("a/")] == ["a/1", "a/b/3"]


def test_delete_of_missing_key_succeeds(populated: SecureStore) -> None:
    populated.delete("not/there")
    assert [s.key for s in populated.list()] == KEYS


def test_delete_of_a_prefix_is_not_recursive(populated: SecureStore) -> None:
    populated.delete("a/")
    populated.delete("a")
    assert [s.key for s in populated.list()] == KEYS


# -- metadata ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3, PART + 1], ids=["single", "multipart"])
def test_metadata_round_trips(
    make_store: Callable[..., SecureStore], tmp_path: Path, size: int
) -> None:
    store = make_store()
    metadata = {"Owner": "alice", "build-id": "1234", "x_y.z": "a b=c"}
    expected = {"owner": "alice", "build-id": "1234", "x_y.z": "a b=c"}
    info = store.put("put", b"d" * size, metadata=metadata)
    assert dict(info.metadata) == expected
    assert dict(store.head("put").metadata) == expected
    source = tmp_path / "f"
    source.write_bytes(b"f" * size)
    store.upload_file(source, "file", metadata=metadata)
    assert dict(store.head("file").metadata) == expected
    assert store.get("put") == b"d" * size


def test_no_metadata_means_empty_metadata(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    store.put("k", b"x")
    assert dict(store.head("k").metadata) == {}


def test_head_describes_the_object(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    written = store.put("k", b"hello", content_type="text/plain")
    head = store.head("k")
    assert (head.bucket, head.key, head.size) == (store.bucket, "k", 5)
    assert head.etag == written.etag
    assert head.last_modified is not None
    description = head.to_dict()
    assert description["encryption"]["mode"] == "sse-s3"
    assert description["size"] == 5
    assert description["content_type"] == "text/plain"


@pytest.mark.parametrize(
    "name", ["securestore-format", "SecureStore-Plaintext-Length", "securestore-other"]
)
def test_reserved_metadata_names_are_refused(
    make_store: Callable[..., SecureStore], tmp_path: Path, name: str
) -> None:
    """Names that mark client-side objects must not come from users: on an SSE object
    they would switch every read to the client-side path."""
    store = make_store()
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(ConfigurationError):
        store.put("k", b"plain sse object", metadata={name: "aws-esdk-v2"})
    with pytest.raises(ConfigurationError):
        store.upload_file(source, "k", metadata={name: "aws-esdk-v2"})
    with pytest.raises(NotFoundError):
        store.head("k")

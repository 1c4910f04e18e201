"""A read pinned to a version gets that version, or fails: never another one.

``rclone serve s3`` answers a HEAD with a ``versionId`` it does not know as if
none were given (the current object), and any server or proxy may drop the
parameter. S3 names the version it answers with (``x-amz-version-id``): a
different one is refused, so ``head``/``get --version-id`` never describe or
return the current version in place of the one asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.errors import StorageError


@pytest.fixture
def versions(connection: Connection, bucket: str) -> tuple[SecureStore, str]:
    connection.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    store = SecureStore(bucket, connection=connection)
    first = store.put("doc.txt", b"first").version_id
    store.put("doc.txt", b"second, longer")
    assert first
    return store, first


def _drop_version_id(params: dict[str, Any], **_: Any) -> None:
    params.pop("VersionId", None)


@pytest.fixture
def ignoring(connection: Connection) -> Iterator[Callable[[], None]]:
    """Call it to make the server ignore ``versionId`` (the client is shared: undone after)."""
    events = connection.client("s3").meta.events
    names = [f"before-parameter-build.s3.{op}" for op in ("HeadObject", "GetObject")]

    def start() -> None:
        for name in names:
            events.register(name, _drop_version_id)

    yield start
    for name in names:
        events.unregister(name, _drop_version_id)


def test_a_version_the_server_ignores_is_refused(
    versions: tuple[SecureStore, str], tmp_path: Path, ignoring: Callable[[], None]
) -> None:
    store, first = versions
    assert store.get("doc.txt", version_id=first) == b"first"
    ignoring()
    with pytest.raises(StorageError, match="another version"):
        store.head("doc.txt", version_id=first)
    with pytest.raises(StorageError, match="another version"):
        store.get("doc.txt", version_id=first)
    with pytest.raises(StorageError, match="another version"):
        store.download_file("doc.txt", tmp_path / "out", version_id=first)
    assert not (tmp_path / "out").exists()

"""The listing contract checks accept an honest S3-compatible server: ``rclone serve s3``.

Names whose order differs between UTF-8 bytes, UTF-16 units and locales, listed
in pages of three (``MaxKeys``, so that the order is checked across pages as
well), must pass every check, and come in the local walk's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import ClientSide, SecureStore, create_bucket
from securestore.tree import remove_tree, sync
from securestore.tree.listing import list_prefix, sort_key, walk_local
from tests.support.rclone import RcloneEndpoint, RcloneServer, find_rclone
from tests.tree.conftest import make_tree, read_tree
from tests.tree.test_listing_contract import KEY, TRICKY

pytestmark = pytest.mark.skipif(find_rclone() is None, reason="rclone is not installed")

NAMES = [*TRICKY, "a-d/c", "a/e/c", "a.d/c", "z\u00e9/\U0001f600/x"]


@pytest.fixture(scope="module")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneEndpoint]:
    with RcloneServer(tmp_path_factory.mktemp("rclone-listing")) as endpoint:
        yield endpoint


def test_an_honest_servers_pages_pass_every_check(rclone: RcloneEndpoint, tmp_path: Path) -> None:
    connection = rclone.connection()
    create_bucket(connection, "listing")

    pages: list[int] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["MaxKeys"] = 3
        pages.append(1)

    events = connection.client("s3").meta.events
    events.register("before-parameter-build.s3.ListObjectsV2", small_pages)
    store = SecureStore("listing", connection=connection, encryption=ClientSide(KEY))  # no SSE
    files = {name: name.encode() for name in NAMES}
    make_tree(tmp_path / "up", files)
    assert sync(tmp_path / "up", (store, "t/")).done == len(NAMES)
    pages.clear()
    listed = [entry.relative for entry in list_prefix(store, "t/")]
    assert len(pages) >= 5  # the order was checked across pages too
    walked = [entry.relative for entry in walk_local(tmp_path / "up", pytest.fail)]
    assert listed == walked == sorted(NAMES, key=sort_key)
    assert len(list(store.list_directory("t/"))) == len({name.split("/")[0] for name in NAMES})
    down = sync((store, "t/"), tmp_path / "down", delete=True)
    assert down.ok and read_tree(tmp_path / "down") == files
    again = sync(tmp_path / "up", (store, "t/"), delete=True)
    assert again.ok and (again.done, again.deleted) == (0, 0)
    assert remove_tree(store, "t/").deleted == len(NAMES)

"""A client-side download sync decides from the listing, and HEADs only what it cannot decide.

The listing has each object's ciphertext size and LastModified; the local file
has its size and its ctime (when it was last written or its times set: a
download sets the mtime, never the ctime). One HEAD shows the header length of
the job's messages; from then on a file whose size is the listed object's
plaintext size, and that changed well after the object was written, is left
alone without a HEAD. Every test counts the requests the sync sent (botocore's
own events on a connection of the test's own) and checks the files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore, SseS3
from securestore.tree import TreeOptions, sync
from securestore.tree.listing import Entry
from securestore.tree.sync import MTIME_METADATA, SETTLE_SECONDS, ListedSizes, Rules
from tests.tree.conftest import read_tree
from tests.tree.test_sync_listing import HOUR, Requests, metered, old_tree

__all__ = ["metered"]  # the fixture, shared with the upload tests


def headed(store: SecureStore) -> list[str]:
    """Start recording the keys HEADed through ``store``'s connection; the list fills."""
    keys: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys.append(params["Key"])

    events = store.connection.client("s3").meta.events
    events.register("before-parameter-build.s3.HeadObject", record)
    return keys


def synced_down(store: SecureStore, root: Path, count: int) -> tuple[Path, dict[str, bytes]]:
    """Upload ``count`` old files, wait out the settle margin, and download them to a folder."""
    files = old_tree(root / "up", count)
    assert sync(root / "up", (store, "p/")).done == count
    time.sleep(SETTLE_SECONDS + 0.2)  # the downloads' ctimes lie past it
    down = root / "down"
    assert sync((store, "p/"), down).done == count
    return down, files


def test_a_download_sync_with_nothing_to_do_heads_only_the_first_objects(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    down, files = synced_down(store, tmp_path, 60)
    requests.seen.clear()
    again = sync((store, "p/"), down, concurrency=2)
    assert again.ok and (again.done, again.unchanged) == (0, 60)
    # The HEADs sent while the first one was in flight, not one per object.
    assert 1 <= requests.seen["HeadObject"] <= 10, requests.seen
    assert requests.seen["GetObject"] == 0
    assert read_tree(down) == files


def test_an_object_rewritten_after_the_download_is_downloaded_without_a_head(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    # The same plaintext size and an older stored mtime (a re-upload of an older
    # version): only LastModified, newer than the file's ctime, shows the change.
    store, requests = metered
    down, files = synced_down(store, tmp_path, 20)
    time.sleep(1.1)  # a later whole second than the downloads' ctimes
    relative = "d2/f017.bin"  # the last in order: past the learning HEADs
    older = f"{time.time() - 3 * HOUR:.6f}"
    changed = os.urandom(len(files[relative]))
    store.put("p/" + relative, changed, metadata={MTIME_METADATA: older})
    requests.seen.clear()
    keys = headed(store)
    again = sync((store, "p/"), down, concurrency=1)
    assert (again.done, again.unchanged) == (1, 19)
    assert (down / relative).read_bytes() == changed
    assert requests.seen["GetObject"] == 1
    assert "p/" + relative not in keys and len(keys) <= 10, keys


def test_an_object_rewritten_just_after_the_download_is_headed(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    # Within the settle margin the listing cannot order the two: the HEAD decides.
    store, _ = metered
    down, files = synced_down(store, tmp_path, 10)
    relative = "d0/f000.bin"
    changed = os.urandom(len(files[relative]))
    store.put("p/" + relative, changed)  # stored mtime: none, so LastModified counts
    again = sync((store, "p/"), down, concurrency=1)
    assert (again.done, again.unchanged) == (1, 9)
    assert (down / relative).read_bytes() == changed


def test_a_local_file_edited_after_the_download(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    # As after a HEAD: the same size and a newer mtime keep the edit; another size
    # is downloaded again.
    store, requests = metered
    down, files = synced_down(store, tmp_path, 12)
    same, other = down / "d0/f003.bin", down / "d2/f005.bin"
    edited = os.urandom(len(files["d0/f003.bin"]))
    same.write_bytes(edited)
    other.write_bytes(b"shorter")
    requests.seen.clear()
    again = sync((store, "p/"), down, concurrency=1)
    assert (again.done, again.unchanged) == (1, 11)
    assert same.read_bytes() == edited
    assert other.read_bytes() == files["d2/f005.bin"]
    assert requests.seen["GetObject"] == 1


def test_exact_timestamps_heads_every_object(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    down, files = synced_down(store, tmp_path, 8)
    edited = down / "d1/f001.bin"
    edited.write_bytes(os.urandom(len(files["d1/f001.bin"])))  # same size, its mtime now
    requests.seen.clear()
    again = sync((store, "p/"), down, exact_timestamps=True, concurrency=1)
    assert (again.done, again.unchanged) == (1, 7)
    assert edited.read_bytes() == files["d1/f001.bin"]
    assert requests.seen["HeadObject"] == 8, requests.seen


def test_size_only_keeps_same_size_files_without_a_head(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    down, files = synced_down(store, tmp_path, 15)
    time.sleep(1.1)
    same, longer = "d2/f014.bin", "d0/f006.bin"  # same: the last in order
    store.put("p/" + same, os.urandom(len(files[same])))
    store.put("p/" + longer, files[longer] + b"more")
    requests.seen.clear()
    keys = headed(store)
    again = sync((store, "p/"), down, size_only=True, concurrency=1)
    assert (again.done, again.unchanged) == (1, 14)
    assert (down / same).read_bytes() == files[same]  # size only: same size, kept
    assert (down / longer).read_bytes() == files[longer] + b"more"
    assert "p/" + same not in keys, keys


def test_server_side_objects_are_headed_and_kept_correct(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    # Read beside messages with allow_plaintext: their listed size is the plaintext
    # size, which maps to no message size, so each is HEADed as before.
    store, requests = metered
    down, files = synced_down(store, tmp_path, 6)
    plain = {f"sse/{i}.txt": os.urandom(50 + i) for i in range(4)}
    for relative, data in plain.items():
        store.put("p/" + relative, data, encryption=SseS3())
    time.sleep(SETTLE_SECONDS + 0.2)
    mixed = TreeOptions(allow_plaintext=True)
    assert sync((store, "p/"), down, options=mixed).done == 4
    requests.seen.clear()
    keys = headed(store)
    again = sync((store, "p/"), down, options=mixed, concurrency=1)
    assert (again.done, again.unchanged) == (0, 10)
    assert {f"p/{relative}" for relative in plain} <= set(keys), keys
    time.sleep(1.1)
    changed = os.urandom(len(plain["sse/2.txt"]))
    store.put("p/sse/2.txt", changed, encryption=SseS3())
    assert sync((store, "p/"), down, options=mixed, concurrency=1).done == 1
    assert read_tree(down) == {**files, **plain, "sse/2.txt": changed}


@pytest.mark.parametrize("rules", [Rules(), Rules(exact_timestamps=True), Rules(size_only=True)])
def test_the_listing_never_keeps_a_file_older_than_its_object(rules: Rules) -> None:
    sizes = ListedSizes(4096, rules)
    now = time.time()
    listed = Entry("a", 1000, now)
    written_before = Entry("a", 10, now - HOUR, now - 5)
    expected = None if rules.size_only else True
    assert sizes.decide_download("p/a", listed, written_before) is expected
    # Nothing learnt: a file changed after the object is HEADed, never kept.
    assert sizes.decide_download("p/a", listed, Entry("a", 10, now - HOUR, now + 5)) is None
    # No ctime (not a walked file): a HEAD.
    assert sizes.decide_download("p/a", listed, Entry("a", 10, now - HOUR)) is None

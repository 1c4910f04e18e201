"""A client-side upload sync decides from the listing, and HEADs only what it cannot decide.

The listing has the ciphertext's size and the upload's LastModified; one HEAD
shows the header length of the job's messages, after which a listed size gives
the exact plaintext size. Every test counts the HEADs the sync sent (botocore's
own events on a connection of the test's own) and checks what was uploaded.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

from securestore import ClientSide, MultiKeyring, RawAesKeyring, RawRsaKeyring, SecureStore
from securestore.tree import sync
from securestore.tree.listing import Entry
from securestore.tree.sync import ListedSizes, Rules
from tests.conftest import Endpoint

KEY = RawAesKeyring("tests", "listing", b"k" * 32)
HOUR = 3600.0
RSA_KEY = rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)


class Requests:
    """Counts the S3 operations a client sends."""

    def __init__(self, client: Any) -> None:
        self.seen: Counter[str] = Counter()
        client.meta.events.register("before-call.s3", self._call)

    def _call(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1


@pytest.fixture
def metered(tls_endpoint: Endpoint, bucket: str) -> tuple[SecureStore, Requests]:
    connection = tls_endpoint.connection()
    requests = Requests(connection.client("s3"))
    store = SecureStore(bucket, connection=connection, encryption=ClientSide(KEY))
    return store, requests


def old_tree(root: Path, count: int, age: float = HOUR) -> dict[str, bytes]:
    """``count`` files whose mtimes lie ``age`` seconds in the past."""
    files = {f"d{i % 3}/f{i:03}.bin": os.urandom(100 + 37 * i) for i in range(count)}
    when = time.time() - age
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (when, when))
    return files


def test_a_sync_with_nothing_to_do_heads_only_the_first_objects(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    old_tree(tmp_path, 60)
    assert sync(tmp_path, (store, "p/")).done == 60
    requests.seen.clear()
    again = sync(tmp_path, (store, "p/"), concurrency=2)
    assert again.ok and (again.done, again.unchanged) == (0, 60)
    # The HEADs sent while the first one was in flight, not one per file.
    assert 1 <= requests.seen["HeadObject"] <= 10, requests.seen
    assert requests.seen["PutObject"] == 0


def test_a_changed_size_under_an_old_mtime_is_still_uploaded(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, _ = metered
    old_tree(tmp_path, 30)
    assert sync(tmp_path, (store, "p/")).ok
    target = tmp_path / "d1/f010.bin"
    before = os.stat(target)
    target.write_bytes(target.read_bytes() + b"x")  # one byte more, the old mtime back
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    again = sync(tmp_path, (store, "p/"), concurrency=1)
    assert (again.done, again.unchanged) == (1, 29)
    assert store.get("p/d1/f010.bin") == target.read_bytes()


def test_a_file_newer_than_its_object_is_uploaded_without_a_head(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    files = old_tree(tmp_path, 5)
    assert sync(tmp_path, (store, "p/")).ok
    future = time.time() + HOUR
    for relative in files:
        os.utime(tmp_path / relative, (future, future))
    requests.seen.clear()
    again = sync(tmp_path, (store, "p/"))
    assert again.done == 5
    assert requests.seen["HeadObject"] == 0, requests.seen


def test_a_file_written_just_before_its_upload_is_headed(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    # Within SETTLE_SECONDS of the upload the listing's LastModified cannot tell an
    # edit made during the upload from none: the stored mtime (a HEAD) decides.
    store, requests = metered
    old_tree(tmp_path, 20)
    assert sync(tmp_path, (store, "p/")).ok
    fresh = tmp_path / "d0/f000.bin"
    fresh.write_bytes(b"written now")
    assert sync(tmp_path, (store, "p/")).done == 1
    requests.seen.clear()
    again = sync(tmp_path, (store, "p/"), concurrency=1)
    assert (again.done, again.unchanged) == (0, 20)
    assert requests.seen["HeadObject"] >= 1


def test_objects_written_another_way_fall_back_to_a_head(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    files = old_tree(tmp_path, 12)
    assert sync(tmp_path, (store, "p/")).ok
    # Rewrite two objects with two keyrings (a longer header) and the same plaintext:
    # not what the sync would write now, so the listing cannot size them.
    rsa = RawRsaKeyring("tests", "rsa", private_key=RSA_KEY)
    two = ClientSide(MultiKeyring(KEY, [rsa]))
    other = SecureStore(store.bucket, connection=store.connection)
    for relative in ("d0/f000.bin", "d1/f001.bin"):
        other.put("p/" + relative, files[relative], encryption=two)
        os.utime(tmp_path / relative, (time.time() - HOUR, time.time() - HOUR))
    requests.seen.clear()
    again = sync(tmp_path, (store, "p/"), concurrency=1)
    assert (again.done, again.unchanged) == (0, 12)
    assert requests.seen["HeadObject"] >= 2


def test_exact_timestamps_always_asks_for_the_stored_mtime(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    old_tree(tmp_path, 6)
    assert sync(tmp_path, (store, "p/")).ok
    requests.seen.clear()
    again = sync(tmp_path, (store, "p/"), exact_timestamps=True)
    assert (again.done, again.unchanged) == (0, 6)
    assert requests.seen["HeadObject"] == 6


def test_a_dry_run_makes_the_comparison_too(
    metered: tuple[SecureStore, Requests], tmp_path: Path
) -> None:
    store, requests = metered
    old_tree(tmp_path, 8)
    assert sync(tmp_path, (store, "p/")).ok
    (tmp_path / "d2/f002.bin").write_bytes(b"changed")
    for exact in (False, True):
        dry = sync(tmp_path, (store, "p/"), dryrun=True, exact_timestamps=exact)
        assert (dry.done, dry.unchanged, dry.dryrun) == (1, 7, True), exact
    assert requests.seen["PutObject"] == 8  # the first sync's


def test_listed_sizes_map_a_ciphertext_size_to_one_plaintext_size(
    metered: tuple[SecureStore, Requests],
) -> None:
    store, _ = metered
    frame = 64
    mode = ClientSide(KEY, frame_length=frame)
    sizes = ListedSizes(frame, Rules())
    store.put("k/first", b"a" * 300, encryption=mode)
    assert sizes.plaintext_size("k/first", store.head("k/first").size) is None  # nothing learnt
    sizes.learn("k/first", store.head("k/first"))
    for length in (0, 1, frame - 1, frame, frame + 1, 5 * frame, 777):
        key = f"k/{'long/' * (length % 4)}{length}"
        store.put(key, b"b" * length, encryption=mode)
        stored = store.head(key).size
        assert sizes.plaintext_size(key, stored) == length
        # A byte more or less of ciphertext is no size we write, or another size.
        assert sizes.plaintext_size(key, stored + 1) != length
        assert sizes.plaintext_size(key, stored - 1) != length


def test_the_listing_never_calls_a_recent_file_unchanged() -> None:
    sizes = ListedSizes(4096, Rules())
    now = time.time()
    listed = Entry("a", 1000, now)
    # Nothing learnt: only "newer" is decided.
    assert sizes.decide("p/a", Entry("a", 10, now + 5), listed) is True
    assert sizes.decide("p/a", Entry("a", 10, now - HOUR), listed) is None
    assert (
        ListedSizes(4096, Rules(exact_timestamps=True)).decide(
            "p/a", Entry("a", 10, now + 5), listed
        )
        is None
    )
    # size_only never decides on time alone.
    assert (
        ListedSizes(4096, Rules(size_only=True)).decide("p/a", Entry("a", 10, now + 5), listed)
        is None
    )

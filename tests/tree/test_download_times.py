"""A plain tree download gives each file the later of the listing's and the GET's time.

The next sync compares the file with the listing. A server whose GET reports
another second than its listing (rclone, for some objects: a second earlier)
would otherwise have every such file downloaded again by each no-op sync.
Each test shifts the Last-Modified of the endpoint's real GET and HEAD answers.
"""

from __future__ import annotations

import datetime
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from securestore import SecureStore
from securestore.tree import Remote, sync
from tests.conftest import Endpoint

FILES = {f"d/f{i}.txt": f"data {i}".encode() * (i + 1) for i in range(6)}


def _shifted(client: Any, seconds: float) -> Counter[str]:
    """Shift the Last-Modified of GET and HEAD answers; count the operations sent."""
    seen: Counter[str] = Counter()

    def shift(parsed: dict[str, Any], **_: Any) -> None:
        if isinstance(parsed.get("LastModified"), datetime.datetime):
            parsed["LastModified"] += datetime.timedelta(seconds=seconds)

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    for operation in ("GetObject", "HeadObject"):
        client.meta.events.register(f"after-call.s3.{operation}", shift)
    client.meta.events.register("before-call.s3", count)
    return seen


def _listed(store: SecureStore) -> dict[str, float]:
    return {e.key: e.last_modified.timestamp() for e in store.list(prefix="t/")}


def _store(tls_endpoint: Endpoint, bucket: str, seconds: float) -> tuple[SecureStore, Counter[str]]:
    connection = tls_endpoint.connection()
    seen = _shifted(connection.client("s3"), seconds)
    store = SecureStore(bucket, connection=connection)
    for relative, data in FILES.items():
        store.put(f"t/{relative}", data)
    return store, seen


def test_a_get_a_second_behind_the_listing_keeps_the_listing_time(
    tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    store, seen = _store(tls_endpoint, bucket, -1.0)
    result = sync(Remote(store, "t/"), tmp_path / "out")
    assert result.done == len(FILES) and not result.failed
    for key, when in _listed(store).items():
        assert math.floor(os.stat(tmp_path / "out" / key[2:]).st_mtime) == math.floor(when)
    seen.clear()
    again = sync(Remote(store, "t/"), tmp_path / "out")
    assert again.done == 0 and not again.failed
    assert seen["GetObject"] == 0 and seen["HeadObject"] == 0, seen


def test_a_get_later_than_the_listing_keeps_the_get_time(
    tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    # A later GET time is a version written after the listing: the file must not
    # claim the listing's older time (the next sync would then see it as current).
    store, _ = _store(tls_endpoint, bucket, 30.0)
    sync(Remote(store, "t/"), tmp_path / "out")
    for key, when in _listed(store).items():
        mtime = os.stat(tmp_path / "out" / key[2:]).st_mtime
        assert math.floor(mtime) == math.floor(when + 30.0)

"""``rewrap_prefix``: every object of a prefix on the bounded transfer pool."""

from __future__ import annotations

import os
from collections.abc import Callable

from securestore import Connection, SecureStore, rewrap_prefix
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from securestore.message import parse
from tests.clientside.conftest import Raw
from tests.conftest import SMALL_TRANSFER
from tests.support.inflight import InFlight


def test_a_prefix_is_rewrapped_concurrently_with_results_by_key(
    new_connection: Callable[..., Connection], bucket: str, raw: Raw
) -> None:
    old = RawAesKeyring("team", "old", os.urandom(32))
    new = RawAesKeyring("team", "new", os.urandom(32))
    connection = new_connection(max_attempts=3)  # a loaded CI box may drop a request
    store = SecureStore(
        bucket, encryption=ClientSide(old), connection=connection, transfer=SMALL_TRANSFER
    )
    keys = [f"p/{i:03d}" for i in range(24)]
    for key in keys:
        store.put(key, key.encode())
    raw.put("p/plain", b"not a message")
    stranger = SecureStore(bucket, encryption=ClientSide(new), connection=connection)
    stranger.put("p/zz-other-key", b"other")
    seen: list[str] = []
    in_flight = InFlight(connection.client("s3"))

    outcome = rewrap_prefix(
        store,
        "p/",
        concurrency=4,
        on_result=lambda result: seen.append(result.key),
        add=[new],
        remove=[old],
    )
    failed = {key: str(error) for key, error in outcome.failed}
    assert [result.key for result in outcome.results] == keys, failed
    assert sorted(seen) == keys
    assert [skip.key for skip in outcome.skipped] == ["p/plain"]
    assert [key for key, _ in outcome.failed] == ["p/zz-other-key"]
    assert not outcome.ok
    assert 1 < in_flight.most <= 4  # concurrent, and bounded by the pool
    reader = SecureStore(bucket, encryption=ClientSide(new), connection=connection)
    for key in keys:
        assert reader.get(key) == key.encode()
        edks = parse(raw.get(key)).encrypted_data_keys
        assert [e.provider_info[:3] for e in edks] == [b"new"]

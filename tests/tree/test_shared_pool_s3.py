"""The shared request budget with real transfers against the TLS endpoint.

Requests in flight are counted with botocore's own events on the store's
client: ``before-send`` starts a request (and holds it a little, so that
requests overlap), ``response-received`` ends it, whatever the outcome. For a
GET that is the request and its response headers; the body is read afterwards.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from securestore import ClientSide, Connection, RawAesKeyring, SecureStore, TransferConfig
from securestore.tree import TreeOptions, copy_file, copy_tree
from tests.conftest import Endpoint
from tests.tree.conftest import make_tree, read_tree, uploads

MiB = 1024 * 1024


class InFlight:
    """Counts the S3 requests of one client that are in flight."""

    def __init__(self, client: Any, hold: float = 0.02) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0
        self.hold = hold
        client.meta.events.register("before-send.s3", self._start)
        client.meta.events.register("response-received.s3", self._end)

    def _start(self, **_: Any) -> None:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold)

    def _end(self, **_: Any) -> None:
        with self.lock:
            self.now -= 1


@pytest.fixture
def metered(tls_endpoint: Endpoint, bucket: str) -> tuple[SecureStore, InFlight, Connection]:
    # A connection of its own, so that the hooks stay on this test's client.
    connection = tls_endpoint.connection(max_pool_connections=16)
    meter = InFlight(connection.client("s3"))
    store = SecureStore(
        bucket,
        connection=connection,
        transfer=TransferConfig(part_size=5 * MiB, concurrency=3),
    )
    return store, meter, connection


@pytest.mark.timeout(240)
@pytest.mark.parametrize("client_side", [False, True], ids=["plain", "client-side"])
@pytest.mark.parametrize("max_concurrency", [1, 2])
def test_a_tree_of_large_and_small_files_keeps_requests_within_the_budget(
    metered: tuple[SecureStore, InFlight, Connection],
    tmp_path: Path,
    client_side: bool,
    max_concurrency: int,
) -> None:
    """Old code: 2 large objects x 3 parts each in flight besides the slots (up to 6 > 2)."""
    store, meter, connection = metered
    files = {f"small/{i:02}.txt": os.urandom(3000 + i) for i in range(8)}
    files.update({f"big{i}.bin": os.urandom(11 * MiB + i) for i in range(3)})
    make_tree(tmp_path / "src", files)
    options = TreeOptions()
    if client_side:
        mode = ClientSide(RawAesKeyring("tests", "pool", b"p" * 32))
        options = TreeOptions(encryption=mode, require=mode)

    up = copy_tree(tmp_path / "src", (store, "t"), options=options, concurrency=max_concurrency)
    assert up.ok and up.done == len(files), up.failed
    assert meter.total >= 3 * 5  # every big file went in parts
    assert 1 <= meter.peak <= max_concurrency
    assert uploads(connection, store.bucket) == []

    meter.peak = 0
    down = copy_tree((store, "t/"), tmp_path / "down", options=options, concurrency=max_concurrency)
    assert down.ok and down.done == len(files), down.failed
    assert 1 <= meter.peak <= max_concurrency
    assert read_tree(tmp_path / "down") == files


@pytest.mark.timeout(120)
def test_one_large_file_still_sends_its_parts_in_parallel(
    metered: tuple[SecureStore, InFlight, Connection], tmp_path: Path
) -> None:
    """copy_file (cp of one file) runs a manager of one object: its budget is the store's
    part concurrency (3 here), not one request at a time."""
    store, meter, _ = metered
    data = os.urandom(16 * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    assert copy_file(tmp_path / "big.bin", (store, "big.bin")).ok
    assert meter.peak == 3
    meter.peak = 0
    assert copy_file((store, "big.bin"), tmp_path / "back.bin").ok
    assert meter.peak >= 2  # GETs are counted until their headers only: they overlap less
    assert (tmp_path / "back.bin").read_bytes() == data

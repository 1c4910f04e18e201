"""The byte budget of part buffers across a whole tree transfer, against the TLS endpoint.

A tree upload ran up to ``concurrency`` parts of large files at once, each
holding its plaintext and ciphertext, plus a first part read ahead by every
object waiting to send parts (355 MiB for 20 x 256 MiB, client-side, where
aws-cli holds 89). The job now has one :class:`~securestore.buffers.BufferBudget`
(``RequestScheduler(max_buffer_bytes=...)``): parts wait for it before they are
read, and a file's parts are read only when they may be sent.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from securestore import ClientSide, RawAesKeyring, SecureStore, TransferConfig
from securestore.chunking import chunk_stream
from securestore.errors import TransferError
from securestore.transfer import bind_cancel, bind_scheduler
from securestore.tree import TreeOptions, copy_tree
from securestore.tree import manager as manager_module
from securestore.tree.scheduler import RequestScheduler
from tests.conftest import Endpoint
from tests.tree.conftest import make_tree, read_tree, uploads

MiB = 1024 * 1024
PART = 5 * MiB


class PartsInFlight:
    """UploadPart requests in flight on one client (body bytes sent, answer not back)."""

    def __init__(self, client: Any) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0
        client.meta.events.register("before-send.s3.UploadPart", self._start)
        client.meta.events.register("response-received.s3.UploadPart", self._end)

    def _start(self, **_: Any) -> None:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def _end(self, **_: Any) -> None:
        with self.lock:
            self.now -= 1


def budgeted(
    monkeypatch: pytest.MonkeyPatch, limit: int, max_parents: int | None = None
) -> list[RequestScheduler]:
    """Make the managers' schedulers use ``limit`` bytes of part buffers; return them."""
    made: list[RequestScheduler] = []

    class Scheduler(RequestScheduler):
        def __init__(self, max_concurrency: int, *, max_parents: int, **kwargs: Any) -> None:
            super().__init__(
                max_concurrency,
                max_parents=parents or max_parents,
                max_buffer_bytes=limit,
                **kwargs,
            )
            made.append(self)

    parents = max_parents
    monkeypatch.setattr(manager_module, "RequestScheduler", Scheduler)
    return made


@pytest.mark.timeout(240)
@pytest.mark.parametrize("client_side", [False, True], ids=["plain", "client-side"])
def test_parts_in_memory_stay_within_the_job_budget(
    tls_endpoint: Endpoint,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    connection = tls_endpoint.connection(max_pool_connections=16)
    meter = PartsInFlight(connection.client("s3"))
    store = SecureStore(
        bucket, connection=connection, transfer=TransferConfig(part_size=PART, concurrency=8)
    )
    limit = 3 * PART  # one part being read (plaintext and ciphertext) and one in flight
    schedulers = budgeted(monkeypatch, limit, max_parents=1)
    files = {f"big{i}.bin": os.urandom(4 * PART) for i in range(3)}
    files["small.txt"] = b"small"
    make_tree(tmp_path / "src", files)
    options = TreeOptions()
    if client_side:
        mode = ClientSide(RawAesKeyring("tests", "budget", b"b" * 32))
        options = TreeOptions(encryption=mode, require=mode)

    up = copy_tree(tmp_path / "src", (store, "t"), options=options, concurrency=8)

    assert up.ok and up.done == len(files), up.failed
    assert meter.total == 3 * 4
    (scheduler,) = schedulers
    # Whole parts: at most two fit (read: 2 x PART, then sent: PART). The parent's
    # one part that may always proceed (PART of ciphertext borrowed at
    # most beyond it). Without the budget: 8 slots of parts, 2 x PART each while read.
    assert scheduler.buffers.peak <= limit + 2 * PART + MiB
    assert meter.peak <= 2
    assert scheduler.buffers.used == 0  # every lease given back
    assert uploads(connection, store.bucket) == []
    down = copy_tree((store, "t/"), tmp_path / "down", options=options)
    assert down.ok, down.failed
    assert read_tree(tmp_path / "down") == files


@pytest.mark.timeout(240)
@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_a_budget_smaller_than_one_part_never_deadlocks(
    tls_endpoint: Endpoint,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    max_concurrency: int,
) -> None:
    """Every upload may always hold one part, and a lone part proceeds whatever its size."""
    store = SecureStore(
        bucket,
        connection=tls_endpoint.connection(),
        transfer=TransferConfig(part_size=PART, concurrency=max_concurrency),
        encryption=ClientSide(RawAesKeyring("tests", "budget", b"b" * 32)),
    )
    schedulers = budgeted(monkeypatch, 1)
    files = {f"big{i}.bin": os.urandom(2 * PART + i) for i in range(4)}
    make_tree(tmp_path / "src", files)
    up = copy_tree(tmp_path / "src", (store, "t"), concurrency=max_concurrency)
    assert up.ok and up.done == len(files), up.failed
    assert schedulers[0].buffers.used == 0


def test_a_part_waiting_for_the_job_budget_gives_up_at_once_when_the_job_is_cancelled() -> None:
    """Ctrl-C cancels the manager's event: a reader waiting for buffers must not hang."""
    scheduler = RequestScheduler(2, max_parents=2, max_buffer_bytes=10)
    cancel = threading.Event()
    outcome: list[BaseException | None] = []
    waiting = threading.Event()

    def upload() -> None:
        bind_cancel(cancel)
        bind_scheduler(scheduler)
        parts = chunk_stream(io.BytesIO(b"x" * 30), 10)
        first = next(parts)  # an upload's first part always proceeds
        try:
            waiting.set()
            next(parts)  # 20 + 20 bytes > 10, while its first part is held
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        finally:
            first.done()
            bind_scheduler(None)
            bind_cancel(None)

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    assert waiting.wait(60)
    time.sleep(0.2)
    assert outcome == []  # waiting for the budget
    cancel.set()
    # Nothing else would ever free the budget (the first part is released only after
    # the wait): ending at all is giving up on the cancel, not a wall-clock bound.
    thread.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], TransferError)
    assert scheduler.buffers.used == 0

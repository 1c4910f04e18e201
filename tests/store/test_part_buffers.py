"""Part buffers: a byte budget that waits and never deadlocks, buffers reused between parts.

A stream is read one part at a time (no part of look-ahead: one byte past a
full part tells whether it was the last) into buffers that are given back once
the part is sent, so that a long stream's memory is a fixed set of buffers
(concurrency plus the part being read) instead of a fresh plaintext and
ciphertext per part that the allocator keeps around.
"""

from __future__ import annotations

import gc
import io
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from securestore import Connection, SecureStore, TransferConfig
from securestore.buffers import BufferBudget, bind_budget
from securestore.chunking import chunk_stream, file_parts
from securestore.clientside import ClientSide
from securestore.errors import TransferError
from securestore.keyrings import RawAesKeyring
from securestore.parts import PartSchedule

MiB = 1024 * 1024
KEYRING = RawAesKeyring("securestore-test", "buffers", bytes(range(32)))


class CountingStream:
    """A pipe-like body (``read`` only) that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else len(self.data), 64 * 1024)
        piece = self.data[self.pos : self.pos + n]
        self.pos += len(piece)
        return piece


# -- the budget -----------------------------------------------------------------------


def test_a_lease_waits_while_the_budget_is_spent_and_goes_on_after_a_release() -> None:
    budget = BufferBudget(100)
    first = budget.lease(80)
    got: list[int] = []

    def second() -> None:
        lease = budget.lease(40)
        got.append(budget.used)
        lease.release()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.2)
    assert got == []  # 80 + 40 > 100: waits
    first.release()
    thread.join(5)
    assert got == [40]


def test_one_part_larger_than_the_whole_budget_proceeds_when_nothing_is_held() -> None:
    budget = BufferBudget(10)
    lease = budget.lease(1000)
    assert len(lease.buffer(1000)) == 1000
    lease.release()
    assert budget.used == 0


def test_a_waiting_lease_gives_up_when_cancelled() -> None:
    budget = BufferBudget(10)
    held = budget.lease(10)
    cancel = threading.Event()
    cancel.set()

    def cancelled() -> None:
        if cancel.is_set():
            raise TransferError("the transfer was cancelled")

    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            budget.lease(5, cancelled=cancelled)
        except BaseException as exc:  # checked below
            outcome.append(exc)

    # Nothing frees the budget until the wait has ended: ending at all (within a
    # generous bound, not a wall-clock one) is giving up on the cancel.
    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    thread.join(60)
    held.release()
    assert len(outcome) == 1 and isinstance(outcome[0], TransferError)


def test_released_buffers_are_reused_and_dropped_leases_are_not_recycled() -> None:
    budget = BufferBudget()
    lease = budget.lease(64)
    buffer = lease.buffer(64)
    lease.release()
    again = budget.lease(64)
    assert again.buffer(64) is buffer  # reused
    # A lease dropped without a release gives its bytes back, not its buffer: someone
    # may still read it.
    kept = again._buffers[0]
    del again
    gc.collect()
    assert budget.used == 0
    assert budget.lease(64).buffer(64) is not kept


def test_bytes_borrowed_beyond_a_reservation_are_counted_and_given_back() -> None:
    budget = BufferBudget(1000)
    lease = budget.lease(200)
    plain = lease.buffer(100)
    cipher = lease.buffer(150)  # a ciphertext: more than the reservation has left
    held = plain.__alloc__() + cipher.__alloc__()  # what is allocated is what counts
    assert budget.used == held > 200
    lease.recycle(plain)
    lease.settle()
    assert budget.used == cipher.__alloc__()
    lease.release()
    assert budget.used == 0
    assert budget.peak == held


def test_one_buffer_serves_a_plaintext_and_the_larger_ciphertext_in_place() -> None:
    budget = BufferBudget()
    lease = budget.lease(200)
    plain = lease.buffer(100, slack=10)
    lease.recycle(plain)
    cipher = lease.buffer(108)
    assert cipher is plain and len(cipher) == 108  # resized within its room
    lease.release()
    viewed = budget.lease(10).buffer(105)
    assert viewed is plain
    view = memoryview(viewed)
    budget._give(0, [viewed])
    # A buffer someone still views is never resized nor handed out again.
    assert budget.lease(10).buffer(100) is not plain
    view.release()


def test_buffers_in_use_and_kept_free_stay_within_the_limit() -> None:
    budget = BufferBudget(100)
    first = None
    for _ in range(3):
        lease = budget.lease(30)
        buffer = lease.buffer(30)
        first = first or buffer
        assert buffer is first  # allocated once, then reused
        lease.release()
    big = budget.lease(90)
    big.buffer(90)  # another size: the free buffer makes room
    assert budget._allocated + budget._free_bytes <= 100
    assert budget.peak_held <= 100


# -- cutting ----------------------------------------------------------------------------


def test_a_stream_is_read_one_part_at_a_time_without_look_ahead() -> None:
    source = CountingStream(os.urandom(25))
    parts = chunk_stream(source, PartSchedule.fixed(10))
    first = next(parts)
    # The old cutter read the whole next part to know that this one was not the last.
    assert source.pos == 11
    assert (bytes(first.data), first.last) == (source.data[:10], False)
    rest = list(parts)
    assert [bytes(p.data) for p in rest] == [source.data[10:20], source.data[20:]]
    assert [p.last for p in rest] == [False, True]


@pytest.mark.parametrize(("total", "lengths"), [(0, [0]), (10, [10]), (20, [10, 10])])
def test_a_stream_of_whole_parts_ends_with_a_full_last_part(total: int, lengths: list[int]) -> None:
    parts = list(chunk_stream(io.BytesIO(os.urandom(total)), 10))
    assert [len(p.data) for p in parts] == lengths
    assert [p.last for p in parts] == [False] * (len(lengths) - 1) + [True]


def test_file_parts_are_read_into_the_bound_budget(tmp_path: Any) -> None:
    path = tmp_path / "f"
    data = os.urandom(25)
    path.write_bytes(data)
    budget = BufferBudget(1000)
    bind_budget(budget)
    try:
        with path.open("rb") as handle:
            parts = file_parts(handle.fileno(), 25, 10)
            first = next(parts)
            assert budget.used == 20  # plaintext and ciphertext of one part reserved
            read = [bytes(first.data)]
            first.done()  # its buffer goes to the next part
            for part in parts:
                read.append(bytes(part.data))
                part.done()
    finally:
        bind_budget(None)
    assert b"".join(read) == data
    assert budget.used == 0


# -- a real upload ----------------------------------------------------------------------


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_a_stream_upload_reuses_a_fixed_set_of_buffers(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, client_side: bool
) -> None:
    concurrency = 2
    transfer = TransferConfig(part_size=5 * MiB, concurrency=concurrency)
    mode = ClientSide(KEYRING, frame_length=64 * 1024) if client_side else None
    store = fault_store(transfer=transfer, **({"encryption": mode} if mode else {}))
    bodies: list[Any] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        bodies.append(params["Body"])  # kept: distinct buffers stay distinct objects

    s3 = fault_connection.client("s3")
    s3.meta.events.register("provide-client-params.s3.UploadPart", note)
    try:
        data = os.urandom(10 * 5 * MiB + 1234)
        store.put("reused", CountingStream(data))
    finally:
        s3.meta.events.unregister("provide-client-params.s3.UploadPart", note)
    assert len(bodies) == 11
    full = bodies[1:-1]  # the first carries the header, the last is short
    distinct = {id(body) for body in full}
    # Before: a new buffer for every part (9 here). Now the parts in flight and the
    # one being read, whatever the stream's length.
    assert len(distinct) <= concurrency + 2
    assert store.get("reused") == data

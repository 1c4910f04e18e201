"""One request budget for a whole tree: the parts of many objects share the manager's slots.

The tasks here are instrumented stand-ins for objects (no S3): each "request"
is counted while it runs, so the tests see the number of requests in flight
and of parts in memory. The S3 counterpart, with real uploads and downloads,
is tests/tree/test_shared_pool_s3.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import TransferError
from securestore.errors import LocalFileError, StorageError
from securestore.transfer import check_cancelled, run_bounded
from securestore.tree import Task, TransferManager, TreeResult
from securestore.tree.paths import Local

#: A run that takes longer than this has deadlocked (each takes well under a second).
DEADLOCK = 30.0
#: A drain no interrupted test job needs in full, however loaded the machine.
DRAIN = 60.0


class Meter:
    """Counts what is in flight and remembers the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.total = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1

    def request(self, seconds: float = 0.005) -> None:
        self.enter()
        try:
            time.sleep(seconds)
        finally:
            self.leave()


def small(meter: Meter, name: str) -> Task:
    def run(advance: Callable[[int], None]) -> int:
        meter.request()
        advance(1)
        return 1

    return Task("upload", Local(Path(name)), Local(Path(name)), 1, run)


def large(
    requests: Meter,
    name: str,
    parts: int,
    *,
    memory: Meter | None = None,
    own_concurrency: int = 4,
    part_seconds: float = 0.01,
    log: list[str] | None = None,
) -> Task:
    """An object sent in ``parts`` parts as the write path does: create, parts, complete."""

    def produce() -> Iterator[int]:
        for number in range(1, parts + 1):
            if memory is not None:
                memory.enter()  # the part's bytes exist from here until it is sent
            yield number

    def send(number: int) -> int:
        try:
            requests.request(part_seconds)
            return number
        finally:
            if memory is not None:
                memory.leave()

    def run(advance: Callable[[int], None]) -> int:
        requests.request()  # CreateMultipartUpload
        done = run_bounded(produce(), send, concurrency=own_concurrency)
        assert done == list(range(1, parts + 1))  # in task order
        requests.request()  # CompleteMultipartUpload
        if log is not None:
            log.append(name)
        advance(parts)
        return parts

    return Task("upload", Local(Path(name)), Local(Path(name)), parts, run, large=True)


def run_with_timeout(manager: TransferManager, tasks: list[Task]) -> TreeResult:
    """Run in a thread so that a deadlock fails the test instead of hanging it."""
    box: list[TreeResult | BaseException] = []

    def target() -> None:
        try:
            box.append(manager.run(tasks))
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLOCK)
    assert not thread.is_alive(), "the transfer manager deadlocked"
    outcome = box[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.parametrize("max_concurrency", [1, 2, 3])
def test_requests_in_flight_never_exceed_max_concurrency(max_concurrency: int) -> None:
    """Large objects ran their parts on their own pools: 2 objects x 4 parts beside the slots."""
    meter = Meter()
    tasks = [small(meter, f"s{i}") for i in range(10)]
    tasks[2:2] = [large(meter, f"big{i}", 6) for i in range(4)]
    manager = TransferManager(concurrency=max_concurrency)
    result = run_with_timeout(manager, tasks)
    assert result.ok and result.done == 14
    assert meter.total == 10 + 4 * (6 + 2)
    assert meter.peak <= max_concurrency


@pytest.mark.parametrize("max_concurrency", [1, 2])
def test_no_deadlock_when_every_slot_is_taken_by_a_waiting_parent(max_concurrency: int) -> None:
    """More large objects than slots, all parents at once: each gives its slot to its parts."""
    meter = Meter()
    finished: list[str] = []
    tasks = [large(meter, f"big{i}", 3, log=finished) for i in range(6)]
    manager = TransferManager(concurrency=max_concurrency, large_in_flight=6)
    result = run_with_timeout(manager, tasks)
    assert result.ok and sorted(finished) == [f"big{i}" for i in range(6)]
    assert meter.peak <= max_concurrency


def test_one_large_object_fills_every_slot() -> None:
    """One big file keeps the whole budget busy, not only its store's own concurrency."""
    meter = Meter()
    task = large(meter, "huge", 16, own_concurrency=2, part_seconds=0.05)
    result = run_with_timeout(TransferManager(concurrency=4), [task])
    assert result.ok
    assert meter.peak == 4


def test_single_range_objects_use_every_slot_not_the_parent_limit() -> None:
    """Small downloads (one range each) run on their own slot: all slots busy at once."""
    barrier = threading.Barrier(3, timeout=5)

    def run(advance: Callable[[int], None]) -> int:
        return int(run_bounded([1], lambda n: (barrier.wait(), n)[1], concurrency=4)[0])

    tasks = [Task("download", Local(Path(f"f{i}")), Local(Path(f"f{i}")), 1, run) for i in range(6)]
    result = run_with_timeout(TransferManager(concurrency=3, large_in_flight=1), tasks)
    assert result.ok and result.done == 6


def test_parts_in_memory_are_bounded_by_the_budget() -> None:
    """A part is produced only once a slot is free for it, whatever the number of objects."""
    requests, memory = Meter(), Meter()
    tasks = [large(requests, f"big{i}", 8, memory=memory) for i in range(5)]
    tasks += [small(requests, f"s{i}") for i in range(5)]
    result = run_with_timeout(TransferManager(concurrency=3, large_in_flight=5), tasks)
    assert result.ok
    assert memory.total == 40 and memory.now == 0
    assert memory.peak <= 3


def test_a_failing_part_fails_its_object_alone_after_its_running_parts() -> None:
    """The first failure stops the object's intake, waits for its running parts, is recorded."""
    meter = Meter()
    started: list[int] = []
    running_at_failure: list[int] = []
    lock = threading.Lock()
    running = [0]

    def send(number: int) -> int:
        with lock:
            started.append(number)
            running[0] += 1
        try:
            if number == 3:
                raise StorageError("part 3 refused")
            meter.request(0.05)
            return number
        finally:
            with lock:
                running[0] -= 1

    def run(advance: Callable[[int], None]) -> int:
        try:
            run_bounded(range(1, 41), send, concurrency=4)
        except StorageError:
            running_at_failure.append(running[0])  # what the abort would race with
            raise
        return 40

    bad = Task("upload", Local(Path("bad")), Local(Path("bad")), 40, run, large=True)
    tasks = [bad, *(large(meter, f"big{i}", 4) for i in range(3))]
    result = run_with_timeout(TransferManager(concurrency=3), tasks)
    assert result.done == 3
    assert [f.source for f in result.failed] == ["bad"]
    assert str(result.failed[0].error) == "part 3 refused"
    assert running_at_failure == [0]
    assert len(started) < 40  # the intake stopped


def test_a_part_that_cannot_be_produced_fails_its_object_and_frees_its_slot() -> None:
    """A file that shrank mid-upload: the slot taken for the part it could not read is freed."""
    meter = Meter()

    def produce() -> Iterator[int]:
        yield 1
        raise LocalFileError("the file shrank while it was being uploaded")

    def run(advance: Callable[[int], None]) -> int:
        run_bounded(produce(), lambda n: meter.request(), concurrency=4)
        return 1

    bad = Task("upload", Local(Path("bad")), Local(Path("bad")), 2, run, large=True)
    tasks = [bad, *(large(meter, f"big{i}", 3) for i in range(3)), small(meter, "s")]
    result = run_with_timeout(TransferManager(concurrency=1), tasks)  # a leaked slot hangs
    assert result.done == 4
    assert [str(f.error) for f in result.failed] == ["the file shrank while it was being uploaded"]
    assert meter.peak == 1


def test_an_interrupt_cancels_parents_and_their_abandoned_parts() -> None:
    """Ctrl-C while parts hang: the manager returns within its drain, parts see the cancel."""
    release = threading.Event()
    in_part = threading.Semaphore(0)
    seen: list[str] = []
    ran: list[str] = []
    cleaned: list[str] = []

    def send(number: int) -> int:
        in_part.release()
        release.wait(60)
        try:
            check_cancelled()
        except TransferError:
            seen.append("cancelled")
            raise
        seen.append("wrote")
        return number

    def run(advance: Callable[[int], None]) -> int:
        ran.append("ran")
        try:
            run_bounded(range(10), send, concurrency=4)
        except TransferError:
            cleaned.append("aborted")  # as the write path aborts its upload
            raise
        return 10

    def items() -> Iterator[Any]:
        yield Task("upload", Local(Path("a")), Local(Path("a")), 10, run, large=True)
        yield Task("upload", Local(Path("b")), Local(Path("b")), 10, run, large=True)
        # Both slots hold a hanging part (however slowly the machine starts them).
        assert in_part.acquire(timeout=60) and in_part.acquire(timeout=60)
        raise KeyboardInterrupt

    # A drain far longer than the cleanup needs: returning before its end (not a
    # wall-clock bound on a loaded machine) shows the manager did not wait it out.
    manager = TransferManager(concurrency=2, drain_seconds=DRAIN)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        manager.run(items())
    assert time.monotonic() - started < DRAIN
    assert seen == []  # the hanging parts were abandoned, not waited for
    assert ran and cleaned == ["aborted"] * len(ran)  # every object that began cleaned up
    release.set()
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["cancelled", "cancelled"]  # both slots held a hanging part


def test_run_bounded_outside_a_manager_keeps_its_own_concurrency() -> None:
    meter = Meter()
    assert run_bounded(range(12), lambda n: (meter.request(0.02), n)[1], concurrency=3) == list(
        range(12)
    )
    assert meter.peak == 3


def test_workers_still_running_after_an_interrupt_report_nothing_more() -> None:
    """A task the interrupt could not stop (a botocore call) ends after ``run`` has raised:
    its ``on_event`` and progress calls would be written by a daemon thread while the CLI
    exits (after its ``error: interrupted`` line), which can abort the interpreter."""
    started = threading.Event()
    release = threading.Event()
    events: list[str] = []
    progress: list[Any] = []

    def hanging(advance: Callable[[int], None]) -> int:
        started.set()
        release.wait(DEADLOCK)  # not cancellable, like a request on a stalled network
        advance(5)
        return 5

    def items() -> Iterator[Any]:
        yield Task("upload", Local(Path("a")), Local(Path("a")), 5, hanging)
        assert started.wait(DEADLOCK)
        raise KeyboardInterrupt

    manager = TransferManager(
        concurrency=1,
        drain_seconds=0.1,
        on_event=lambda task, outcome, error: events.append(outcome),
        progress=progress.append,
    )
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        manager.run(items())
    reported = len(progress)
    release.set()
    for worker in set(threading.enumerate()) - before:
        worker.join(DEADLOCK)  # the abandoned task has ended
    assert events == []
    assert len(progress) == reported

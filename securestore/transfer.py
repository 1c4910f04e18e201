"""Planning and running multipart uploads and parallel ranged downloads.

Memory is bounded by design: an upload holds at most ``concurrency`` parts in
flight plus the one being read (the producer only reads the next part when a
worker is free; parts are cut in :mod:`securestore.chunking`, into buffers of a
:class:`~securestore.buffers.BufferBudget`) and a download streams each range
to its place in the destination file in small pieces. A failed upload is
aborted, so no multipart upload is left behind and the existing object is never
replaced. Writing downloads to local files lives in :mod:`securestore.localfile`.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3.exceptions

import securestore.arguments as args
from securestore.buffers import bind_budget
from securestore.chunking import Part, chunk_stream, file_parts
from securestore.errors import ConfigurationError, TransferError
from securestore.parts import MAX_OBJECT, MAX_PART, PartSchedule, growing_schedule

__all__ = [
    "MiB",
    "Part",
    "PartSchedule",
    "ProgressCallback",
    "RetryBudget",
    "SharedScheduler",
    "TransferConfig",
    "bind_cancel",
    "bind_scheduler",
    "check_cancelled",
    "chunk_stream",
    "file_parts",
    "read_body_into",
    "run_bounded",
]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
_MIN_PART = 5 * MiB  # S3's minimum size of every part but the last
_MAX_PARTS = 10_000

#: Bytes a resumed read must deliver before breaking again to count as progress.
MIN_READ_PROGRESS = 256 * 1024
#: Seconds a run of failed resumptions may last before a read gives up.
READ_RETRY_DEADLINE = 120.0

#: Called with the number of bytes just transferred (like boto3's ``Callback``).
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """How large objects are moved.

    Args:
        part_size: bytes per multipart part and per download range (>= 5 MiB);
            an object that fits in one part is written with a single PutObject.
        concurrency: parts or ranges in flight at once.
        read_retries: attempts in a row to resume a response body that broke
            mid-stream without delivering ``MIN_READ_PROGRESS`` bytes (see
            :class:`RetryBudget`).
        stream_steady_parts: parts of ``part_size`` a stream of unknown length
            sends before its parts grow (2,560 x 8 MiB = 20 GiB).
        stream_growth_every: parts per doubling after those; ``None`` picks the
            slowest growth that still reaches S3's 5 TiB (see
            :mod:`securestore.parts`).
    """

    part_size: int = 8 * MiB
    concurrency: int = 4
    read_retries: int = 3
    stream_steady_parts: int = 2560
    stream_growth_every: int | None = None

    def __post_init__(self) -> None:
        for name in ("part_size", "concurrency", "read_retries", "stream_steady_parts"):
            args.count(name, getattr(self, name))
        args.optional(args.count)("stream_growth_every", self.stream_growth_every)
        if self.part_size < _MIN_PART:
            raise ConfigurationError(f"part_size must be at least {_MIN_PART} bytes (S3's minimum)")
        if self.part_size > 5 * 1024 * MiB:
            raise ConfigurationError("part_size must be at most 5 GiB (S3's maximum)")
        if not 1 <= self.concurrency <= 64:
            raise ConfigurationError("concurrency must be between 1 and 64")
        if self.read_retries < 0:
            raise ConfigurationError("read_retries must not be negative")
        if not 1 <= self.stream_steady_parts <= _MAX_PARTS:
            raise ConfigurationError(f"stream_steady_parts must be between 1 and {_MAX_PARTS}")
        if self.stream_growth_every is not None and self.stream_growth_every < 1:
            raise ConfigurationError("stream_growth_every must be at least 1")

    def part_size_for(self, total: int) -> int:
        """A part size no smaller than configured that keeps ``total`` within 10,000 parts."""
        size = self.part_size
        while total > size * _MAX_PARTS:
            size *= 2
        return size

    def schedule_for(
        self,
        size: int | None,
        *,
        expected_size: int | None = None,
        unit: int = 1,
        max_part: int = MAX_PART,
        target: int = MAX_OBJECT,
    ) -> PartSchedule:
        """The part sizes of an upload of ``size`` bytes (``None``: unknown).

        A known size gets one part size (:meth:`part_size_for`). A stream gets
        ``part_size`` parts, or with ``expected_size`` the size that fits that many
        bytes in 10,000 parts, for as many parts as the hint needs (at least
        ``stream_steady_parts``), and grows after them, so that a wrong hint costs
        larger parts, never a failed upload. Sizes are rounded up to multiples of
        ``unit``; ``max_part`` and ``target`` are the limits in those units (see
        :func:`~securestore.parts.growing_schedule`).
        """
        if size is not None:
            return PartSchedule.fixed(_round_up(self.part_size_for(size), unit))
        steady = self.stream_steady_parts
        base = _round_up(self.part_size, unit)
        if expected_size is not None:
            if expected_size < 0:
                raise ConfigurationError("expected_size must not be negative")
            base = _round_up(self.part_size_for(expected_size), unit)
            steady = min(_MAX_PARTS, max(steady, -(-expected_size // base)))
        return growing_schedule(
            base,
            steady=steady,
            every=self.stream_growth_every,
            target=target,
            max_part=max_part,
            unit=unit,
        )


def _round_up(size: int, unit: int) -> int:
    return -(-size // unit) * unit


class RetryBudget:
    """How many times a broken response body may be resumed before the read gives up.

    Resuming after any progress at all is not enough: a connection that breaks
    after a few hundred bytes, every time, would be resumed forever (tens of
    thousands of connections). A failure counts as a *strike* unless at least
    ``min_progress`` bytes arrived since the previous failure; more than
    ``attempts`` strikes in a row give up, and so does a run of strikes lasting
    longer than ``deadline`` seconds (measured from the first failure of the run).
    One budget is shared by every attempt of one read (a download range, or an
    :class:`~securestore.reader.ObjectReader` across its ``read`` calls).

    Args:
        attempts: strikes tolerated in a row (``TransferConfig.read_retries``).
        min_progress: bytes an attempt must deliver to count as progress.
        deadline: seconds a run of strikes may last.
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        attempts: int,
        *,
        min_progress: int = MIN_READ_PROGRESS,
        deadline: float = READ_RETRY_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.min_progress = min_progress
        self.deadline = deadline
        self._clock = clock
        self._since_failure = 0
        self._strikes = 0
        self._started = 0.0
        #: Every failure so far (for messages).
        self.failures = 0

    def progressed(self, count: int) -> None:
        """Note that ``count`` bytes arrived."""
        self._since_failure += count

    def failed(self) -> str | None:
        """Note a broken body; return why to give up, or ``None`` to resume."""
        self.failures += 1
        now = self._clock()
        if self._strikes == 0 or self._since_failure >= self.min_progress:
            self._strikes, self._started = 1, now
        else:
            self._strikes += 1
        self._since_failure = 0
        if self._strikes > self.attempts:
            return (
                f"{self._strikes} attempts in a row delivered less than "
                f"{self.min_progress} bytes each"
            )
        if now - self._started > self.deadline:
            return f"still failing after {now - self._started:.0f} s of retries"
        return None


_worker = threading.local()


def check_cancelled() -> None:
    """Raise in a :func:`run_bounded` worker whose batch was abandoned.

    Work that writes somewhere shared (a download writing into a file
    descriptor, say) calls this before each write, so that a worker left behind
    by an interrupt never writes after the caller has moved on.

    Raises:
        TransferError: the batch was cancelled.
    """
    cancel: threading.Event | None = getattr(_worker, "cancel", None)
    if cancel is not None and cancel.is_set():
        raise TransferError("the transfer was cancelled")


def bind_cancel(event: threading.Event | None) -> None:
    """Make this thread a worker cancelled by ``event`` (a pool other than run_bounded's).

    :func:`check_cancelled` then fails once ``event`` is set, and a
    :func:`run_bounded` call made in this thread gives up (raising
    :class:`TransferError`, so that the work cleans up: an upload is aborted, a
    partial file removed) instead of waiting for its own tasks.
    """
    _worker.cancel = event


class SharedScheduler(Protocol):
    """A request budget shared by many :func:`run_bounded` calls (one tree transfer's).

    See :class:`securestore.tree.scheduler.RequestScheduler`.
    """

    def run(
        self, tasks: Iterable[Any], work: Callable[[Any], Any], *, parent: threading.Event | None
    ) -> list[Any]:
        """Run ``work`` on each task on the shared budget, as :func:`run_bounded` does."""
        ...


def bind_scheduler(scheduler: SharedScheduler | None) -> None:
    """Send this thread's :func:`run_bounded` calls to ``scheduler`` (``None``: run their own).

    A :class:`~securestore.tree.manager.TransferManager` binds its scheduler in
    its workers, so that the parts of every object share one bounded budget
    without the read and write paths knowing about it; the scheduler's
    ``buffers`` (a :class:`~securestore.buffers.BufferBudget`, if it has one)
    become the budget the thread's uploads read their parts into.
    """
    _worker.scheduler = scheduler
    bind_budget(getattr(scheduler, "buffers", None))


#: Seconds between checks of an enclosing pool's cancellation while run_bounded waits.
_PARENT_POLL = 0.05


def run_bounded(
    tasks: Iterable[Any],
    work: Callable[[Any], Any],
    *,
    concurrency: int,
) -> list[Any]:
    """Run ``work`` on each task with at most ``concurrency`` tasks in flight.

    Tasks are pulled from the iterable only when a slot is free, which is what
    bounds memory for streamed uploads. The first exception from a task stops
    the intake, waits for the running tasks and is re-raised. An interrupt of
    the caller (``KeyboardInterrupt``, or any other exception raised in the
    calling thread) does not wait: botocore calls cannot be cancelled, so the
    running tasks are abandoned on daemon threads (which never delay the
    process's exit) and :func:`check_cancelled` fails in them from then on.
    Results come back in task order. Called inside a worker of another pool
    (nested, as a tree transfer runs an object's parts), it also gives up when that
    pool is cancelled. In a thread bound to a shared scheduler
    (:func:`bind_scheduler`) the tasks run on that scheduler's budget instead,
    and ``concurrency`` gives way to it.
    """
    parent: threading.Event | None = getattr(_worker, "cancel", None)
    shared: SharedScheduler | None = getattr(_worker, "scheduler", None)
    if shared is not None:
        return shared.run(tasks, work, parent=parent)

    def check_parent() -> None:
        if parent is not None and parent.is_set():
            raise TransferError("the transfer was cancelled")

    def acquire(primitive: Callable[[], bool]) -> None:
        # Polled only when nested: the top-level caller's waits stay plain (and interruptible).
        while not primitive():
            check_parent()

    cancel = threading.Event()
    lock = threading.Condition()
    results: dict[int, Any] = {}
    failure: list[BaseException] = []
    slots = threading.Semaphore(concurrency)
    inbox: queue.SimpleQueue[tuple[int, list[Any]] | None] = queue.SimpleQueue()
    workers: list[threading.Thread] = []
    pending = [0]

    def serve() -> None:
        _worker.cancel = cancel
        while True:
            item = inbox.get()
            if item is None:
                return
            index, box = item
            del item
            try:
                if not cancel.is_set():
                    # The worker gets the only reference to its task, so it can release it early.
                    result = work(box.pop())
                    with lock:
                        results[index] = result
                    del result
            except BaseException as exc:  # handed to the caller
                with lock:
                    failure.append(exc)
                cancel.set()
            finally:
                box.clear()
                with lock:
                    pending[0] -= 1
                    lock.notify_all()
                slots.release()

    iterator = iter(tasks)
    try:
        for index in itertools.count():
            # Take a slot before producing the next task, so that no task (an
            # upload part, say) waits in memory for a worker.
            if parent is None:
                slots.acquire()
            else:
                acquire(lambda: slots.acquire(timeout=_PARENT_POLL))
            task = next(iterator, _END) if not cancel.is_set() else _END
            if task is _END:
                slots.release()
                break
            with lock:
                pending[0] += 1
            inbox.put((index, [task]))
            del task
            if len(workers) < concurrency:
                thread = threading.Thread(
                    target=serve, name=f"securestore-{len(workers)}", daemon=True
                )
                workers.append(thread)
                thread.start()
        with lock:
            while pending[0]:
                if parent is None:
                    lock.wait()
                else:
                    lock.wait(_PARENT_POLL)
                    check_parent()
    except BaseException:
        cancel.set()
        raise
    finally:
        for _ in workers:
            inbox.put(None)
    if failure:
        raise failure[0]
    return [results[i] for i in sorted(results)]


_END = object()


def read_body_into(body: Any, view: memoryview) -> int:
    """Read the next bytes of a botocore response body into ``view``; 0 at its end.

    botocore's and urllib3's ``readinto`` read into a fresh buffer and copy it
    into ``view`` (an allocation and two copies per call: more CPU than the
    decryption of the same bytes). The standard library's response underneath
    reads from the TLS socket straight into ``view``, so it is used when the
    body has that shape and nothing to decode (botocore never asks urllib3 to
    decode); any other body is read with its own ``readinto``. Once the response
    is complete its connection goes back to the pool, as urllib3 would do.
    Errors are those of urllib3 (``ProtocolError``), so callers retry as before.
    """
    raw = getattr(body, "_raw_stream", None)
    response = getattr(raw, "_fp", None)
    if not isinstance(response, http.client.HTTPResponse) or getattr(raw, "decode_content", True):
        count: int = body.readinto(view)
        return count
    try:
        count = response.readinto(view)
    except (http.client.HTTPException, OSError) as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise urllib3.exceptions.ProtocolError(f"Connection broken: {exc!r}", exc) from exc
    if count and response.isclosed():  # complete (an early end closes the connection)
        release: Callable[[], None] | None = getattr(raw, "release_conn", None)
        if release is not None:
            release()
    return count

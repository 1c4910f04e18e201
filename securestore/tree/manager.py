"""The :class:`TransferManager`: one bounded budget for every object of a tree transfer.

The caller's thread produces actions lazily (from streaming listings) and hands
each to a free worker; it never runs ahead of the pool, so memory stays bounded
whatever the size of the tree. Every request runs on one
:class:`~securestore.tree.scheduler.RequestScheduler` of ``concurrency``
slots, as in s3transfer: an object's own requests hold a slot, and the parts
of a large object (its :func:`~securestore.transfer.run_bounded` call) are
scheduled on the same slots while the object waits without one. Requests in
flight are therefore at most ``concurrency`` whatever the mix of small and
large objects, and so are small objects and parts being sent; at most
``large_in_flight`` objects send or fetch parts at once, each holding at most
one more part (the upload's look-ahead, see :func:`~securestore.transfer.chunk_stream`).

A failed object does not stop the others: it is recorded in the result. An
interrupt of the caller (Ctrl-C, SIGTERM) cancels the pool: every in-flight
multipart upload is aborted and every partial download removed by the
worker running it, and the manager waits up to ``drain_seconds`` for that
cleanup before it re-raises. Each multipart upload still open then (its abort
stalled or failed) is logged as a warning on the caller's thread, once, as a
single ``put`` does: a lifecycle rule or ``securestore uploads abort`` has to
remove it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from securestore.aborting import UploadLedger, bind_upload_ledger
from securestore.errors import (
    ConfigurationError,
    EndpointUnreachableError,
    SecureStoreError,
    TransferError,
)
from securestore.transfer import bind_cancel, bind_scheduler

from .paths import Local, Remote
from .results import Failure, Skip, TreeProgress, TreeResult

if TYPE_CHECKING:
    from securestore.store import SecureStore
from .scheduler import RequestScheduler

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Failure",
    "Skip",
    "TransferManager",
    "TreeProgress",
    "TreeResult",
    "VanishedError",
    "run_per_object",
]

#: Seconds an interrupted tree transfer waits for its workers to abort uploads and
#: remove partial files.
DRAIN_SECONDS = 3.0
#: Requests a tree transfer keeps in flight unless told otherwise. Small objects cost
#: one round trip each: at 50 ms round trips 16 in flight cap a tree download at
#: about 1.7x aws-cli's 10 whatever the CPU (docs/benchmark-log.md, "stop 23").
DEFAULT_CONCURRENCY = 32
_POLL = 0.05


class VanishedError(SecureStoreError):
    """Raised by a task whose local source no longer exists: recorded as skipped."""


@dataclass(frozen=True)
class Task:
    """One unit of work for the pool: ``run`` does it and returns the bytes moved.

    ``run`` returns ``None`` when, after looking (a HEAD), there was nothing to
    do. ``kind`` is ``upload``, ``download``, ``copy`` or ``delete``.
    """

    kind: str
    source: Local | Remote
    destination: Local | Remote
    size: int
    run: Callable[[Callable[[int], None]], int | None]
    #: Sent in parts (informational: the scheduler finds the objects that send parts).
    large: bool = False
    #: Whether the transfer is needed (a sync's HEAD comparison), asked in a dry run,
    #: which otherwise runs nothing; ``run`` makes the same comparison itself.
    needed: Callable[[], bool] | None = None


#: ``on_event(task, outcome, error)``: ``error`` is the failure's, for ``"failed"`` only.
Event = Callable[[Task, str, "SecureStoreError | None"], None]


class TransferManager:
    """Run :class:`Task` s on one bounded pool of worker threads.

    Args:
        concurrency: requests in flight at once, for objects and their parts
            alike (the parts of a large object take no more than this either,
            whatever its store's ``TransferConfig.concurrency``).
        large_in_flight: objects sending or fetching parts at once.
        progress: called with a :class:`TreeProgress` after every change (from
            worker threads).
        on_event: called with each task, ``"done"``, ``"dryrun"``, ``"unchanged"``
            or ``"failed"``, and the error of a failure (else ``None``), from worker
            threads; the CLI prints aws-cli's lines.
        unreachable_limit: after this many objects in a row failed to reach the
            endpoint (:class:`~securestore.errors.EndpointUnreachableError`, no
            success between them) the job stops with that error instead of
            waiting out the timeouts of every object left (default: twice the
            concurrency, at least 10).
    """

    def __init__(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        large_in_flight: int = 4,
        progress: Callable[[TreeProgress], None] | None = None,
        on_event: Event | None = None,
        drain_seconds: float = DRAIN_SECONDS,
        unreachable_limit: int | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise ConfigurationError(f"concurrency must be an integer, not {concurrency!r}")
        if not 1 <= concurrency <= 64:
            raise ConfigurationError("concurrency must be between 1 and 64")
        self.concurrency = concurrency
        self._unreachable_limit = unreachable_limit or max(10, 2 * concurrency)
        self.large_in_flight = max(1, large_in_flight)
        self._progress = progress
        self._on_event = on_event
        self._drain = drain_seconds
        self._lock = threading.Lock()
        self._files_total = 0
        self._bytes_total = 0
        self._files_done = 0
        self._bytes_done = 0
        self._listed = False
        self._reports = _Reports()

    # -- progress ---------------------------------------------------------------------

    def _notify(self) -> None:
        if self._progress is None:
            return
        with self._lock:
            snapshot = TreeProgress(
                self._files_done,
                self._files_total,
                self._bytes_done,
                self._bytes_total,
                self._listed,
            )
        progress = self._progress
        self._reports.call(lambda: progress(snapshot))

    def _advance(self, count: int) -> None:
        with self._lock:
            self._bytes_done += count
        self._notify()

    def _event(self, task: Task, outcome: str, error: SecureStoreError | None = None) -> None:
        on_event = self._on_event
        if on_event is not None:
            self._reports.call(lambda: on_event(task, outcome, error))

    # -- running ----------------------------------------------------------------------

    def run(
        self, items: Iterable[Task | Skip | Failure | None], *, dryrun: bool = False
    ) -> TreeResult:
        """Run every task ``items`` yields; record skips, failures and ``None`` (unchanged).

        Raises:
            EndpointUnreachableError: ``unreachable_limit`` objects in a row could not
                reach the endpoint; the job stopped (the rest were not tried).
            KeyboardInterrupt, and any other exception raised while producing
            the items (a listing that failed, say), after cancelling the pool.
        """
        result = TreeResult(dryrun=dryrun)
        self._reports = _Reports()
        cancel = threading.Event()
        scheduler = RequestScheduler(self.concurrency, max_parents=self.large_in_flight)
        # Objects in flight: those holding (or awaiting) a slot, plus the parents.
        capacity = self.concurrency + self.large_in_flight
        admitted = threading.Semaphore(capacity)
        inbox: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        idle = threading.Condition()
        in_flight = [0]
        bugs: list[BaseException] = []
        workers: list[threading.Thread] = []
        # Objects that failed to reach the endpoint since the last that did not.
        unreachable = [0]
        gave_up: list[EndpointUnreachableError] = []
        # The multipart uploads the workers created and did not complete or abort.
        ledger = UploadLedger()

        def finish(task: Task, outcome: str, moved: int, error: SecureStoreError | None) -> None:
            with self._lock:
                if isinstance(error, EndpointUnreachableError):
                    unreachable[0] += 1
                    if unreachable[0] >= self._unreachable_limit and not gave_up:
                        gave_up.append(error)
                        cancel.set()
                else:
                    unreachable[0] = 0
                self._files_done += 1
                if outcome in ("done", "dryrun"):
                    if task.kind == "delete":
                        result.deleted += 1
                    else:
                        result.done += 1
                        result.bytes += moved
                elif outcome == "unchanged":
                    result.unchanged += 1
                elif error is not None:
                    reported = self._on_event is not None  # told just below
                    where = (task.source.describe(), task.destination.describe())
                    result.add_failure(Failure(*where, error, reported=reported))
            self._event(task, outcome, error)
            self._notify()

        def perform(task: Task) -> None:
            work = task.run
            if dryrun:
                needed = task.needed
                if needed is None:
                    finish(task, "dryrun", task.size, None)
                    return
                work = lambda _advance: task.size if needed() else None  # noqa: E731
            try:
                # The slot is kept until the outcome is recorded and reported, so that
                # with concurrency=1 the next object starts after this one's event.
                with scheduler.slot(cancel):
                    attempt(task, work)
            except TransferError:  # cancelled while waiting for a slot: nothing ran
                if not cancel.is_set():
                    raise

        def attempt(task: Task, work: Callable[[Callable[[int], None]], int | None]) -> None:
            try:
                moved = work(self._advance)
            except VanishedError as exc:
                with self._lock:
                    result.add_skip(Skip(task.source.describe(), str(exc)))
                    self._files_done += 1
                return
            except SecureStoreError as exc:
                if not cancel.is_set():
                    finish(task, "failed", 0, exc)
                return
            except OSError as exc:
                finish(task, "failed", 0, _local_error(task, exc))
                return
            outcome = "dryrun" if dryrun else "done"
            finish(task, "unchanged" if moved is None else outcome, moved or 0, None)

        def serve() -> None:
            bind_cancel(cancel)
            bind_scheduler(scheduler)
            bind_upload_ledger(ledger)
            while True:
                task = inbox.get()
                if task is None:
                    return
                try:
                    if not cancel.is_set():
                        perform(task)
                except BaseException as exc:  # a bug: stop the job, re-raised by the caller
                    bugs.append(exc)
                    cancel.set()
                finally:
                    del task
                    with idle:
                        in_flight[0] -= 1
                        idle.notify_all()
                    admitted.release()

        try:
            for item in items:
                if bugs or gave_up:
                    break
                if item is None:
                    with self._lock:
                        result.unchanged += 1
                    continue
                if isinstance(item, Skip):
                    with self._lock:
                        result.add_skip(item)
                    continue
                if isinstance(item, Failure):
                    with self._lock:
                        result.add_failure(item)
                    continue
                with self._lock:
                    self._files_total += 1
                    self._bytes_total += item.size
                self._notify()
                while not admitted.acquire(timeout=_POLL):
                    pass
                with idle:
                    in_flight[0] += 1
                inbox.put(item)
                del item
                if len(workers) < capacity:
                    thread = threading.Thread(
                        target=serve, name=f"securestore-tree-{len(workers)}", daemon=True
                    )
                    workers.append(thread)
                    thread.start()
            with self._lock:
                self._listed = True
            self._notify()
            with idle:
                while in_flight[0] and not gave_up:
                    idle.wait(_POLL)
            if gave_up:  # objects still waiting out their timeouts: a bounded wait
                self._wait_for_cleanup(idle, in_flight)
        except BaseException:
            cancel.set()
            self._wait_for_cleanup(idle, in_flight)
            # Workers still running (botocore calls cannot be cancelled) report nothing
            # more: the caller has moved on, and a line written by a daemon thread while
            # the interpreter exits can abort it ("could not acquire lock for <stdout>").
            self._reports.close(self._drain)
            raise
        finally:
            for _ in workers:
                inbox.put(None)
            scheduler.close()
            # Here, not in the workers: one line per upload left, written before the
            # caller moves on (a worker still waiting on its abort stays silent).
            for left in ledger.left():
                left.warn(self._drain)
        if bugs:
            raise bugs[0]
        if gave_up:
            last = gave_up[0]
            raise EndpointUnreachableError(
                f"giving up: {unreachable[0]} objects in a row could not reach the endpoint, "
                f"none in between did (the last: {last}); the objects not yet transferred "
                "were not tried",
                hint=last.hint or "check the endpoint URL and that the server is running",
            ) from last
        return result

    def _wait_for_cleanup(self, idle: threading.Condition, in_flight: list[int]) -> None:
        """After an interrupt: let workers abort their uploads and remove partial files."""
        deadline = time.monotonic() + self._drain
        with idle:
            while in_flight[0] and time.monotonic() < deadline:
                idle.wait(_POLL)


class _Reports:
    """The calls of ``on_event`` and ``progress`` made by a run's workers, until closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = True

    def call(self, report: Callable[[], None]) -> None:
        with self._lock:
            if self._open:
                report()

    def close(self, wait: float) -> None:
        """Let a report under way end (waiting at most ``wait`` s); none is made afterwards."""
        acquired = self._lock.acquire(timeout=max(wait, 0.1))
        self._open = False
        if acquired:
            self._lock.release()


def _local_error(task: Task, exc: OSError) -> SecureStoreError:
    from securestore.errors import LocalFileError

    where = exc.filename or task.source.describe()
    return LocalFileError(f"{os.fsdecode(where)}: {exc.strerror or exc}")


def run_per_object(
    store: SecureStore,
    objects: Iterable[tuple[str, int]],
    work: Callable[[str, int], int | None],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> TreeResult:
    """Run ``work(key, size)`` for each ``(key, size)`` of ``store``'s bucket on one manager.

    For whole-object jobs over a prefix (rewrap, reencrypt): pulled from ``objects``
    as slots free up, a failure recorded without stopping the others, Ctrl-C
    cancelling the pool. ``work`` returns what a :class:`Task` ``run`` returns.
    """

    def task(key: str, size: int) -> Task:
        where = Remote(store, key)
        return Task("copy", where, where, size, lambda _advance: work(key, size))

    # ``work`` reports each object to its own caller: an on_event that does nothing marks
    # the failures reported, so the result keeps a bounded number (see TreeResult).
    manager = TransferManager(concurrency=concurrency, on_event=lambda *_: None)
    return manager.run(task(k, n) for k, n in objects)

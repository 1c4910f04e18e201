"""One budget of requests in flight, shared by every object of a tree transfer.

As in s3transfer, one :class:`~securestore.tree.manager.TransferManager` owns
one bounded budget and the parts of many objects are scheduled on it: a
:class:`RequestScheduler` has ``max_concurrency`` *slots*, and every request
(or small object, or part) runs while it holds one, so that a tree of 10,000
small files and one 100 GiB file both keep the connection pool busy and never
have more than ``max_concurrency`` requests, nor parts in memory, at once.

An object task takes a slot for its own requests (HEAD, PutObject,
CreateMultipartUpload, ...). When it calls
:func:`~securestore.transfer.run_bounded` (the store's read and write paths
do, for the parts of a large object) the call finds the scheduler bound to its
thread and becomes a *parent*: it gives its slot back while its parts run on the
scheduler's part workers, each part taking a slot, and takes one again for its
last requests (CompleteMultipartUpload). A parent therefore never occupies a
slot its own parts wait for, which is what keeps ``max_concurrency=1`` from
deadlocking. At most ``max_parents`` objects are parents at once (open
multipart uploads, threads); a parent permit is only ever awaited while no slot
is held, so permits and slots cannot wait on each other.

Cancellation is that of :func:`~securestore.transfer.run_bounded`: the first
failing part stops the object's intake, the running parts are waited for and
the failure is raised; a cancelled manager (Ctrl-C) makes every parent give up
at once, its abandoned parts seeing :func:`~securestore.transfer.check_cancelled`
fail.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any

from securestore.buffers import BufferBudget
from securestore.errors import TransferError
from securestore.transfer import bind_cancel

__all__ = ["RequestScheduler"]

#: Seconds between checks of a cancellation while waiting for a slot or permit.
_POLL = 0.05
#: Bytes of upload part buffers a tree transfer holds at once (s3transfer keeps ten
#: 8 MiB chunks): about eight 8 MiB parts in flight and one being read.
DEFAULT_BUFFER_BYTES = 80 * 1024 * 1024
_END = object()


class _Batch:
    """The parts of one parent: results, the first failure and the parts still running."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.lock = threading.Condition()
        self.results: dict[int, Any] = {}
        self.failure: list[BaseException] = []
        self.pending = 0


class _Item:
    __slots__ = ("batch", "box", "index", "work")

    def __init__(self, batch: _Batch, index: int, task: Any, work: Callable[[Any], Any]) -> None:
        self.batch = batch
        self.index = index
        # The worker pops the only reference to the task, so it can drop it early.
        self.box = [task]
        self.work = work


class RequestScheduler:
    """A budget of ``max_concurrency`` requests in flight for many objects and their parts.

    Used by the :class:`~securestore.tree.manager.TransferManager`: its object
    workers run each task inside :meth:`slot` and bind the scheduler to their
    thread (:func:`~securestore.transfer.bind_scheduler`), so that
    :func:`~securestore.transfer.run_bounded` calls made by the task come to
    :meth:`run`. :meth:`close` stops the part workers.

    Args:
        max_concurrency: requests (objects' own requests and parts) in flight at once.
        max_parents: objects sending or fetching parts at once.
        poll: seconds between checks of a cancellation while waiting.
        max_buffer_bytes: bytes of upload part buffers held at once by every
            object together (``buffers``, bound to the object workers' threads
            with the scheduler; see :mod:`securestore.buffers`).
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        max_parents: int,
        poll: float = _POLL,
        max_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        if max_concurrency < 1 or max_parents < 1:
            raise ValueError("max_concurrency and max_parents must be at least 1")
        self.max_concurrency = max_concurrency
        self.max_parents = max_parents
        self.buffers = BufferBudget(max_buffer_bytes, poll=poll)
        self._poll = poll
        self._slots = threading.Semaphore(max_concurrency)
        self._parents = threading.Semaphore(max_parents)
        self._held = threading.local()
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()

    # -- slots of object tasks --------------------------------------------------------

    @contextmanager
    def slot(self, cancel: threading.Event | None) -> Iterator[None]:
        """Hold a slot in this thread for the block (an object task's own requests).

        Raises:
            TransferError: ``cancel`` was set while waiting.
        """
        self._wait(self._slots, cancel)
        self._held.slot = True
        try:
            yield
        finally:
            # A parent interrupted mid-way may have given its slot back for good.
            if getattr(self._held, "slot", False):
                self._held.slot = False
                self._slots.release()

    def _wait(self, semaphore: threading.Semaphore, cancel: threading.Event | None) -> None:
        while not semaphore.acquire(timeout=self._poll):
            if cancel is not None and cancel.is_set():
                raise TransferError("the transfer was cancelled")

    # -- parts of a parent ------------------------------------------------------------

    def run(
        self,
        tasks: Iterable[Any],
        work: Callable[[Any], Any],
        *,
        parent: threading.Event | None,
    ) -> list[Any]:
        """:func:`~securestore.transfer.run_bounded` on the shared budget.

        Each task is pulled from ``tasks`` only once a slot is free and runs on a
        part worker holding that slot; results come back in task order. The
        calling thread gives its own slot back meanwhile and takes one again
        before returning; a sized collection of one task runs at once in the
        calling thread, on its slot. ``parent`` is the cancellation of the
        caller's pool.
        """
        had_slot = bool(getattr(self._held, "slot", False))
        if had_slot and isinstance(tasks, Sized) and len(tasks) == 1:
            # One part (the range of a small download): run it on the slot already held,
            # without a parent permit or a hand-over to a part worker.
            return [work(next(iter(tasks)))]
        if had_slot:
            self._held.slot = False
            self._slots.release()
        became_parent = not getattr(self._held, "parent", False)
        batch = _Batch()
        try:
            if became_parent:
                self._wait(self._parents, parent)  # no slot held here: see the module doc
                self._held.parent = True
            self._feed(batch, iter(tasks), work, parent)
            with batch.lock:
                while batch.pending:
                    batch.lock.wait(self._poll)
                    _check(parent)
        except BaseException:
            batch.cancel.set()
            if had_slot:
                self._take_back(parent)  # best effort, for the cleanup requests
            raise
        finally:
            if became_parent and getattr(self._held, "parent", False):
                self._held.parent = False
                self._parents.release()
        if had_slot and not self._take_back(parent):
            raise TransferError("the transfer was cancelled")
        if batch.failure:
            raise batch.failure[0]
        return [batch.results[i] for i in sorted(batch.results)]

    def _feed(
        self,
        batch: _Batch,
        iterator: Iterator[Any],
        work: Callable[[Any], Any],
        parent: threading.Event | None,
    ) -> None:
        for index in itertools.count():
            # The slot comes first, so that no task (an upload part) waits in memory.
            self._wait(self._slots, parent)
            try:
                task = next(iterator, _END) if not batch.cancel.is_set() else _END
            except BaseException:  # a part that could not be read: its slot is free again
                self._slots.release()
                raise
            if task is _END:
                self._slots.release()
                return
            with batch.lock:
                batch.pending += 1
            self._inbox.put(_Item(batch, index, task, work))
            del task
            self._start_worker()

    def _take_back(self, parent: threading.Event | None) -> bool:
        """Take a slot again for the caller; ``False`` when cancelled while waiting."""
        while not self._slots.acquire(timeout=self._poll):
            if parent is not None and parent.is_set():
                return False
        self._held.slot = True
        return True

    def _start_worker(self) -> None:
        # Every queued or running part holds a slot, so max_concurrency workers suffice.
        with self._workers_lock:
            if len(self._workers) >= self.max_concurrency:
                return
            thread = threading.Thread(
                target=self._serve, name=f"securestore-part-{len(self._workers)}", daemon=True
            )
            self._workers.append(thread)
        thread.start()

    def _serve(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            batch = item.batch
            bind_cancel(batch.cancel)
            try:
                if not batch.cancel.is_set():
                    result = item.work(item.box.pop())
                    with batch.lock:
                        batch.results[item.index] = result
                    del result
            except BaseException as exc:  # handed to the parent
                with batch.lock:
                    batch.failure.append(exc)
                batch.cancel.set()
            finally:
                item.box.clear()
                del item
                self._slots.release()
                with batch.lock:
                    batch.pending -= 1
                    batch.lock.notify_all()
                bind_cancel(None)
                del batch

    def close(self) -> None:
        """Stop the part workers once they are idle (abandoned parts finish on their own)."""
        with self._workers_lock:
            count = len(self._workers)
        for _ in range(count):
            self._inbox.put(None)


def _check(parent: threading.Event | None) -> None:
    if parent is not None and parent.is_set():
        raise TransferError("the transfer was cancelled")

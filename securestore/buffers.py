"""Part buffers: a byte budget for the parts in memory, and buffers reused between parts.

An upload holds its parts in memory while they are read, encrypted and sent.
Allocating a fresh 8 MiB plaintext and a fresh ciphertext for every part costs
page faults and lets the allocator keep freed parts in per-thread arenas (the
resident size of a long stream crept up with its length). A
:class:`BufferBudget` hands out buffers and takes them back for the next part,
and bounds the bytes of parts held at once, as s3transfer bounds its in-memory
upload chunks.

Each part is one :class:`Lease`: the reader of a part reserves its bytes before
reading (waiting while the budget is spent), the encryption of the part takes
its ciphertext buffer from the same lease without waiting (what it needs beyond
the reservation is borrowed), and the sender releases the lease once the
request is done. Only a lease's holder recycles its buffers (:meth:`Lease.release`):
a lease dropped without a release (a part that was never sent, a caller that
does not know about leases) gives its reservation back and lets its buffers go
to the garbage collector, so a buffer is never reused while anything may still
read it.

A budget never deadlocks: a reservation waits only for parts that are in flight
(which hold no other wait), and one part may always proceed when nothing else
is held, even if it is larger than the whole budget (a stream's parts grow).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from securestore.errors import ConfigurationError

__all__ = ["BufferBudget", "Lease", "LeaseGroup", "bind_budget", "bound_budget"]

#: Seconds between checks of a cancellation while a reservation waits.
_POLL = 0.05


class BufferBudget:
    """Bytes of part buffers held at once, and the free buffers kept for reuse.

    Args:
        limit: bytes that leases may reserve together (``None``: no bound, only
            reuse; a single upload is bounded by its concurrency already).
        poll: seconds between cancellation checks while waiting.
    """

    def __init__(self, limit: int | None = None, *, poll: float = _POLL) -> None:
        if limit is not None and limit < 1:
            raise ConfigurationError("a buffer budget must be at least one byte")
        self.limit = limit
        self._poll = poll
        self._lock = threading.Condition()
        self._used = 0
        self._free: list[bytearray] = []
        self._free_bytes = 0
        #: The most bytes reserved at once (for tests and benchmarks).
        self.peak = 0

    @property
    def used(self) -> int:
        """Bytes reserved by live leases."""
        with self._lock:
            return self._used

    def lease(
        self,
        nbytes: int,
        *,
        cancelled: Callable[[], None] | None = None,
        group: LeaseGroup | None = None,
    ) -> Lease:
        """Reserve ``nbytes`` for one part, waiting while the budget is spent.

        ``cancelled`` is called between waits and raises to give up (a cancelled
        transfer). A reservation proceeds at once when nothing is reserved, or
        when its ``group`` (the parts of one upload) holds no lease: every upload
        can always have one part, so an upload holding a part while it waits for
        something else (a tree transfer's parent permit) never starves the
        uploads it waits for.
        """
        with self._lock:
            while (
                self.limit is not None
                and self._used
                and self._used + nbytes > self.limit
                and (group is None or group.live)
            ):
                self._lock.wait(self._poll)
                if cancelled is not None:
                    cancelled()
            self._reserve(nbytes)
            self._trim()
            if group is not None:
                group.live += 1
        return Lease(self, nbytes, group)

    def _reserve(self, nbytes: int) -> None:
        self._used += nbytes
        self.peak = max(self.peak, self._used)

    def _trim(self) -> None:
        """Drop free buffers that no longer fit beside the reservations."""
        if self.limit is None:
            return
        while self._free and self._used + self._free_bytes > self.limit:
            self._free_bytes -= len(self._free.pop(0))

    def _take(self, least: int, most: int) -> bytearray:
        """A free buffer of ``least..most`` bytes, or a new one of ``least``."""
        with self._lock:
            best = None
            for index, buffer in enumerate(self._free):
                if least <= len(buffer) <= most and (
                    best is None or len(buffer) < len(self._free[best])
                ):
                    best = index
            if best is not None:
                buffer = self._free.pop(best)
                self._free_bytes -= len(buffer)
                return buffer
            if self._free:
                # One buffer out for one in: what is kept never exceeds what was in use.
                self._free_bytes -= len(self._free.pop(0))
        return bytearray(least)

    def _give(self, used: int, buffers: list[bytearray], group: LeaseGroup | None = None) -> None:
        with self._lock:
            self._used -= used
            if group is not None:
                group.live -= 1
            for buffer in buffers:
                if self.limit is None or self._used + self._free_bytes + len(buffer) <= self.limit:
                    self._free.append(buffer)
                    self._free_bytes += len(buffer)
            self._lock.notify_all()

    def _borrow(self, nbytes: int) -> None:
        with self._lock:
            self._reserve(nbytes)


class LeaseGroup:
    """The leases of one upload (see :meth:`BufferBudget.lease`)."""

    def __init__(self) -> None:
        #: Leases of the group not yet released (guarded by the budget's lock).
        self.live = 0


class Lease:
    """The buffers of one part and the bytes it holds of its :class:`BufferBudget`."""

    def __init__(
        self, budget: BufferBudget, reserved: int, group: LeaseGroup | None = None
    ) -> None:
        self._budget = budget
        self._group = group
        self._state = [reserved]  # shared with the finalizer: bytes still reserved
        self._buffers: list[bytearray] = []
        self._allocated = 0
        self._finalizer = weakref.finalize(self, _give_back, budget, self._state, group)

    def buffer(self, least: int, *, slack: int = 0) -> bytearray:
        """A buffer of at least ``least`` bytes (at most ``least + slack``; exact by default).

        Its contents are undefined. Bytes beyond the reservation are borrowed
        from the budget without waiting (a part's ciphertext is a little larger
        than its plaintext).
        """
        buffer = self._budget._take(least, least + slack)
        self._buffers.append(buffer)
        self._allocated += len(buffer)
        if self._allocated > self._state[0]:
            self._budget._borrow(self._allocated - self._state[0])
            self._state[0] = self._allocated
        return buffer

    def recycle(self, buffer: bytearray) -> None:
        """Give ``buffer`` back before the part is done (its plaintext, once encrypted).

        The caller guarantees that nothing reads or writes ``buffer`` any more.
        """
        for index, held in enumerate(self._buffers):
            if held is buffer:
                del self._buffers[index]
                self._allocated -= len(buffer)
                given = min(len(buffer), self._state[0] - self._allocated)
                self._state[0] -= given
                self._budget._give(given, [buffer])
                return

    def settle(self) -> None:
        """Give back what is reserved beyond the buffers taken so far."""
        extra = self._state[0] - self._allocated
        if extra > 0:
            self._state[0] = self._allocated
            self._budget._give(extra, [])

    def release(self) -> None:
        """The part is done: its buffers go back for reuse and its bytes to the budget.

        The caller guarantees that nothing reads or writes the buffers any more.
        Releasing twice does nothing.
        """
        if not self._finalizer.alive:
            return
        self._finalizer.detach()
        buffers, self._buffers = self._buffers, []
        reserved, self._state[0] = self._state[0], 0
        self._allocated = 0
        self._budget._give(reserved, buffers, self._group)


def _give_back(budget: BufferBudget, state: list[int], group: LeaseGroup | None) -> None:
    """A lease dropped unreleased: its reservation only (its buffers are garbage)."""
    reserved, state[0] = state[0], 0
    budget._give(reserved, [], group)


_bound = threading.local()


def bind_budget(budget: BufferBudget | None) -> None:
    """Make ``budget`` the one this thread's uploads read their parts into (``None``: own).

    A tree transfer binds its job's budget in its workers (through
    :func:`securestore.transfer.bind_scheduler`), so that the parts of every
    object share one bound.
    """
    _bound.budget = budget


def bound_budget() -> BufferBudget | None:
    """The budget bound to this thread, if any."""
    budget: BufferBudget | None = getattr(_bound, "budget", None)
    return budget

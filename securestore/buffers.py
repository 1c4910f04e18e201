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

    Two counts: *reserved* bytes (what leases may use: admission waits on it)
    and *allocated* bytes (buffers handed out). A released buffer is kept for
    reuse while allocated and free buffers together stay within ``limit``;
    a free buffer is dropped only to make room for one of another size, so a
    steady transfer allocates its buffers once.

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
        self._allocated = 0
        self._free: list[bytearray] = []
        self._free_bytes = 0
        #: The most bytes reserved at once (for tests and benchmarks).
        self.peak = 0
        #: The most bytes of buffers in use and kept free at once.
        self.peak_held = 0

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
            if group is not None:
                group.live += 1
        return Lease(self, nbytes, group)

    def _reserve(self, nbytes: int) -> None:
        self._used += nbytes
        self.peak = max(self.peak, self._used)

    def _take(self, least: int, slack: int) -> bytearray:
        """A buffer of exactly ``least`` bytes: a free one resized in place, or a new one.

        A new buffer gets room for ``least + slack`` bytes, so that one size class
        serves a part's plaintext, its ciphertext and the odd sizes of the first
        part (the header) and the last (the final frame) without reallocating.
        """
        with self._lock:
            buffer = self._reuse(least)
            if buffer is None:
                # Room for a new buffer: one out for one in without a limit (what is
                # kept never exceeds what was in use), or as many as the limit needs.
                while self._free and (
                    self.limit is None
                    or self._allocated + self._free_bytes + least + slack > self.limit
                ):
                    self._free_bytes -= _capacity(self._free.pop(0))
                    if self.limit is None:
                        break
                self._allocated += least + slack + 1
            else:
                self._allocated += _capacity(buffer)
            self.peak_held = max(self.peak_held, self._allocated + self._free_bytes)
        if buffer is None:
            buffer = bytearray(least + slack)
            del buffer[least:]  # a minor downsize: the room stays allocated
        return buffer

    def _reuse(self, least: int) -> bytearray | None:
        """The smallest free buffer that holds ``least`` bytes without reallocating."""
        # One pass, inlined: called for every buffer of every part (a tree of small
        # files takes thousands), over a free list as long as the parts in flight.
        # CPython reallocates a bytearray that shrinks below half its allocation.
        double = 2 * least
        fits = [
            (capacity, index)
            for index, free in enumerate(self._free)
            if least < (capacity := free.__alloc__()) <= double
        ]
        if not fits:
            return None
        fits.sort()
        for capacity, index in fits:
            buffer = self._free[index]
            try:
                if len(buffer) > least:
                    del buffer[least:]
                elif len(buffer) < least:
                    buffer.extend(bytes(least - len(buffer)))
            except BufferError:  # still viewed by someone: left alone
                continue
            del self._free[index]
            self._free_bytes -= capacity
            return buffer
        return None

    def _give(
        self,
        used: int,
        buffers: list[bytearray],
        group: LeaseGroup | None = None,
        dropped: int = 0,
    ) -> None:
        """Take back ``used`` reserved bytes, ``buffers`` for reuse, ``dropped`` bytes gone."""
        with self._lock:
            self._used -= used
            self._allocated -= dropped
            if group is not None:
                group.live -= 1
            for buffer in buffers:
                size = _capacity(buffer)
                self._allocated -= size
                if self.limit is None or self._allocated + self._free_bytes + size <= self.limit:
                    self._free.append(buffer)
                    self._free_bytes += size
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
        # Shared with the finalizer: bytes still reserved, bytes of buffers taken.
        self._state = [reserved, 0]
        self._buffers: list[bytearray] = []
        self._finalizer = weakref.finalize(self, _give_back, budget, self._state, group)

    def buffer(self, least: int, *, slack: int = 0) -> bytearray:
        """A buffer of exactly ``least`` bytes (a new one with room for ``slack`` more).

        Its contents are undefined. Bytes beyond the reservation are borrowed
        from the budget without waiting (a part's ciphertext is a little larger
        than its plaintext).
        """
        buffer = self._budget._take(least, slack)
        self._buffers.append(buffer)
        state = self._state
        state[1] += _capacity(buffer)
        if state[1] > state[0]:
            self._budget._borrow(state[1] - state[0])
            state[0] = state[1]
        return buffer

    def recycle(self, buffer: bytearray) -> None:
        """Give ``buffer`` back before the part is done (its plaintext, once encrypted).

        The caller guarantees that nothing reads or writes ``buffer`` any more.
        """
        for index, held in enumerate(self._buffers):
            if held is buffer:
                del self._buffers[index]
                state = self._state
                state[1] -= _capacity(buffer)
                given = min(_capacity(buffer), state[0] - state[1])
                state[0] -= given
                self._budget._give(given, [buffer])
                return

    def settle(self) -> None:
        """Give back what is reserved beyond the buffers taken so far."""
        state = self._state
        extra = state[0] - state[1]
        if extra > 0:
            state[0] = state[1]
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
        reserved = self._state[0]
        self._state[:] = [0, 0]
        self._budget._give(reserved, buffers, self._group)


def _capacity(buffer: bytearray) -> int:
    """Bytes a buffer holds allocated (its length plus the room it keeps)."""
    return int(buffer.__alloc__())


def _fits(buffer: bytearray, least: int) -> bool:
    """Whether ``buffer`` takes ``least`` bytes in place (CPython reallocates a bytearray
    that shrinks below half its allocation)."""
    return least < _capacity(buffer) <= 2 * least


def _give_back(budget: BufferBudget, state: list[int], group: LeaseGroup | None) -> None:
    """A lease dropped unreleased: its reservation only (its buffers are garbage)."""
    reserved, taken = state
    state[:] = [0, 0]
    budget._give(reserved, [], group, dropped=taken)


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

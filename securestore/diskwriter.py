"""Writing a parallel download into its file one write at a time, without stalling readers.

A ranged download used to ``pwrite`` from each network worker as its bytes
arrived. Buffered writes to one file serialize on its inode lock (ext4 holds it
for the whole copy into the page cache, dirty-page throttling included), so the
workers queued behind each other's writes instead of reading their sockets,
and the writeback hint could stall them too (see docs/benchmark-log.md, "stop 20,
download_file vs boto3").

:class:`DiskWriter` combines the writes instead: a worker fills a buffer from a
small pool (:meth:`DiskWriter.buffer`) and hands it over
(:meth:`DiskWriter.submit`). If no other thread is writing, it writes what is
queued itself (its own buffer and any handed over meanwhile); otherwise it
leaves its buffer to the thread that is writing and goes back to its socket.
One thread at a time writes, no worker waits on another's write unless the
pool is used up (then it helps write), and there is no extra thread to hand
buffers to. Whoever writes also starts the writeback of every
:data:`WRITEBACK_EVERY` bytes written (``writeback``, a hint: the caller still
fsyncs before the rename), so that the final fsync has little left.

Nothing is written once the batch is cancelled (each write first calls
:func:`~securestore.transfer.check_cancelled`, as the workers' own writes did),
or once the block is left by an exception: leaving it waits for a write in
progress to end, so that nothing reaches the file after the caller goes on to
remove it. Leaving it normally writes anything still queued.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from securestore.errors import TransferError
from securestore.localfile import pwrite_all
from securestore.transfer import MiB, ProgressCallback, check_cancelled

__all__ = ["WRITEBACK_EVERY", "DiskWriter"]

#: Bytes written between two writeback hints (each covers what was written since the last).
WRITEBACK_EVERY = 8 * MiB
#: Seconds between checks of the batch's cancellation while a worker waits for a buffer.
_POLL = 0.05


class DiskWriter:
    """The writes of one parallel download into ``fd`` (see the module docstring).

    Args:
        fd: the open (partial) destination file.
        buffer_size: bytes of each pooled buffer.
        buffers: at most this many buffers exist at once (at least 2; a worker
            holds one at a time, so one more than the workers keeps them reading).
        writeback: ``writeback(fd, offset, length)`` starts the writeback of bytes
            written (a hint such as :func:`securestore.ranges.start_writeback`).
        progress: called with the bytes written, after they are written.
    """

    def __init__(
        self,
        fd: int,
        *,
        buffer_size: int,
        buffers: int,
        writeback: Callable[[int, int, int], None],
        progress: ProgressCallback | None = None,
    ) -> None:
        self._fd = fd
        self._size = buffer_size
        self._limit = max(2, buffers)
        self._writeback = writeback
        self._progress = progress
        self._made = 0
        self._free: list[memoryview] = []
        self._queue: deque[tuple[memoryview, int, int]] = deque()
        self._room = threading.Condition()  # guards the pool and the queue
        self._writing = threading.Lock()  # held by the one thread writing
        self._stopped = False
        #: Bytes written since the last writeback hint, as (offset, length) runs.
        self._unsynced: list[tuple[int, int]] = []
        self._unsynced_bytes = 0

    def __enter__(self) -> DiskWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is not None:
            with self._room:
                self._stopped = True
                self._queue.clear()
                self._room.notify_all()
            with self._writing:  # a write in progress ends before the caller moves on
                return
        self._drain(wait=True)
        with self._writing:
            self._hint()

    def buffer(self) -> memoryview:
        """A free buffer of ``buffer_size`` bytes for the next :meth:`submit`.

        When the pool is used up, the caller writes queued buffers (or waits for
        the thread writing them) until one is free.
        """
        while True:
            with self._room:
                if self._stopped:
                    raise TransferError("the transfer was cancelled")
                if self._free:
                    return self._free.pop()
                if self._made < self._limit:
                    self._made += 1
                    return memoryview(bytearray(self._size))
                queued = bool(self._queue)
                if not queued:
                    self._room.wait(_POLL)  # every buffer is being filled: one comes back soon
            if queued:
                self._drain(wait=True)
            check_cancelled()  # an abandoned worker gives up instead of waiting on

    def submit(self, buffer: memoryview, length: int, offset: int) -> None:
        """Write ``buffer[:length]`` at ``offset`` (now, or by the thread writing).

        ``buffer`` belongs to the writer from now on.
        """
        with self._room:
            if self._stopped:
                raise TransferError("the transfer was cancelled")
            self._queue.append((buffer, length, offset))
        self._drain(wait=False)

    def release(self, buffer: memoryview) -> None:
        """Give back a buffer that will not be submitted (its worker failed)."""
        with self._room:
            self._free.append(buffer)
            self._room.notify()

    def _drain(self, *, wait: bool) -> None:
        """Write the queue if no other thread is writing it (or, with ``wait``, after it)."""
        while self._writing.acquire(blocking=wait):
            written = 0
            try:
                while True:
                    with self._room:
                        if self._stopped or not self._queue:
                            break
                        buffer, length, offset = self._queue.popleft()
                    self._write(buffer, length, offset)
                    written += length
            finally:
                self._writing.release()
            # Told outside the lock: a slow callback must not hold up the writes.
            if written and self._progress is not None:
                self._progress(written)
            with self._room:
                # Queued after this thread's last look, by a worker that found the lock taken.
                if self._stopped or not self._queue:
                    return

    def _write(self, buffer: memoryview, length: int, offset: int) -> None:
        check_cancelled()
        pwrite_all(self._fd, buffer[:length], offset)
        with self._room:
            self._free.append(buffer)
            self._room.notify()
        self._unsynced.append((offset, length))
        self._unsynced_bytes += length
        if self._unsynced_bytes >= WRITEBACK_EVERY:
            self._hint()

    def _hint(self) -> None:
        """Start the writeback of what was written since the last hint, run by run."""
        runs = sorted(self._unsynced)
        self._unsynced, self._unsynced_bytes = [], 0
        start = end = -1
        for offset, length in runs:
            if offset != end:
                if end > start:
                    self._writeback(self._fd, start, end - start)
                start = offset
            end = offset + length
        if end > start:
            self._writeback(self._fd, start, end - start)

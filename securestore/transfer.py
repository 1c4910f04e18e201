"""Planning and running multipart uploads and parallel ranged downloads.

Memory is bounded by design: an upload holds at most ``concurrency + 1`` parts
in memory (the producer only reads the next part when a worker is free) and a
download streams each range to its place in the destination file in small
pieces. A failed upload is aborted, so no multipart upload is left behind and
the existing object is never replaced. Writing downloads to local files
lives in :mod:`securestore.localfile`.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, Any

from securestore.errors import ConfigurationError, LocalFileError

__all__ = [
    "MiB",
    "Part",
    "ProgressCallback",
    "TransferConfig",
    "chunk_stream",
    "file_parts",
    "run_bounded",
]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
_MIN_PART = 5 * MiB  # S3's minimum size of every part but the last
_MAX_PARTS = 10_000

#: Called with the number of bytes just transferred (like boto3's ``Callback``).
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """How large objects are moved.

    Args:
        part_size: bytes per multipart part and per download range (>= 5 MiB);
            an object that fits in one part is written with a single PutObject.
        concurrency: parts or ranges in flight at once.
        read_retries: attempts to resume a response body that broke mid-stream.
    """

    part_size: int = 8 * MiB
    concurrency: int = 4
    read_retries: int = 3

    def __post_init__(self) -> None:
        if self.part_size < _MIN_PART:
            raise ConfigurationError(f"part_size must be at least {_MIN_PART} bytes (S3's minimum)")
        if self.part_size > 5 * 1024 * MiB:
            raise ConfigurationError("part_size must be at most 5 GiB (S3's maximum)")
        if not 1 <= self.concurrency <= 64:
            raise ConfigurationError("concurrency must be between 1 and 64")
        if self.read_retries < 0:
            raise ConfigurationError("read_retries must not be negative")

    def part_size_for(self, total: int) -> int:
        """A part size no smaller than configured that keeps ``total`` within 10,000 parts."""
        size = self.part_size
        while total > size * _MAX_PARTS:
            size *= 2
        return size


@dataclass(frozen=True)
class Part:
    """One part of an upload: its 1-based number, its bytes and whether it is the last."""

    number: int
    data: bytes | bytearray | memoryview
    last: bool


def chunk_stream(
    source: bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes], size: int
) -> Iterator[Part]:
    """Cut ``source`` into parts of exactly ``size`` bytes (the last may be shorter).

    Reads lazily with one part of look-ahead, so that the last part is known
    as such; an empty source yields one empty last part.
    """
    pieces = _pieces(source, size)
    number = 1
    current = next(pieces, b"")
    for following in pieces:
        yield Part(number, current, last=False)
        number += 1
        current = following
    yield Part(number, current, last=True)


def _pieces(
    source: bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes], size: int
) -> Iterator[bytes | memoryview]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source).cast("B")
        for start in range(0, len(view), size):
            yield view[start : start + size]
        return
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            data = _read_exactly(read, size)
            if not data:
                return
            yield data
            if len(data) < size:
                return
    else:
        buffer = bytearray()
        for piece in source:
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise ConfigurationError("an iterable body must yield bytes")
            buffer += piece
            while len(buffer) >= size:
                yield bytes(buffer[:size])
                del buffer[:size]
        if buffer:
            yield bytes(buffer)


def _read_exactly(read: Callable[[int], Any], size: int) -> bytes:
    """Read ``size`` bytes, looping over short reads (pipes); fewer only at EOF."""
    first = read(size)
    if first is None:
        first = b""
    if not isinstance(first, bytes | bytearray):
        raise ConfigurationError("the body's read() must return bytes (open files in 'rb' mode)")
    if len(first) == size or not first:
        return bytes(first)
    buffer = bytearray(first)
    while len(buffer) < size:
        more = read(size - len(buffer))
        if not more:
            break
        buffer += more
    return bytes(buffer)


def run_bounded(
    tasks: Iterable[Any],
    work: Callable[[Any], Any],
    *,
    concurrency: int,
) -> list[Any]:
    """Run ``work`` on each task with at most ``concurrency`` tasks in flight.

    Tasks are pulled from the iterable only when a slot is free, which is what
    bounds memory for streamed uploads. The first exception stops the intake,
    waits for running tasks and is re-raised. Results come back in task order.
    """
    cancel = threading.Event()
    results: dict[int, Any] = {}
    slots = threading.Semaphore(concurrency)
    futures: list[Future[Any]] = []
    failure: list[BaseException] = []

    def done(index: int, future: Future[Any]) -> None:
        slots.release()
        exc = future.exception()
        if exc is not None:
            failure.append(exc)
            cancel.set()
        else:
            results[index] = future.result()

    iterator = iter(tasks)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="securestore") as pool:
        try:
            for index in itertools.count():
                # Take a slot before producing the next task, so that no task (an
                # upload part, say) waits in memory for a worker.
                slots.acquire()
                task = next(iterator, _END) if not cancel.is_set() else _END
                if task is _END:
                    slots.release()
                    break
                future = pool.submit(_unbox, work, [task])
                del task
                future.add_done_callback(functools.partial(done, index))
                futures.append(future)
        except BaseException:
            cancel.set()
            for future in futures:
                future.cancel()
            wait(futures)
            raise
        # At most ``concurrency`` futures exist unfinished, and all of them are running.
        wait(futures)
    if failure:
        raise failure[0]
    return [results[i] for i in sorted(results)]


_END = object()


def _unbox(work: Callable[[Any], Any], box: list[Any]) -> Any:
    # The worker gets the only reference to its task, so it can release it early.
    return work(box.pop())


def file_parts(fd: int, size: int, part_size: int) -> Iterator[Part]:
    """Parts of a regular file, each read with ``pread`` only when its upload starts."""
    count = max(1, -(-size // part_size))
    for index in range(count):
        offset = index * part_size
        length = min(part_size, size - offset)
        yield Part(index + 1, _pread_exactly(fd, length, offset), last=index == count - 1)


def _pread_exactly(fd: int, length: int, offset: int) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) == length:  # the usual case: no copy
        return data
    out = bytearray(data)
    while len(out) < length:
        piece = os.pread(fd, length - len(out), offset + len(out))
        if not piece:
            raise LocalFileError("the file shrank while it was being uploaded")
        out += piece
    return bytes(out)

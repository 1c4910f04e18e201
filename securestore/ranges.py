"""Ranged reads of one object version: the fetching every read path shares.

:class:`ObjectRanges` pins every GET to one ETag (and version), checks each
answer's ``Content-Range`` (through :meth:`~securestore.bucket.BucketAccess.get_range`),
reads bodies straight into the caller's buffers and resumes a body that breaks,
within one :class:`~securestore.transfer.RetryBudget`. :func:`download_ranges`
runs a plain object's ranges in parallel into a file, through a
:class:`~securestore.diskwriter.DiskWriter` when there are several.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from securestore.bucket import BucketAccess
from securestore.diskwriter import DiskWriter
from securestore.errors import TransferError
from securestore.localfile import AtomicFile, pwrite_all
from securestore.reader import RETRYABLE_STREAM_ERRORS, ObjectReader
from securestore.transfer import (
    MiB,
    ProgressCallback,
    RetryBudget,
    check_cancelled,
    read_body_into,
    run_bounded,
)
from securestore.transport_errors import stalled

__all__ = [
    "STREAM_PIECE",
    "WRITE_PIECE",
    "FirstPart",
    "ObjectRanges",
    "download_ranges",
    "run_spans",
    "start_writeback",
]

#: Bytes read from a body at a time (and the size of each worker's reused buffer).
STREAM_PIECE = 1 * MiB
#: Bytes of each write of a plain object's download into its file. Not 1 MiB: on Linux
#: 6.x, buffered writes of 1 MiB or more at 1 MiB-aligned offsets of a new file cost
#: 4-7x the kernel CPU of 512 KiB ones (0.9-1.8 s against 0.22-0.28 s per GiB, measured
#: here: large page-cache folios), and a ranged download's writes are aligned so.
WRITE_PIECE = 512 * 1024

#: ``window(offset, remaining)``: the writable view the next read of a body fills.
Window = Callable[[int, int], memoryview]
#: ``commit(offset, filled)``: told what arrived at ``offset``.
Commit = Callable[[int, memoryview], None]


class ObjectRanges:
    """Exact ranged GETs of one version (``etag``, and ``version_id`` if given) of ``key``."""

    def __init__(
        self, access: BucketAccess, key: str, etag: str, *, version_id: str | None = None
    ) -> None:
        self.access = access
        self.key = key
        self.etag = etag
        self.version_id = version_id

    def get(self, first: int, last: int | None = None) -> dict[str, Any]:
        """The GetObject response of bytes ``first..last`` (see ``BucketAccess.get_range``)."""
        return self.access.get_range(
            self.key, first, last, etag=self.etag, version_id=self.version_id
        )

    def reader(self, size: int) -> ObjectReader:
        """A seekable streaming reader of the ``size`` bytes of this version."""
        return ObjectReader(
            self.get,
            size=size,
            bucket=self.access.bucket,
            key=self.key,
            read_retries=self.access.transfer.read_retries,
        )

    def stream(
        self,
        start: int,
        end: int,
        window: Window,
        commit: Commit | None = None,
        *,
        body: Any = None,
        prefix: bytes = b"",
        drain: int = 0,
    ) -> None:
        """Read bytes ``[start, end)`` straight into the buffers ``window`` gives.

        ``window(offset, remaining)`` gives the writable view the next read fills
        (a slice of the caller's output, or a reused scratch buffer), and
        ``commit(offset, filled)`` is told what arrived. Reading into place avoids
        the copies that dominated downloads. ``body``, an open response body
        already at ``start`` (the first part of a download, whose first bytes
        were the probe), is read before any new GET; ``prefix`` holds bytes from
        ``start`` on that were read from it already (they are delivered first), and
        ``drain`` counts its bytes after ``end``, read and dropped so that its
        connection goes back to the pool. A body that breaks is resumed
        from where it stopped, within one :class:`~securestore.transfer.RetryBudget`
        (the same rule as :class:`~securestore.reader.ObjectReader`): a connection
        that keeps breaking after a few bytes ends in :class:`TransferError`, never
        in an endless loop. Nothing is written once the batch this runs in was
        cancelled.
        """
        budget = RetryBudget(self.access.transfer.read_retries)
        opened = body
        pending = memoryview(prefix)[: max(0, end - start)]
        try:
            while pending:  # bytes already read from `body`, delivered as if just read
                view = window(start, end - start)
                count = min(len(view), len(pending))
                view[:count] = pending[:count]
                check_cancelled()
                if commit is not None:
                    commit(start, view[:count])
                start += count
                pending = pending[count:]
            while start < end:
                try:
                    current, opened = opened, None
                    given = current is not None
                    if current is None:
                        current = self.get(start, end - 1)["Body"]
                    with contextlib.closing(current):
                        while start < end:
                            view = window(start, end - start)
                            count = read_body_into(current, view)
                            if not count:
                                raise botocore.exceptions.IncompleteReadError(
                                    actual_bytes=start, expected_bytes=end
                                )
                            check_cancelled()
                            if commit is not None:
                                commit(start, view[:count])
                            start += count
                            budget.progressed(count)
                        if given and drain:
                            _drain(current, drain)
                except RETRYABLE_STREAM_ERRORS as exc:
                    reason = budget.failed()
                    if reason is not None:
                        raise TransferError(
                            f"read failed after {budget.failures} attempts ({reason}): "
                            f"{stalled(exc) or type(exc).__name__}",
                            bucket=self.access.bucket,
                            key=self.key,
                        ) from exc
        finally:
            if opened is not None:  # nothing was left to read from it
                opened.close()

    def fetch(self, start: int, end: int) -> bytearray:
        """Bytes ``[start, end)``, read into one buffer of the exact size."""
        out = bytearray(max(0, end - start))
        view = memoryview(out)
        self.stream(start, end, lambda at, _: view[at - start : at - start + STREAM_PIECE])
        return out


def _drain(body: Any, count: int) -> None:
    """Read and drop ``count`` bytes of ``body`` (a break only costs its connection)."""
    scratch = memoryview(bytearray(min(count, STREAM_PIECE)))
    with contextlib.suppress(*RETRYABLE_STREAM_ERRORS):
        while count > 0:
            read = read_body_into(body, scratch[: min(count, len(scratch))])
            if not read:
                return
            count -= read


class FirstPart:
    """The open answer to a download's first GET: bytes ``[0, end)``, ``first`` already read.

    That GET was the probe that told what the object is; the rest of its body is
    downloaded from it rather than asked for again.
    """

    def __init__(self, body: Any, first: bytes, end: int) -> None:
        self.body: Any = body
        self.first = first
        self.end = end

    def take(self) -> Any:
        """The body, once: whoever takes it reads and closes it."""
        body, self.body = self.body, None
        return body

    def close(self) -> None:
        """Release the body if nobody took it."""
        body = self.take()
        if body is not None:
            body.close()


def download_ranges(
    ranges: ObjectRanges,
    size: int,
    out: AtomicFile,
    progress: ProgressCallback | None,
    *,
    first_part: FirstPart | None = None,
) -> None:
    """Write bytes ``[0, size)`` of ``ranges`` into ``out``, in parallel ranged GETs.

    With ``first_part``, its bytes are written first and the rest of its body is
    read as the first range; later ranges start at its end. A stream destination
    (a device, a FIFO) is written in order: the first part, then one GET of the rest.
    """
    transfer = ranges.access.transfer
    start = 0
    # Buffers no larger than the object: a small file does not pay for a whole one.
    piece = max(1, min(WRITE_PIECE, size))
    with contextlib.ExitStack() as cleanup:
        spans: list[tuple[int, int, Any]] = []
        if first_part is not None:
            body = first_part.take()
            if body is not None:
                cleanup.callback(body.close)  # also when a failure stops the batch first
            start = first_part.end
            out.write_at(first_part.first, 0)
            if progress:
                progress(len(first_part.first))
            spans.append((len(first_part.first), start, body))
        if out.stream:
            if start < size:
                spans.append((start, size, None))
        else:
            step = transfer.part_size_for(size)
            spans += [(at, min(at + step, size), None) for at in range(start, size, step)]
            if len(spans) > 1:
                if first_part is not None:
                    start_writeback(out.fd, 0, len(first_part.first))
                writer = cleanup.enter_context(
                    DiskWriter(
                        out.fd,
                        buffer_size=piece,
                        buffers=transfer.concurrency + 2,
                        writeback=start_writeback,
                        progress=progress,
                    )
                )
                run_spans(spans, _handing_over(ranges, writer), concurrency=transfer.concurrency)
                return
        # A stream, written in order, or one span (every small object): one buffer, on
        # this thread; no writeback hint (the fsync follows at once).
        scratch = memoryview(bytearray(piece))

        def window(_: int, remaining: int) -> memoryview:
            return scratch[: min(remaining, len(scratch))]

        write = _writer(out, progress)
        for lo, hi, opened in spans:
            ranges.stream(lo, hi, window, write, body=opened)


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range`` from the C library (the ``os`` module lacks it), or None.

    Looked up in the process's own symbols (``dlopen(NULL)``), which include the C
    library's: ``ctypes.util.find_library`` would run ``ldconfig`` in a subprocess.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of dirty pages, do not wait


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing bytes ``[offset, offset + length)`` of ``fd`` to disk.

    It does not wait and promises nothing: the downloaded file is still fsynced
    before it is renamed into place. Started range by range as a download goes,
    the writeback overlaps the transfer instead of all waiting in that final
    fsync (which cost about 10 % of a large download). A no-op where
    ``sync_file_range`` does not exist or the file refuses it (a pipe, tmpfs).
    """
    if _SYNC_FILE_RANGE is None or length <= 0:
        return
    _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # errors ignored: a hint


def run_spans(spans: list[Any], fetch: Callable[[Any], None], *, concurrency: int) -> None:
    """Fetch each span, in parallel when there are several.

    A single span (every small object) is fetched in the calling thread: a worker
    thread per object would cost a sync of many small files more than their GETs.
    """
    if len(spans) == 1:
        fetch(spans[0])
        return
    run_bounded(spans, fetch, concurrency=concurrency)


def _handing_over(ranges: ObjectRanges, writer: DiskWriter) -> Callable[[Any], None]:
    """A span fetcher that reads into the writer's buffers and hands each one over."""
    held = threading.local()  # the buffer a worker is filling, kept across a resumed read

    def window(_: int, remaining: int) -> memoryview:
        view: memoryview | None = getattr(held, "view", None)
        if view is None:
            view = held.view = writer.buffer()
        return view[: min(remaining, len(view))]

    def commit(offset: int, piece: memoryview) -> None:
        view, held.view = held.view, None
        writer.submit(view, len(piece), offset)

    def fetch(span: tuple[int, int, Any]) -> None:
        try:
            ranges.stream(span[0], span[1], window, commit, body=span[2])
        finally:
            view = getattr(held, "view", None)
            if view is not None:  # a failed read: the buffer was never handed over
                held.view = None
                writer.release(view)

    return fetch


def _writer(out: AtomicFile, progress: ProgressCallback | None) -> Commit:
    fd = out.fd

    def write(offset: int, piece: memoryview) -> None:
        if out.stream:
            out.write_at(piece, offset)
        else:
            pwrite_all(fd, piece, offset)
        if progress:
            progress(len(piece))

    return write

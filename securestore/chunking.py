"""Cutting upload bodies into parts: streams, in-memory bodies and regular files.

Parts of a stream or a file are read into buffers of a
:class:`~securestore.buffers.BufferBudget` (the job's, bound to the thread by a
tree transfer, or one per upload), each part one
:class:`~securestore.buffers.Lease` that the sender releases once the part is
sent. A stream is read one part at a time with no part of look-ahead: whether a
part is the last is told by reading one byte past it, which the next part
starts with.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from securestore.buffers import BufferBudget, Lease, LeaseGroup, bound_budget
from securestore.errors import ConfigurationError, LocalFileError
from securestore.parts import PartSchedule

__all__ = ["SLACK", "FileParts", "Part", "chunk_stream", "file_parts"]

#: A new buffer keeps room for 1/SLACK more than asked: a part's ciphertext (frame
#: overhead, the header) then fits in the buffer of a plaintext, and the other way round.
SLACK = 16

Source = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]


@dataclass(frozen=True)
class Part:
    """One part of an upload: its 1-based number, its bytes and whether it is the last.

    ``lease`` holds the buffer ``data`` views, when the part was read into one:
    :meth:`done` gives it back once nothing reads the part any more.
    """

    number: int
    data: bytes | bytearray | memoryview
    last: bool
    lease: Lease | None = None

    def done(self) -> None:
        """The part was sent: its buffers may be reused (nothing may read them after)."""
        if self.lease is not None:
            self.lease.release()


def chunk_stream(source: Source, size: int | PartSchedule) -> Iterator[Part]:
    """Cut ``source`` into parts of exactly ``size`` bytes (the last may be shorter).

    ``size`` may be a :class:`~securestore.parts.PartSchedule`, which gives each
    part's size by its number (parts that grow as a stream goes on). Reads
    lazily; an empty source yields one empty last part. A readable source is
    read into leased buffers, one part at a time.
    """
    schedule = PartSchedule.fixed(size) if isinstance(size, int) else size
    if not isinstance(source, bytes | bytearray | memoryview) and callable(
        getattr(source, "read", None)
    ):
        yield from _stream_parts(source, schedule)  # type: ignore[arg-type]
        return
    pieces = _pieces(source, schedule)
    number = 1
    current = next(pieces, b"")
    for following in pieces:
        yield Part(number, current, last=False)
        number += 1
        current = following
    yield Part(number, current, last=True)


class _Leases:
    """Where one upload's parts get their buffers: the thread's bound budget (a tree
    transfer's), or a budget of the upload's own."""

    def __init__(self) -> None:
        self.group = LeaseGroup()
        self._own: BufferBudget | None = None

    def take(self, size: int) -> tuple[Lease, bytearray]:
        """A lease for a part of ``size`` plaintext bytes, and its plaintext buffer.

        Twice the size is reserved: the plaintext, then its ciphertext (see
        :meth:`~securestore.buffers.Lease.settle` for parts sent as they are).
        The buffer keeps room for the part's ciphertext, to be reused for one.
        """
        budget = bound_budget()
        if budget is None:
            if self._own is None:
                self._own = BufferBudget()
            budget = self._own
        lease = budget.lease(2 * size, cancelled=_cancelled, group=self.group)
        return lease, lease.buffer(size, slack=size // SLACK)


def _cancelled() -> None:
    # Imported here: securestore.transfer re-exports this module.
    from securestore.transfer import check_cancelled

    check_cancelled()


def _stream_parts(source: IO[bytes], schedule: PartSchedule) -> Iterator[Part]:
    read: Callable[[int], Any] = source.read
    readinto: Callable[[memoryview], Any] | None = getattr(source, "readinto", None)
    leases = _Leases()
    carry = b""
    for number in itertools.count(1):
        size = schedule.size(number)
        lease, buffer = leases.take(size)
        try:
            view = memoryview(buffer)[:size]
            filled = _fill(view, carry, read, readinto)
            last = filled < size
            # One byte past a full part tells whether it is the last; the next part
            # starts with it. No part waits in memory for its successor.
            carry = b"" if last else _checked(read(1))
            last = last or not carry
        except BaseException:
            lease.release()
            raise
        yield Part(number, view[:filled], last, lease)
        if last:
            return


def _fill(
    view: memoryview,
    carry: bytes,
    read: Callable[[int], Any],
    readinto: Callable[[memoryview], Any] | None,
) -> int:
    """Fill ``view`` with ``carry`` then the source, looping over short reads (pipes)."""
    pos = len(carry)
    view[:pos] = carry
    while pos < len(view):
        if readinto is not None:
            try:
                count = readinto(view[pos:]) or 0
            except (NotImplementedError, io.UnsupportedOperation):
                # io.RawIOBase subclasses that only define read(): read from now on.
                readinto = None
                continue
        else:
            data = _checked(read(len(view) - pos))
            count = len(data)
            view[pos : pos + count] = data
        if not count:
            break
        pos += count
    return pos


def _checked(data: Any) -> bytes:
    if data is None:
        return b""
    if not isinstance(data, bytes | bytearray):
        raise ConfigurationError("the body's read() must return bytes (open files in 'rb' mode)")
    return bytes(data)


def _pieces(
    source: bytes | bytearray | memoryview | Iterable[bytes], schedule: PartSchedule
) -> Iterator[bytes | memoryview]:
    sizes = (schedule.size(number) for number in itertools.count(1))
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source).cast("B")
        start = 0
        while start < len(view):
            size = next(sizes)
            yield view[start : start + size]
            start += size
        return
    buffer = bytearray()
    size = next(sizes)
    for piece in source:
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise ConfigurationError("an iterable body must yield bytes")
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
            size = next(sizes)
    if buffer:
        yield bytes(buffer)


class FileParts(Iterator[Part]):
    """Parts of a regular file, each read with ``preadv`` only when it is asked for.

    ``count`` says up front how many parts there are, so that a multipart upload
    need not read its first part before it may send it.
    """

    def __init__(self, fd: int, size: int, part_size: int) -> None:
        self.count = max(1, -(-size // part_size))
        self._fd, self._size, self._part_size = fd, size, part_size
        self._index = 0
        self._leases = _Leases()

    def __next__(self) -> Part:
        index = self._index
        if index >= self.count:
            raise StopIteration
        self._index += 1
        offset = index * self._part_size
        length = min(self._part_size, self._size - offset)
        lease, buffer = self._leases.take(length)
        try:
            view = memoryview(buffer)[:length]
            _pread_into(self._fd, view, offset)
        except BaseException:
            lease.release()
            raise
        return Part(index + 1, view, last=index == self.count - 1, lease=lease)


def file_parts(fd: int, size: int, part_size: int) -> FileParts:
    """The parts of a regular file of ``size`` bytes open as ``fd`` (see :class:`FileParts`)."""
    return FileParts(fd, size, part_size)


def _pread_into(fd: int, view: memoryview, offset: int) -> None:
    pos = 0
    while pos < len(view):
        count = os.preadv(fd, [view[pos:]], offset + pos)
        if not count:
            raise LocalFileError("the file shrank while it was being uploaded")
        pos += count

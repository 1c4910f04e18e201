"""Standard streams carrying object data: stdin put back together, stdout that reports errors.

``put -`` reads stdin through :class:`Prefixed`; ``get`` (and ``decrypt``) write
stdout through :func:`stdout`, and ``get --range`` copies with :func:`copy_range`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from securestore.errors import ConfigurationError

from .errors import note_streamed, require_stdout, stdout_error

if TYPE_CHECKING:
    from securestore.clientside_reader import ClientSideReader
    from securestore.reader import ObjectReader

__all__ = ["RANGE_PIECE", "Prefixed", "Stdout", "copy_range", "stdout"]


class Prefixed:
    """A binary stream with bytes already read from it put back in front."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = first
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        """Read like ``BinaryIO.read``: the put-back bytes first."""
        if self._first:
            head, self._first = self._first, b""
            if size < 0:
                return head + self._rest.read()
            return head + (self._rest.read(size - len(head)) if size > len(head) else b"")
        return self._rest.read(size)

    def readinto(self, buffer: memoryview) -> int:
        """Read like ``BufferedReader.readinto`` (into the caller's buffer: no copy)."""
        if self._first:
            count = min(len(buffer), len(self._first))
            buffer[:count] = self._first[:count]
            self._first = self._first[count:]
            return count
        readinto = getattr(self._rest, "readinto", None)
        if readinto is None:
            data = self._rest.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        return int(readinto(buffer) or 0)


#: The most of a ``--range`` held at once: ranges stream like whole objects.
RANGE_PIECE = 2 * 1024 * 1024


def copy_range(
    reader: ObjectReader | ClientSideReader,
    start: int,
    length: int,
    write: Callable[[bytes, int], object],
) -> int:
    """Copy ``length`` bytes (all to the end if negative) from ``start`` in bounded pieces.

    ``write(piece, offset)`` gets each piece with its offset in the output. A range
    that reaches the end of a client-side object ends with its final frame
    authenticated (``read_range`` checks it). Returns the number of bytes copied.
    """
    if start >= reader.size and not start == reader.size == 0:
        from securestore.clientside_reader import ClientSideReader

        if isinstance(reader, ClientSideReader):
            # The size of a message comes from its (unauthenticated) length: the end is
            # known only once the final frame authenticates. A truncated object is an
            # integrity error (exit 3), not a range past its end.
            reader.read_range(reader.size, 0)
        # HTTP 416 semantics: a range that starts past the end selects nothing.
        raise ConfigurationError(
            f"invalid range: it starts at byte {start}, past the end of the object "
            f"({reader.size} bytes)",
            hint=f"the last byte is at offset {reader.size - 1}"
            if reader.size
            else "the object is empty",
        )
    end = reader.size if length < 0 else min(reader.size, start + length)
    offset = start
    while True:
        piece = reader.read_range(offset, min(RANGE_PIECE, max(0, end - offset)))
        if piece:
            write(piece, offset - start)
            offset += len(piece)
        if not piece or offset >= end:
            return offset - start


class Stdout:
    """Standard output for object data: a full disk is a usage error, not a bug.

    A reader that went away (``| head``) stays a BrokenPipeError, which the CLI
    ends quietly, as other Unix tools do.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes, _offset: int = 0) -> None:
        self._call(self._stream.write, data)
        note_streamed(len(data))

    def flush(self) -> None:
        self._call(self._stream.flush)

    @staticmethod
    def _call(action: Callable[..., object], *args: bytes) -> None:
        try:
            action(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise stdout_error(exc) from exc


def stdout() -> Stdout:
    require_stdout()
    return Stdout(sys.stdout.buffer)

"""A seekable, streaming reader over an S3 object (server-side encrypted modes).

Reads are served from one open GET response while they are sequential; a seek
closes it and the next read opens a ranged GET at the new position. Every GET
is conditional on the ETag seen when the reader was opened, so bytes of two
different versions are never mixed. A response that breaks mid-stream is
resumed from the current position, within a
:class:`~securestore.transfer.RetryBudget` kept for the reader's lifetime.
"""

from __future__ import annotations

import io
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import urllib3.exceptions

from securestore.errors import ConfigurationError, SecureStoreError, StorageError, TransferError
from securestore.transfer import RetryBudget
from securestore.transport import translate_error
from securestore.transport_errors import stalled

__all__ = [
    "range_answered",
    "range_total",
    "read_capped",
    "RETRYABLE_STREAM_ERRORS",
    "ObjectReader",
    "SeekableReader",
    "check_open",
    "check_range",
    "seek_target",
]

#: Errors that mean "the response body broke", after which a ranged GET can resume.
RETRYABLE_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    ConnectionError,
    TimeoutError,
    # A corrupted TLS record (bad record MAC) mid-body: the certificate was verified
    # at the handshake, so this is a broken connection, not a trust problem.
    urllib3.exceptions.SSLError,
    ssl.SSLError,
)

#: Opens ``bytes=start-last`` (``bytes=start-`` when ``last`` is ``None``) of the
#: object and returns the GetObject response.
OpenRange = Callable[[int, int | None], dict[str, Any]]


def check_open(stream: io.IOBase) -> None:
    if stream.closed:
        raise ValueError("I/O operation on closed file")


def check_range(start: object, length: object, *, where: tuple[str, str] | None = None) -> None:
    """Refuse a ``read_range`` whose ``start`` or ``length`` is not a non-negative int.

    One rule for every reader (server-side, client-side, S3EC), as a
    :class:`ConfigurationError` that ``where`` (bucket, key) locates.
    """
    for name, value in (("start", start), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            shown = value if isinstance(value, int) else type(value).__name__
            bucket, key = where or (None, None)
            raise ConfigurationError(
                f"invalid range: {name} must be a non-negative int, not {shown}",
                bucket=bucket,
                key=key,
            )


def seek_target(position: int, size: int, offset: int, whence: int) -> int:
    """The absolute position a ``seek(offset, whence)`` moves to (``io`` semantics)."""
    bases = {io.SEEK_SET: 0, io.SEEK_CUR: position, io.SEEK_END: size}
    if whence not in bases:
        raise ValueError(f"invalid whence: {whence}")
    target = bases[whence] + offset
    if target < 0:
        raise ValueError("negative seek position")
    return target


class SeekableReader(io.RawIOBase):
    """What both object readers share: position, size, seeking, chunk iteration.

    Iterating yields chunks of ``chunk_size`` bytes (not lines). Use a reader as a
    context manager, or call :meth:`close`, to release its connection.
    """

    def __init__(self, size: int, chunk_size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0
        self._chunk_size = chunk_size

    @property
    def size(self) -> int:
        """The length in bytes of what the reader returns."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        check_open(self)
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        check_open(self)
        self._pos = seek_target(self._pos, self._size, offset, whence)
        return self._pos

    def _read_sequential(self, start: int, length: int) -> bytes:
        """Seek to ``start`` and read until ``length`` bytes or the end, through ``read``."""
        self.seek(start)
        out = bytearray()
        while len(out) < length:
            piece = self.read(length - len(out))
            if not piece:
                break
            out += piece
        return bytes(out)

    def readlines(self, hint: int = -1) -> list[bytes]:
        """The remaining lines, as :meth:`io.IOBase.readlines` (iteration yields chunks).

        With ``hint`` > 0, lines are read until their total length reaches it.
        """
        check_open(self)
        if hint is None or hint <= 0:
            return io.BytesIO(self.read()).readlines()
        lines: list[bytes] = []
        total = 0
        while total < hint:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(self._chunk_size)
            if not chunk:
                return
            yield chunk


class ObjectReader(SeekableReader):
    """A read-only, seekable file object over one version of an S3 object.

    Iterating yields chunks of ``chunk_size`` bytes (not lines). Use it as a
    context manager, or call :meth:`close`, to release the connection.
    """

    def __init__(
        self,
        open_range: OpenRange,
        *,
        size: int,
        bucket: str,
        key: str,
        read_retries: int = 3,
        chunk_size: int = 1024 * 1024,
        first_response: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(size, chunk_size)
        self._open_range = open_range
        self._bucket = bucket
        self._key = key
        self._budget = RetryBudget(read_retries)
        self._body: Any = first_response["Body"] if first_response is not None else None
        self._body_pos = 0
        # Where the last read_range ended: a range that starts there continues the
        # streaming response it left open, even though the position did not move.
        self._range_end = -1

    def readinto(self, buffer: Any) -> int:
        check_open(self)
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        data = self._read_some(want)
        view[: len(data)] = data
        return len(data)

    def read_range(self, start: int, length: int) -> bytes:
        """Return ``length`` bytes from ``start`` (fewer at the end of the object).

        Like ``os.pread``, and like the client-side reader's: the position that
        ``read`` and ``tell`` use does not move.
        """
        check_open(self)
        check_range(start, length, where=(self._bucket, self._key))
        length = max(0, min(length, self._size - start))  # never allocate beyond the object
        if length == 0:
            return b""
        position = self._pos
        try:
            if start in (position, self._range_end):
                # Sequential (a whole-object read, --range pieces): one streaming GET.
                data = self._read_sequential(start, length)
            else:
                data = self._read_bounded(start, length)
        finally:
            self._pos = position
        self._range_end = start + len(data)
        return data

    def _read_bounded(self, start: int, length: int) -> bytes:
        """One GET of exactly ``bytes=start-(start+length-1)``, read to its end.

        For reads that jump (not at the current position). Random access (a
        Parquet reader's footer, then column chunks) would otherwise open
        ``bytes=start-`` and close it part-read at the next seek,
        and a part-read response cannot go back to the connection pool: every
        seek would cost a new TCP and TLS handshake. A bounded answer read to its
        end keeps the connection.
        """
        self._drop_body()
        out = bytearray()
        while len(out) < length:
            at = start + len(out)
            try:
                body = self._open_range(at, start + length - 1)["Body"]
                try:
                    while len(out) < length:
                        piece = body.read(length - len(out))
                        if not piece:
                            raise botocore.exceptions.IncompleteReadError(
                                actual_bytes=len(out), expected_bytes=length
                            )
                        out += piece
                        self._budget.progressed(len(piece))
                finally:
                    body.close()
            except RETRYABLE_STREAM_ERRORS as exc:
                self._retry_or_give_up(exc)
            except SecureStoreError:
                raise
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise translate_error(
                    exc, bucket=self._bucket, key=self._key, action="read"
                ) from exc
        return bytes(out)

    def _read_some(self, want: int) -> bytes:
        while True:
            if self._body is not None and self._body_pos != self._pos:
                self._drop_body()
            try:
                if self._body is None:
                    response = self._open_range(self._pos, None)
                    self._body = response["Body"]
                    self._body_pos = self._pos
                data: bytes = self._body.read(want)
                if not data:
                    raise botocore.exceptions.IncompleteReadError(
                        actual_bytes=self._pos, expected_bytes=self._size
                    )
            except RETRYABLE_STREAM_ERRORS as exc:
                self._drop_body()
                self._retry_or_give_up(exc)
                continue
            except SecureStoreError:
                raise
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                self._drop_body()
                raise translate_error(
                    exc, bucket=self._bucket, key=self._key, action="read"
                ) from exc
            self._pos += len(data)
            self._body_pos = self._pos
            self._budget.progressed(len(data))
            return data

    def _retry_or_give_up(self, exc: BaseException) -> None:
        """After a broken body: return to retry, or raise once the budget is spent."""
        reason = self._budget.failed()
        if reason is not None:
            raise TransferError(
                f"reading failed after {self._budget.failures} attempts ({reason}): "
                f"{stalled(exc) or type(exc).__name__}",
                bucket=self._bucket,
                key=self._key,
            ) from exc

    def _drop_body(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            finally:
                self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


def range_answered(content_range: str | None, first: int, last: int | None) -> bool:
    """Whether ``Content-Range`` (``bytes A-B/N``) answers a request for ``first..last``.

    The answer must start at ``first`` and end at ``last`` or, for a range that
    runs past the end (or an open one), at the object's last byte. No header is
    only right for a request from byte 0 to the end (a plain 200).
    """
    if content_range is None:
        return first == 0 and last is None
    unit, _, rest = content_range.strip().partition(" ")
    span, _, total = rest.partition("/")
    start, _, end = span.partition("-")
    if unit != "bytes" or not start.isdigit() or not end.isdigit():
        return False
    if int(start) != first:
        return False
    if last is None or int(end) == last:
        return True
    return int(end) < last and total.isdigit() and int(end) == int(total) - 1


def range_total(content_range: object) -> int | None:
    """The object size from ``Content-Range: bytes 0-4095/12345``, if present."""
    if not isinstance(content_range, str) or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def read_capped(
    body: Any, limit: int, *, bucket: str | None = None, key: str | None = None
) -> bytes:
    """Read a response body that may hold at most ``limit`` bytes, then close it.

    The server decides how much it sends: a right ``Content-Range`` with a
    terabyte of body, or a body that never ends, is refused after ``limit + 1``
    bytes instead of being read whole into memory.

    Raises:
        StorageError: the body is longer than ``limit`` (``BodyTooLong``).
    """
    chunks: list[bytes] = []
    got = 0
    try:
        while got <= limit:
            chunk = body.read(limit + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        body.close()
    if got > limit:
        raise StorageError(
            f"the server sent more than the {limit} bytes asked for",
            bucket=bucket,
            key=key,
            code="BodyTooLong",
            hint="the endpoint answered what S3 never sends (a broken or malicious server)",
        )
    return b"".join(chunks)

"""SSE objects read at random: each jump is one bounded GET read to its end (so the
connection goes back to the pool), sequential reads stay one streaming GET."""

from __future__ import annotations

import io
from typing import Any

import botocore.exceptions
import pytest

from securestore.errors import TransferError
from securestore.reader import ObjectReader

DATA = bytes(range(256)) * 4096  # 1 MiB


class _Body(io.BytesIO):
    def __init__(self, data: bytes, log: list[str], fail_after: int | None = None) -> None:
        super().__init__(data)
        self._log = log
        self._fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        if self._fail_after is not None and self.tell() >= self._fail_after:
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://x")
        return super().read(size if self._fail_after is None else min(size or 1, 1000))

    def close(self) -> None:
        self._log.append("drained" if self.tell() == len(self.getvalue()) else "cut")
        super().close()


def _reader(requests: list[tuple[int, int | None]], closes: list[str], **kw: Any) -> ObjectReader:
    fail_once = kw.pop("fail_once", False)

    def open_range(start: int, last: int | None = None) -> dict[str, Any]:
        requests.append((start, last))
        chunk = DATA[start : None if last is None else last + 1]
        broken = fail_once and len(requests) == 1
        return {"Body": _Body(chunk, closes, fail_after=500 if broken else None)}

    return ObjectReader(open_range, size=len(DATA), bucket="b", key="k", **kw)


def test_random_reads_are_bounded_and_read_to_the_end() -> None:
    requests: list[tuple[int, int | None]] = []
    closes: list[str] = []
    reader = _reader(requests, closes)
    footer = reader.read_range(len(DATA) - 8, 8)
    chunk = reader.read_range(1000, 5000)
    assert footer == DATA[-8:] and chunk == DATA[1000:6000]
    assert requests == [(len(DATA) - 8, len(DATA) - 1), (1000, 5999)]
    assert closes == ["drained", "drained"]  # no response abandoned part-read


def test_sequential_reads_share_one_streaming_get() -> None:
    requests: list[tuple[int, int | None]] = []
    reader = _reader(requests, [])
    pieces = [reader.read_range(offset, 65536) for offset in range(0, len(DATA), 65536)]
    assert b"".join(pieces) == DATA
    assert requests == [(0, None)]


def test_pieces_after_a_jump_continue_one_streaming_get() -> None:
    # read_range leaves the position alone, yet the piece that starts where the last
    # one ended still continues a stream (CLI get --range reads in such pieces).
    requests: list[tuple[int, int | None]] = []
    reader = _reader(requests, [])
    pieces = [reader.read_range(offset, 4096) for offset in range(10_000, 30_000, 4096)]
    assert b"".join(pieces) == DATA[10_000 : 10_000 + 5 * 4096]
    assert requests == [(10_000, 10_000 + 4095), (10_000 + 4096, None)]
    assert reader.tell() == 0
    assert reader.read(5) == DATA[:5]


def test_a_bounded_read_that_breaks_resumes_where_it_stopped() -> None:
    requests: list[tuple[int, int | None]] = []
    reader = _reader(requests, [], fail_once=True)
    assert reader.read_range(100, 10_000) == DATA[100:10_100]
    assert requests[0] == (100, 10_099)
    assert requests[1][0] > 100 and requests[1][1] == 10_099


def test_a_bounded_read_that_keeps_breaking_ends() -> None:
    def open_range(start: int, last: int | None = None) -> dict[str, Any]:
        return {"Body": _Body(DATA[start:], [], fail_after=0)}

    reader = ObjectReader(open_range, size=len(DATA), bucket="b", key="k", read_retries=2)
    with pytest.raises(TransferError):
        reader.read_range(5000, 100)

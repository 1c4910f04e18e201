"""The download pipeline: bodies read straight into place, frames written as they arrive.

Client-side downloads used to fetch a whole range (a part) into one buffer,
decrypt it into a second and only then write, and every read of a response
body went through botocore's and urllib3's ``readinto``, which allocate a fresh
buffer and copy it. These tests guard what replaced that, without timing
anything: memory that does not grow with the part size, bodies read without
those ``readinto`` calls, and the body reader's fallback and error rules.
"""

from __future__ import annotations

import http.client
import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.response
import pytest
import urllib3.exceptions
import urllib3.response

from securestore import SecureStore, TransferConfig
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from securestore.reader import RETRYABLE_STREAM_ERRORS
from securestore.transfer import read_body_into

MiB = 1024 * 1024
KEYRING = RawAesKeyring("securestore-test", "pipeline", bytes(range(32)))
#: Large parts: the old pipeline held two part-sized buffers per worker.
BIG_PARTS = TransferConfig(part_size=24 * MiB, concurrency=2)


def test_client_side_download_memory_does_not_grow_with_the_part_size(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store(encryption=ClientSide(KEYRING, frame_length=64 * 1024), transfer=BIG_PARTS)
    data = os.urandom(40 * MiB)
    store.put("big", data)
    target = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        store.download_file("big", target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert target.read_bytes() == data
    # Two batches of about 1 MiB per worker, not 2 x 24 MiB per worker.
    assert peak < 12 * MiB, f"download peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_downloads_read_bodies_without_the_copying_readinto(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    mode = ClientSide(KEYRING) if client_side else None
    store = make_store(encryption=mode) if mode else make_store()
    data = os.urandom(12 * MiB + 12345)
    store.put("obj", data)

    def refuse(*_: Any) -> int:
        raise AssertionError("a copying readinto was used")

    monkeypatch.setattr(botocore.response.StreamingBody, "readinto", refuse)
    monkeypatch.setattr(urllib3.response.HTTPResponse, "readinto", refuse)
    store.download_file("obj", tmp_path / "obj")
    assert (tmp_path / "obj").read_bytes() == data
    with store.open("obj") as reader:
        assert reader.read_range(5 * MiB - 7, 100) == data[5 * MiB - 7 : 5 * MiB + 93]


class _Socket:
    """Enough of a socket for ``http.client.HTTPResponse``: a canned byte stream."""

    def __init__(self, stream: io.RawIOBase | io.BytesIO) -> None:
        self.stream = stream

    def makefile(self, _mode: str) -> Any:
        return self.stream


class _Body:
    """A botocore-shaped body: ``_raw_stream._fp`` is the standard library's response."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._raw_stream = self
        self._fp = response
        self.decode_content = False
        self.released = 0

    def release_conn(self) -> None:
        self.released += 1

    def readinto(self, _: Any) -> int:
        raise AssertionError("the copying path was used")


def _response(stream: io.RawIOBase | io.BytesIO) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(_Socket(stream))  # type: ignore[arg-type]
    response.begin()
    return response


def test_a_complete_body_is_read_in_place_and_its_connection_released() -> None:
    body = _Body(_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef")))
    buffer = bytearray(4)
    assert read_body_into(body, memoryview(buffer)) == 4
    assert buffer == b"abcd" and body.released == 0
    assert read_body_into(body, memoryview(buffer)) == 2
    assert buffer[:2] == b"ef" and body.released == 1


def test_a_body_that_ends_early_reads_zero_and_keeps_its_connection_out_of_the_pool() -> None:
    body = _Body(_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")))
    view = memoryview(bytearray(9))
    assert read_body_into(body, view) == 3
    assert read_body_into(body, view) == 0
    assert body.released == 0


class _Breaking(io.RawIOBase):
    """Headers, then a connection reset in the body."""

    def __init__(self) -> None:
        self.head = io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        return self.head.readline(size)

    def readinto(self, _: Any) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_broken_body_raises_a_retryable_urllib3_error() -> None:
    body = _Body(_response(_Breaking()))
    with pytest.raises(urllib3.exceptions.ProtocolError) as caught:
        read_body_into(body, memoryview(bytearray(9)))
    assert isinstance(caught.value, RETRYABLE_STREAM_ERRORS)


def test_other_bodies_are_read_with_their_own_readinto() -> None:
    class Plain:
        def readinto(self, view: memoryview) -> int:
            view[:3] = b"xyz"
            return 3

    buffer = bytearray(8)
    assert read_body_into(Plain(), memoryview(buffer)) == 3
    assert buffer[:3] == b"xyz"

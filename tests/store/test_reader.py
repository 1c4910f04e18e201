"""open(): a seekable, streaming reader over an SSE object."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest
import urllib3.exceptions

from securestore import (
    Connection,
    NotFoundError,
    ObjectReader,
    PreconditionFailedError,
    SecureStore,
    StorageError,
)
from securestore.clientside import HEADER_PROBE

SIZE = 2 * 1024 * 1024 + 12345  # more than two reader chunks (1 MiB each)
DATA = random.Random(1).randbytes(SIZE)


@pytest.fixture
def store(make_store: Callable[..., SecureStore]) -> SecureStore:
    store = make_store()
    store.put("obj", DATA)
    return store


def test_reader_reports_size_and_capabilities(store: SecureStore) -> None:
    with store.open("obj") as reader:
        assert isinstance(reader, ObjectReader)
        assert reader.size == SIZE
        assert reader.readable() and reader.seekable()
        assert not reader.writable()
        assert reader.tell() == 0


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 100),
        (SIZE // 2, 4096),
        (SIZE - 10, 10),
        (SIZE - 10, 100),
        (SIZE, 10),
        (SIZE + 1000, 10),
        (0, SIZE),
        (1024 * 1024 - 1, 2),
    ],
    ids=["start", "middle", "end", "over-end", "at-end", "past-end", "all", "chunk-edge"],
)
def test_read_range(store: SecureStore, start: int, length: int) -> None:
    with store.open("obj") as reader:
        assert reader.read_range(start, length) == DATA[start : start + length]
        assert reader.tell() == 0  # like os.pread (tests/clientside/test_read_range_position.py)


def test_seek_whence_and_read(store: SecureStore) -> None:
    with store.open("obj") as reader:
        assert reader.seek(-10, io.SEEK_END) == SIZE - 10
        assert reader.read() == DATA[-10:]
        assert reader.tell() == SIZE
        assert reader.read(5) == b""
        assert reader.seek(100) == 100
        assert reader.read(10) == DATA[100:110]
        assert reader.seek(-50, io.SEEK_CUR) == 60
        assert reader.read(5) == DATA[60:65]
        assert reader.seek(1000, io.SEEK_CUR) == 1065
        assert reader.read(3) == DATA[1065:1068]
        assert reader.seek(SIZE + 5) == SIZE + 5
        assert reader.read() == b""
        assert reader.seek(0, io.SEEK_SET) == 0
        assert reader.read(4) == DATA[:4]


def test_invalid_seeks_are_value_errors(store: SecureStore) -> None:
    with store.open("obj") as reader:
        with pytest.raises(ValueError):
            reader.seek(-1)
        with pytest.raises(ValueError):
            reader.seek(-SIZE - 1, io.SEEK_END)
        with pytest.raises(ValueError):
            reader.seek(0, 3)
        assert reader.tell() == 0


def test_readinto_fills_a_buffer(store: SecureStore) -> None:
    buffer = bytearray(1000)
    with store.open("obj") as reader:
        reader.seek(SIZE - 400)
        count = reader.readinto(buffer)
        assert 0 < count <= 400
        assert bytes(buffer[:count]) == DATA[SIZE - 400 : SIZE - 400 + count]
        assert reader.readinto(memoryview(buffer)[:0]) == 0


def test_iteration_yields_bounded_chunks(store: SecureStore) -> None:
    with store.open("obj") as reader:
        chunks = list(reader)
    assert b"".join(chunks) == DATA
    assert len(chunks) >= 3
    assert all(0 < len(chunk) <= 1024 * 1024 for chunk in chunks)


def test_buffered_wrapper_works(store: SecureStore) -> None:
    with store.open("obj") as raw, io.BufferedReader(raw, 64 * 1024) as buffered:
        buffered.seek(SIZE // 3)
        assert buffered.read(70_000) == DATA[SIZE // 3 : SIZE // 3 + 70_000]


def test_empty_object(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    store.put("empty", b"")
    with store.open("empty") as reader:
        assert reader.size == 0
        assert reader.read() == b""
        assert list(reader) == []
        assert reader.read_range(0, 10) == b""


def test_context_manager_closes(store: SecureStore) -> None:
    with store.open("obj") as reader:
        reader.read(10)
    assert reader.closed


def test_closed_reader_refuses_io(store: SecureStore) -> None:
    """``io`` semantics: a closed reader raises instead of opening a new GET."""
    with store.open("obj") as reader:
        reader.read(10)
    with pytest.raises(ValueError):
        reader.seek(0)
    with pytest.raises(ValueError):
        reader.read(10)
    with pytest.raises(ValueError):
        reader.tell()
    with pytest.raises(ValueError):
        reader.read_range(0, 10)
    with pytest.raises(ValueError):
        list(reader)


def test_open_missing_key(make_store: Callable[..., SecureStore]) -> None:
    with pytest.raises(NotFoundError):
        make_store().open("missing")


def test_object_replaced_after_open_is_not_mixed(store: SecureStore) -> None:
    """Every GET is conditional on the ETag seen at open: no bytes of two versions mixed."""
    reader = store.open("obj")
    try:
        store.put("obj", b"a completely different object")
        with pytest.raises(PreconditionFailedError) as info:
            reader.read(10)
        assert (info.value.bucket, info.value.key) == (store.bucket, "obj")
    finally:
        reader.close()


def test_object_replaced_mid_read_is_refused_after_seek(store: SecureStore) -> None:
    with store.open("obj") as reader:
        assert reader.read(10) == DATA[:10]
        store.put("obj", b"replacement")
        reader.seek(SIZE // 2)
        with pytest.raises(PreconditionFailedError):
            reader.read(10)


class _Breaking:
    """A response body that raises a connection error after ``limit`` bytes."""

    def __init__(self, body: Any, limit: int) -> None:
        self._body = body
        self._left = limit

    def read(self, amount: int | None = None) -> bytes:
        if self._left <= 0:
            raise urllib3.exceptions.ProtocolError("connection broken (injected)")
        data: bytes = self._body.read(min(amount or self._left, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()


def _break_bodies(connection: Connection, limit: int, times: int) -> list[str]:
    """Break the first ``times`` GetObject bodies after ``limit`` bytes; returns the ranges.

    The small GET with which ``open`` reads an object's first bytes is not counted.
    """
    ranges: list[str] = []

    def wrap(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if parsed.get("ContentRange", "").startswith(f"bytes 0-{HEADER_PROBE - 1}/"):
            return
        ranges.append(parsed.get("ContentRange", ""))
        if len(ranges) <= times and "Body" in parsed:
            parsed["Body"] = _Breaking(parsed["Body"], limit)

    connection.client("s3").meta.events.register("after-call.s3.GetObject", wrap)
    return ranges


def test_broken_stream_is_resumed(
    fault_store: Callable[..., SecureStore], fault_connection: Connection
) -> None:
    store = fault_store()
    store.put("obj", DATA)
    ranges = _break_bodies(fault_connection, 300_000, times=2)
    with store.open("obj") as reader:
        assert reader.read() == DATA
    assert len(ranges) == 3
    assert ranges[1].startswith("bytes 300000-")
    assert ranges[2].startswith("bytes 600000-")


def test_stream_that_keeps_breaking_is_a_storage_error(
    fault_store: Callable[..., SecureStore], fault_connection: Connection
) -> None:
    store = fault_store()
    store.put("obj", DATA)
    ranges = _break_bodies(fault_connection, 0, times=100)
    with store.open("obj") as reader, pytest.raises(StorageError) as info:
        reader.read()
    assert isinstance(info.value.__cause__, urllib3.exceptions.ProtocolError)
    assert len(ranges) == store.transfer.read_retries + 1

"""A server that ignores Range must not corrupt a read: every ranged answer's
Content-Range is checked against the range asked for."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore
from securestore.errors import StorageError
from securestore.reader import range_answered

DATA = os.urandom(12 * 1024 * 1024)  # three 5 MiB parts: ranged, parallel GETs


@pytest.mark.parametrize(
    ("header", "first", "last", "ok"),
    [
        ("bytes 0-99/1000", 0, 99, True),
        ("bytes 100-199/1000", 100, 199, True),
        ("bytes 900-999/1000", 900, 1999, True),  # past the end: cut at the last byte
        ("bytes 900-999/1000", 900, None, True),
        ("bytes 0-999/1000", 100, 199, False),  # the object from byte 0
        ("bytes 100-150/1000", 100, 199, False),  # short, though not at the end
        ("bytes 100-199/*", 100, 250, False),
        (None, 0, None, True),  # a plain 200 for "from 0 to the end"
        (None, 0, 99, False),
        (None, 100, None, False),
        ("items 0-1/2", 0, 1, False),
        ("bytes x-y/z", 0, 1, False),
    ],
)
def test_range_answered(header: str | None, first: int, last: int | None, ok: bool) -> None:
    assert range_answered(header, first, last) is ok


@pytest.fixture
def range_ignored(make_store: Callable[..., SecureStore]) -> Iterator[SecureStore]:
    """A store whose GETs reach the server without their Range header."""
    store = make_store()
    store.put("big", DATA)
    events = store.connection.client("s3").meta.events

    def strip(request: Any, **_: Any) -> None:
        if "Range" in request.headers and request.headers["Range"] != "bytes=0-4095":
            del request.headers["Range"]

    events.register("before-send.s3.GetObject", strip)
    try:
        yield store
    finally:
        events.unregister("before-send.s3.GetObject", strip)


def test_download_from_a_server_ignoring_range_fails_and_leaves_nothing(
    range_ignored: SecureStore, tmp_path: Path
) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(StorageError, match="did not answer the byte range"):
        range_ignored.download_file("big", target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_random_read_from_a_server_ignoring_range_fails(range_ignored: SecureStore) -> None:
    with range_ignored.open("big") as reader, pytest.raises(StorageError):
        reader.read_range(7 * 1024 * 1024, 100)

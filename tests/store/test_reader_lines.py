"""Both readers as file objects: readlines() returns lines, bad ranges are ConfigurationError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from securestore import ClientSide, ConfigurationError, RawAesKeyring, SecureStore

BODY = b"id,amount\n" + b"".join(b"%d,%d.5\n" % (i, i) for i in range(2000)) + b"no newline"
LINES = BODY.splitlines(keepends=True)


@pytest.fixture(params=["server-side", "client-side"])
def store(request: pytest.FixtureRequest, make_store: Callable[..., SecureStore]) -> SecureStore:
    if request.param == "server-side":
        return make_store()
    # Small frames: lines cross frame boundaries.
    return make_store(
        encryption=ClientSide(RawAesKeyring("securestore", "default", bytes(32)), frame_length=512)
    )


def test_readlines_returns_lines(store: SecureStore) -> None:
    store.put("t.csv", BODY)
    with store.open("t.csv") as reader:
        assert reader.readlines() == LINES
    with store.open("t.csv") as reader:
        assert reader.readline() == LINES[0]
        assert reader.readlines() == LINES[1:]
    with store.open("t.csv") as reader:
        some = reader.readlines(30)
        assert some == LINES[: len(some)] and 30 <= sum(map(len, some)) < 30 + 12
        assert reader.tell() == sum(map(len, some))


@pytest.mark.parametrize(("start", "length"), [(-1, 4), (0, -4)])
def test_a_negative_range_is_a_configuration_error(
    store: SecureStore, start: int, length: int
) -> None:
    store.put("r.bin", b"0123456789")
    reader: Any = store.open("r.bin")
    with reader, pytest.raises(ConfigurationError, match="invalid range"):
        reader.read_range(start, length)

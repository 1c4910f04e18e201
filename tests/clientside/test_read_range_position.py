"""``read_range`` is a pread: neither reader moves the position ``read`` and ``tell`` use.

The server-side reader (:class:`ObjectReader`) used to leave its position after the
range while the client-side reader left it alone, so ``read()`` after ``read_range()``
returned different bytes depending on how the object was encrypted.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest

from securestore import (
    ClientSideReader,
    ConfigurationError,
    ObjectReader,
    RawAesKeyring,
    SecureStore,
    SseS3,
)
from securestore.clientside import ClientSide

F = 4096
DATA = random.Random(5).randbytes(5 * F + 123)


@pytest.fixture(params=["server-side", "client-side"])
def store(
    request: pytest.FixtureRequest,
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
) -> SecureStore:
    mode = SseS3() if request.param == "server-side" else ClientSide(aes_keyring, frame_length=F)
    store = make_store(encryption=mode)
    store.put("obj", DATA)
    return store


@pytest.mark.parametrize(
    ("start", "length"),
    [(0, 10), (F - 3, 7), (2 * F, 3 * F + 123), (len(DATA) - 5, 100), (len(DATA), 10), (7, 0)],
)
def test_read_range_does_not_move_the_position(store: SecureStore, start: int, length: int) -> None:
    with store.open("obj") as reader:
        assert isinstance(reader, ObjectReader | ClientSideReader)
        assert reader.read(3) == DATA[:3]
        assert reader.read_range(start, length) == DATA[start : start + length]
        assert reader.tell() == 3
        assert reader.read(4) == DATA[3:7]
        reader.seek(-2, io.SEEK_END)
        assert reader.read_range(start, length) == DATA[start : start + length]
        assert reader.tell() == len(DATA) - 2
        assert reader.read() == DATA[-2:]


def test_whole_reads_and_pieces_still_agree(store: SecureStore) -> None:
    assert store.get("obj") == DATA
    with store.open("obj") as reader:
        pieces = [reader.read_range(at, 1000) for at in range(100, len(DATA), 1000)]
        assert b"".join(pieces) == DATA[100:]
        assert reader.tell() == 0


@pytest.mark.parametrize(
    ("start", "length"),
    [(-1, 4), (0, -4), ("0", 4), (0, "4"), (1.5, 2), (True, 1), (None, 1)],
)
def test_a_bad_range_is_the_same_configuration_error_for_every_reader(
    store: SecureStore, start: object, length: object
) -> None:
    # A str or float was a TypeError from a comparison deep in one reader or another.
    with store.open("obj") as reader:
        with pytest.raises(ConfigurationError, match=r"invalid range: (start|length) must be"):
            reader.read_range(start, length)  # type: ignore[arg-type]
        assert reader.tell() == 0

"""Downloads start the writeback of each range as it lands, then fsync once at the end.

A download is fsynced before its rename (durability by default). Left to the
end, that fsync waited for every dirty page of the file (about 10 % of a
large download); each range's writeback is now started (Linux
``sync_file_range``, which does not wait) as soon as the range is written, so
the final fsync has little left. These tests guard that every byte was handed
to the kernel that way before the fsync, and that the hint never fails a
download.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import securestore.ranges
from securestore import SecureStore, TransferConfig
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from securestore.ranges import start_writeback

MiB = 1024 * 1024
KEYRING = RawAesKeyring("securestore-test", "writeback", bytes(range(32)))
#: Several ranges per object, so that the writeback is started range by range.
PARTS = TransferConfig(part_size=5 * MiB, concurrency=2)


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_every_range_is_handed_to_writeback_before_the_final_fsync(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    mode = ClientSide(KEYRING, frame_length=64 * 1024) if client_side else None
    store = make_store(encryption=mode, transfer=PARTS) if mode else make_store(transfer=PARTS)
    data = os.urandom(17 * MiB + 4321)
    store.put("obj", data)
    events: list[tuple[str, int, int]] = []
    real_sync = securestore.ranges._SYNC_FILE_RANGE
    real_fsync = os.fsync

    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == 2  # SYNC_FILE_RANGE_WRITE alone: start, never wait
        events.append(("writeback", offset, length))
        return real_sync(fd, offset, length, flags) if real_sync is not None else 0

    def fsync(fd: int) -> None:
        events.append(("fsync", 0, 0))
        real_fsync(fd)

    monkeypatch.setattr(securestore.ranges, "_SYNC_FILE_RANGE", sync_file_range)
    monkeypatch.setattr(os, "fsync", fsync)
    store.download_file("obj", tmp_path / "obj")
    assert (tmp_path / "obj").read_bytes() == data
    assert events[-1][0] == "fsync" and [kind for kind, _, _ in events].count("fsync") == 1
    spans = sorted((offset, offset + length) for _, offset, length in events[:-1])
    assert len(spans) >= 3  # one per range
    covered = 0
    for start, end in spans:
        assert start <= covered, f"bytes {covered}..{start} were never handed to writeback"
        covered = max(covered, end)
    assert covered >= len(data)


def test_starting_writeback_is_only_a_hint(tmp_path: Path) -> None:
    if sys.platform.startswith("linux"):
        assert securestore.ranges._SYNC_FILE_RANGE is not None
    read, write = os.pipe()
    try:
        start_writeback(write, 0, 4096)  # a pipe refuses it (ESPIPE): ignored
    finally:
        os.close(read)
        os.close(write)
    start_writeback(write, 0, 4096)  # a closed descriptor (EBADF): ignored
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    fd = os.open(path, os.O_RDWR)
    try:
        start_writeback(fd, 0, 0)  # nothing to write back
        start_writeback(fd, 0, 1 << 40)  # past the end: what exists
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x" * 10


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_a_small_download_gives_no_writeback_hint_before_its_fsync(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    """One range: the fsync follows at once, so a hint would only be one more system call
    (a GIL hand-off per file of a tree download)."""
    mode = ClientSide(KEYRING, frame_length=4096) if client_side else None
    store = make_store(encryption=mode) if mode else make_store()
    data = os.urandom(40_000)
    store.put("small", data)
    hints: list[int] = []

    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> int:
        hints.append(length)
        return 0

    monkeypatch.setattr(securestore.ranges, "_SYNC_FILE_RANGE", sync_file_range)
    store.download_file("small", tmp_path / "small")
    assert (tmp_path / "small").read_bytes() == data
    assert hints == []

"""A parallel download's writes: one at a time, all before the fsync, then the rename.

The ranges of a download are fetched by several workers, but their bytes reach
the partial file through one :class:`~securestore.diskwriter.DiskWriter`: one
write at a time (writes to one file serialize on its inode lock, so workers
waiting for each other's writes stopped reading their sockets), the writeback
of what was written started along the way, and every write done before the
final fsync and the rename. These tests guard the file's content, the order
of the durability calls, and the failure paths (disk full, a tampered frame):
nothing left behind, the old destination untouched.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import securestore.ranges
from securestore import (
    AuthenticationError,
    LocalFileError,
    SecureStore,
    TransferConfig,
    TransferError,
)
from securestore.clientside import ClientSide
from securestore.diskwriter import DiskWriter
from securestore.keyrings import RawAesKeyring

MiB = 1024 * 1024
KEYRING = RawAesKeyring("securestore-test", "durability", bytes(range(32)))
#: Four ranges fetched by three workers.
PARTS = TransferConfig(part_size=5 * MiB, concurrency=3)
DATA = os.urandom(17 * MiB + 4321)
#: What the destination held before a download replaces it.
PREVIOUS = b"the previous version"


def _store(make_store: Callable[..., SecureStore], client_side: bool) -> SecureStore:
    """A store (SSE, or client-side in 64 KiB frames) holding :data:`DATA` as ``obj``."""
    if client_side:
        store = make_store(encryption=ClientSide(KEYRING, frame_length=64 * 1024), transfer=PARTS)
    else:
        store = make_store(transfer=PARTS)
    store.put("obj", DATA)
    return store


def _previous_version(tmp_path: Path) -> Path:
    """The download's destination, holding :data:`PREVIOUS`."""
    target = tmp_path / "obj"
    target.write_bytes(PREVIOUS)
    return target


class _Recorder:
    """Wraps pwrite, the writeback hint, fsync and replace; notes them in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, pause: float = 0.0) -> None:
        self.events: list[tuple[str, int, int]] = []
        #: Writes whose bytes were not the plaintext at their offset.
        self.wrong: list[int] = []
        self.writing = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        self._pause = pause
        real_pwrite, real_fsync, real_replace = os.pwrite, os.fsync, os.replace
        real_hint = securestore.ranges._SYNC_FILE_RANGE

        def pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
            with self._lock:
                self.writing += 1
                self.most_at_once = max(self.most_at_once, self.writing)
            try:
                time.sleep(self._pause)  # widens the window in which two writes would overlap
                written = real_pwrite(fd, data, offset)
                with self._lock:
                    self.events.append(("write", offset, written))
                    if bytes(memoryview(data)[:written]) != DATA[offset : offset + written]:
                        self.wrong.append(offset)
                return written
            finally:
                with self._lock:
                    self.writing -= 1

        def hint(fd: int, offset: int, length: int, flags: int) -> int:
            with self._lock:
                self.events.append(("writeback", offset, length))
            return real_hint(fd, offset, length, flags) if real_hint is not None else 0

        def fsync(fd: int) -> None:
            with self._lock:
                self.events.append(("fsync", 0, 0))
            real_fsync(fd)

        def replace(src: str | Path, dst: str | Path) -> None:
            with self._lock:
                self.events.append(("rename", 0, 0))
            real_replace(src, dst)

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(securestore.ranges, "_SYNC_FILE_RANGE", hint)

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]


def _covered(spans: list[tuple[int, int]]) -> int:
    """How far from 0 the spans cover without a gap."""
    covered = 0
    for start, end in sorted(spans):
        if start > covered:
            break
        covered = max(covered, end)
    return covered


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_writes_one_at_a_time_then_fsync_then_rename(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    store = _store(make_store, client_side)
    target = _previous_version(tmp_path)
    recorder = _Recorder(monkeypatch, pause=0.01)
    told: list[int] = []
    store.download_file("obj", target, progress=told.append)
    assert target.read_bytes() == DATA
    assert sum(told) == len(DATA)  # progress counts each byte once, after it is written
    assert recorder.wrong == []
    assert recorder.most_at_once == 1  # never two writes into the file at once
    kinds = recorder.kinds()
    assert kinds.count("fsync") == 1 and kinds.count("rename") == 1
    assert kinds[-2:] == ["fsync", "rename"]  # every write and hint before them
    writes = [(o, o + n) for kind, o, n in recorder.events if kind == "write"]
    assert sum(end - start for start, end in writes) == len(DATA)  # each byte written once
    assert _covered(writes) == len(DATA)
    hinted = [(o, o + n) for kind, o, n in recorder.events if kind == "writeback"]
    assert _covered(hinted) >= len(DATA)  # all handed to writeback before the fsync
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obj"]


@pytest.mark.parametrize("client_side", [False, True], ids=["sse", "client-side"])
def test_a_full_disk_mid_download_leaves_the_destination_as_it_was(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    store = _store(make_store, client_side)
    target = _previous_version(tmp_path)
    real_pwrite = os.pwrite
    budget = [6 * MiB]  # the disk fills during the second range
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def pwrite(fd: int, data: bytes | memoryview, offset: int) -> int:
        if budget[0] < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        budget[0] -= len(data)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)

    def fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(LocalFileError) as info:
        store.download_file("obj", target)
    assert "No space left" in info.value.message
    assert info.value.hint is not None and "free space" in info.value.hint
    assert fsyncs == []  # never made durable, never renamed
    assert target.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obj"]


def test_a_tampered_frame_in_a_later_range_writes_nothing_of_it(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bucket: str,
) -> None:
    store = _store(make_store, True)
    s3 = store.connection.client("s3")
    body = bytearray(s3.get_object(Bucket=bucket, Key="obj")["Body"].read())
    body[12 * MiB] ^= 1  # inside the third range's frames
    s3.put_object(Bucket=bucket, Key="obj", Body=bytes(body), Metadata=_metadata(s3, bucket))
    recorder = _Recorder(monkeypatch)
    target = tmp_path / "obj"
    with pytest.raises(AuthenticationError):
        store.download_file("obj", target)
    assert recorder.wrong == []  # only authenticated plaintext reached the partial file
    assert "rename" not in recorder.kinds() and "fsync" not in recorder.kinds()
    assert list(tmp_path.iterdir()) == []


def _metadata(s3: Any, bucket: str) -> dict[str, str]:
    metadata: dict[str, str] = s3.head_object(Bucket=bucket, Key="obj")["Metadata"]
    return metadata


def _writer(fd: int, **kwargs: object) -> DiskWriter:
    return DiskWriter(fd, buffer_size=4, writeback=lambda *_: None, **kwargs)  # type: ignore[arg-type]


def test_the_pool_is_bounded_and_queued_buffers_are_written_at_the_end(tmp_path: Path) -> None:
    with (tmp_path / "f").open("wb") as handle:
        fd = handle.fileno()
        writer = _writer(fd, buffers=3)
        with writer:
            held = [writer.buffer() for _ in range(3)]
            for number, view in enumerate(held):
                view[:4] = bytes([65 + number]) * 4
                writer.submit(view, 4, 4 * number)
            again = writer.buffer()  # one of the three, written and given back
            assert any(again is view for view in held)
            writer.release(again)
    assert (tmp_path / "f").read_bytes() == b"AAAABBBBCCCC"


def test_nothing_is_written_after_the_block_fails(tmp_path: Path) -> None:
    with (tmp_path / "f").open("wb") as handle:
        writer = _writer(handle.fileno(), buffers=2)
        writer.__enter__()
        writer.buffer()
        failure = RuntimeError("a worker failed")
        writer.__exit__(RuntimeError, failure, None)  # the block left by an exception
        with pytest.raises(TransferError):
            writer.buffer()
        with pytest.raises(TransferError):
            writer.submit(memoryview(bytearray(4)), 4, 0)
    assert (tmp_path / "f").read_bytes() == b""


def test_a_plain_download_writes_pieces_smaller_than_a_mib(
    make_store: Callable[..., SecureStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes of 1 MiB at 1 MiB-aligned offsets cost Linux 6.x 4-7x the kernel CPU of
    512 KiB ones (docs/benchmark-log.md, stop 21): the plain path keeps them smaller."""
    store = _store(make_store, False)
    recorder = _Recorder(monkeypatch, pause=0.0)
    store.download_file("obj", tmp_path / "obj")
    sizes = [n for kind, _, n in recorder.events if kind == "write"]
    assert sum(sizes) == len(DATA)
    assert max(sizes) <= securestore.ranges.WRITE_PIECE < MiB

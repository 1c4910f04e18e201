"""AtomicFile and the reaping of partial files under a tree transfer's load (real files)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import localfile, partials
from securestore.localfile import PARTIAL_SUFFIX, AtomicFile, partial_prefix


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_parallel_new_files_keep_the_process_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    """Reading the umask sets it: two threads doing so at once left the process at 0."""
    real = os.umask

    def slow_umask(mask: int) -> int:
        old = real(mask)
        time.sleep(0.01)  # another thread runs in between, as on a loaded machine
        return old

    monkeypatch.setattr(os, "umask", slow_umask)
    barrier = threading.Barrier(8)

    def write(index: int) -> None:
        barrier.wait()
        with AtomicFile(tmp_path / f"f{index}", create_mode=0o666) as out:
            out.write_at(b"data", 0)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(os, "umask", real)
    assert os.umask(0o022) == 0o022
    assert {(tmp_path / f"f{i}").stat().st_mode & 0o777 for i in range(8)} == {0o644}


def test_current_umask_reads_without_changing(umask_022: None) -> None:
    os.umask(0o027)
    assert localfile.current_umask() == 0o027
    assert os.umask(0o022) == 0o027


def test_no_pattern_is_compiled_when_no_partial_file_has_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling two new patterns per download was a tenth of a small download's CPU."""
    other = tmp_path / f"{partial_prefix('other')}{os.getpid()}.0123abcd{PARTIAL_SUFFIX}"
    other.write_bytes(b"partial")
    compiled: list[str] = []
    real = re.compile

    def counting(pattern: str, *args: Any) -> Any:
        if re.escape(PARTIAL_SUFFIX) in pattern:
            compiled.append(pattern)
        return real(pattern, *args)

    monkeypatch.setattr(re, "compile", counting)
    monkeypatch.setattr(partials, "_SCAN_REUSE", 0.0)
    for index in range(20):
        assert localfile.reap_stale_partials(tmp_path, f"f{index}") == []
    assert compiled == []
    assert other.exists()


def test_a_stale_partial_of_the_name_is_still_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partials, "_SCAN_REUSE", 0.0)
    stale = tmp_path / f"{partial_prefix('f')}{os.getpid()}.0123abcd{PARTIAL_SUFFIX}"
    legacy = tmp_path / f".f.abcd1234{PARTIAL_SUFFIX}"
    near = tmp_path / f".f2.abcd1234{PARTIAL_SUFFIX}"  # another name's: kept
    for path in (stale, legacy, near):
        path.write_bytes(b"partial")
        long_ago = time.time() - localfile.STALE_AFTER - 60
        os.utime(path, (long_ago, long_ago))
    assert sorted(localfile.reap_stale_partials(tmp_path, "f")) == sorted([stale.name, legacy.name])
    assert near.exists()


def test_a_new_0600_file_is_not_chmodded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    """The partial file is created 0600 (umask applied): a client-side download's mode."""
    modes: list[int] = []
    real = os.fchmod
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: (modes.append(mode), real(fd, mode)))
    os.umask(0o277)
    with AtomicFile(tmp_path / "secret", create_mode=0o600) as out:
        out.write_at(b"plaintext", 0)
    os.umask(0o022)
    assert modes == []
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o400
    with AtomicFile(tmp_path / "plain", create_mode=0o666) as out:
        out.write_at(b"data", 0)
    assert modes == [0o644]

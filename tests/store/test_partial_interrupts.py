"""An interrupt at any step of finishing a file leaves no partial file (it may hold plaintext).

In-process: the exception a signal handler raises (``KeyboardInterrupt``) arrives
in the fsync, the rename or just after the partial file was created. In a child
process: a real SIGINT/SIGTERM reaches ``decrypt -r`` and ``get`` while the main
thread is in the fsync of a finished file (made slow, as a large file or a network
disk makes it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore.localfile import PARTIAL_SUFFIX, AtomicFile
from tests.support.cli import Run

ROOT = Path(__file__).resolve().parents[2]


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(PARTIAL_SUFFIX))


def _interrupt_after(real: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    return call


def _interrupt(*_: Any, **__: Any) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("step", ["fsync", "replace", "fchmod"])
def test_an_interrupt_while_finishing_removes_the_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), AtomicFile(dest) as out:  # noqa: PT012
        out.write_at(b"new bytes", 0)
        monkeypatch.setattr(os, step, _interrupt)
    monkeypatch.undo()
    assert _partials(tmp_path) == []
    assert dest.read_bytes() == b"old"


def test_an_interrupt_after_the_rename_keeps_the_complete_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out.bin"
    with pytest.raises(KeyboardInterrupt), AtomicFile(dest) as out:  # noqa: PT012
        out.write_at(b"new bytes", 0)
        monkeypatch.setattr(os, "replace", _interrupt_after(os.replace))
    monkeypatch.undo()
    assert _partials(tmp_path) == []
    assert dest.read_bytes() == b"new bytes"


def test_an_interrupt_just_after_creating_the_partial_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "open", _interrupt_after(os.open))
    with pytest.raises(KeyboardInterrupt), AtomicFile(tmp_path / "out.bin"):
        pass
    monkeypatch.undo()
    assert _partials(tmp_path) == []


def test_a_name_taken_is_not_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """O_EXCL failing means the name is another's: it stays."""
    real = os.open

    def taken(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(PARTIAL_SUFFIX):
            Path(path).write_bytes(b"another's")
            return real(path, flags, *args, **kwargs)  # EEXIST
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", taken)
    with pytest.raises(Exception, match="cannot write"), AtomicFile(tmp_path / "out.bin"):
        pass
    monkeypatch.undo()
    assert len(_partials(tmp_path)) == 1


SLOW_FSYNC = """
import os, time
_real = os.fsync
def fsync(fd):
    _real(fd)
    open(os.environ["FSYNC_MARK"], "a").close()
    time.sleep(30)
os.fsync = fsync
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_decrypt_recursive_signalled_in_a_slow_fsync_leaves_no_partial(
    run: Run, tmp_path: Path, number: int
) -> None:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    for index in range(3):
        (plain / f"f{index}.txt").write_bytes(os.urandom(50_000))
    enc = tmp_path / "enc"
    done = run("encrypt", str(plain), "-o", str(enc), "--recursive", "--key-file", str(key))
    assert done.exit_code == 0, done.stderr
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_FSYNC)
    mark = tmp_path / "in-fsync"
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "securestore_cli", "decrypt", str(enc), "-o", str(out),
         "--recursive", "--key-file", str(key)],
        env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "FSYNC_MARK": str(mark)},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "never reached an fsync"
        time.sleep(0.02)
    proc.send_signal(number)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + number, err
    assert b"Traceback" not in err
    assert _partials(out) == []

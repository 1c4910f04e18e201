"""A FIFO or device at a name a key gives is never written through (another local user
could have put it there to receive the plaintext); a path the caller names still is."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore


@pytest.fixture
def fifo_reader(tmp_path: Path) -> Iterator[Callable[[Path], int]]:
    """Make a FIFO at a path with a reader already open (a writer's open would not block)."""
    opened: list[int] = []

    def make(path: Path) -> int:
        os.mkfifo(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        opened.append(fd)
        return fd

    yield make
    for fd in opened:
        os.close(fd)


def _drained(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


@pytest.mark.parametrize("command", ["sync", "cp"])
def test_a_tree_download_refuses_a_fifo_at_a_keys_name(
    run: Callable[..., Any],
    make_store: Callable[..., SecureStore],
    bucket: str,
    tmp_path: Path,
    fifo_reader: Callable[[Path], int],
    command: str,
) -> None:
    make_store().put("t/secret.txt", b"the plaintext")
    down = tmp_path / "down"
    down.mkdir()
    fd = fifo_reader(down / "secret.txt")
    args = [command, f"s3://{bucket}/t/", str(down)] + ["--recursive"] * (command == "cp")
    result = run(*args)
    assert result.exit_code == 3, result.output
    assert "not a regular file" in result.stderr
    assert _drained(fd) == b""
    assert stat.S_ISFIFO(os.lstat(down / "secret.txt").st_mode)


def test_get_into_a_folder_refuses_a_fifo_at_the_keys_name_but_writes_to_a_named_one(
    run: Callable[..., Any],
    make_store: Callable[..., SecureStore],
    bucket: str,
    tmp_path: Path,
    fifo_reader: Callable[[Path], int],
) -> None:
    make_store().put("secret.txt", b"the plaintext")
    down = tmp_path / "down"
    down.mkdir()
    fd = fifo_reader(down / "secret.txt")
    refused = run("get", f"s3://{bucket}/secret.txt", f"{down}/")
    assert refused.exit_code == 3, refused.output
    assert "error: refusing to write into" in refused.stderr
    assert _drained(fd) == b""
    named = run("get", f"s3://{bucket}/secret.txt", str(down / "secret.txt"))
    assert named.exit_code == 0, named.output
    assert _drained(fd) == b"the plaintext"


def test_decrypt_recursive_refuses_a_fifo_in_the_output_tree(
    run: Callable[..., Any], tmp_path: Path, fifo_reader: Callable[[Path], int]
) -> None:
    key = tmp_path / "k.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    plain, vault, out = tmp_path / "plain", tmp_path / "vault", tmp_path / "out"
    plain.mkdir()
    (plain / "secret.txt").write_bytes(b"the plaintext")
    assert run("encrypt", str(plain), "-o", str(vault), "-r", "--key-file", str(key)).exit_code == 0
    out.mkdir()
    fd = fifo_reader(out / "secret.txt")
    result = run("decrypt", str(vault), "-o", str(out), "-r", "--key-file", str(key))
    assert result.exit_code == 3, result.output
    assert _drained(fd) == b""

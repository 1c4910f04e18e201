"""Key files: created 0600 without temporary files, never overwritten, refused when exposed."""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore.errors import ConfigurationError
from securestore.keyrings import (
    generate_aes_key_file,
    load_aes_key_file,
    load_rsa_private_key_file,
)


def keygen(*args: object) -> Result:
    return CliRunner().invoke(main_group, ["keygen", *map(str, args)])


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_aes_key_file_is_0600_even_with_an_open_umask(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    with umask(0o000):
        result = keygen("--aes", folder / "team.key")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in folder.iterdir()] == ["team.key"]  # no temporary file left behind
    path = folder / "team.key"
    assert mode_of(path) == 0o600
    text = path.read_bytes()
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert len(base64.b64decode(text.strip(), validate=True)) == 32
    assert text.strip().decode() not in result.stdout + result.stderr
    assert load_aes_key_file(path) == base64.b64decode(text)  # what keygen writes loads


def test_a_key_file_in_a_world_writable_directory_is_refused_with_a_hint(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    assert keygen("--aes", folder / "team.key").exit_code == 0
    folder.chmod(0o777)
    result = CliRunner().invoke(
        main_group, ["get", "s3://bucket/key", "-", "--key-file", str(folder / "team.key")]
    )
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: key file {folder}/team.key is in directory {folder}")
    assert lines[1] == f"hint: run: chmod go-w {folder} (or move the key file elsewhere)"
    folder.chmod(0o1777)  # sticky, like /tmp: accepted
    assert len(load_aes_key_file(folder / "team.key")) == 32


def test_rsa_key_files_private_0600_public_0644(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    with umask(0o000):
        result = keygen("--rsa", folder / "backup")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["backup.pem", "backup.pub.pem"]
    assert mode_of(folder / "backup.pem") == 0o600
    assert mode_of(folder / "backup.pub.pem") == 0o644
    assert b"PRIVATE KEY" in (folder / "backup.pem").read_bytes()
    assert b"PRIVATE" not in (folder / "backup.pub.pem").read_bytes()


def test_rsa_keygen_refuses_an_existing_public_file_and_leaves_no_private_key(
    tmp_path: Path,
) -> None:
    public = tmp_path / "backup.pub.pem"
    public.write_bytes(b"someone else's file\n")
    result = keygen("--rsa", tmp_path / "backup")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "already exists" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.pub.pem"]
    assert public.read_bytes() == b"someone else's file\n"


def test_rsa_keygen_refuses_an_existing_private_file(tmp_path: Path) -> None:
    private = tmp_path / "backup.pem"
    private.write_bytes(b"old key\n")
    result = keygen("--rsa", tmp_path / "backup")
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert private.read_bytes() == b"old key\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.pem"]


@pytest.mark.parametrize("target", ["dangling", "existing"])
def test_keygen_never_writes_through_a_symlink(tmp_path: Path, target: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    if target == "existing":
        elsewhere.write_bytes(b"victim\n")
    link = tmp_path / "team.key"
    link.symlink_to(elsewhere)
    with pytest.raises(ConfigurationError, match="already exists"):
        generate_aes_key_file(link)
    assert link.is_symlink()
    assert (
        (elsewhere.read_bytes() == b"victim\n") if target == "existing" else not elsewhere.exists()
    )


# Every permission bit that lets someone other than the owner read, write or traverse.
EXPOSED_MODES = [0o640, 0o620, 0o610, 0o604, 0o602, 0o601, 0o660, 0o644, 0o666, 0o700 | 0o044]


@pytest.fixture
def rsa_pem(rsa_keys: Any) -> bytes:
    pem: bytes = rsa_keys[0][1]
    return pem


@pytest.mark.parametrize("mode", EXPOSED_MODES, ids=lambda m: f"{m:o}")
def test_exposed_key_files_are_refused_with_the_fix(
    tmp_path: Path, mode: int, rsa_pem: bytes
) -> None:
    aes = tmp_path / "team.key"
    generate_aes_key_file(aes)
    (tmp_path / "rsa.pem").write_bytes(rsa_pem)
    for path, load in ((aes, load_aes_key_file), (tmp_path / "rsa.pem", load_rsa_private_key_file)):
        path.chmod(mode)
        with pytest.raises(ConfigurationError) as info:
            load(path)  # type: ignore[operator]
        message = str(info.value)
        assert "accessible by group or others" in message
        assert f"(mode {mode:o})" in message and info.value.hint == f"run: chmod 600 {path}"
        path.chmod(0o600)
        load(path)  # type: ignore[operator]


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_owner_only_key_files_are_accepted(tmp_path: Path, mode: int) -> None:
    aes = tmp_path / "team.key"
    generate_aes_key_file(aes)
    aes.chmod(mode)
    assert len(load_aes_key_file(aes)) == 32


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    generate_aes_key_file(real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(ConfigurationError, match="cannot open key file"):
        load_aes_key_file(link)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(mode=0o700), "not a regular file"),
        (lambda p: p.write_bytes(b"A" * (64 * 1024 + 1)), "too large"),
        (lambda p: p.write_bytes(b"short"), "neither base64 nor a raw AES key"),
        (lambda p: p.write_bytes(base64.b64encode(b"x" * 31) + b"\n"), "128, 192 or 256-bit"),
    ],
    ids=["directory", "oversized", "garbage", "wrong-length"],
)
def test_unusable_key_files_are_configuration_errors(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "bad.key"
    make(path)
    if path.is_file():
        path.chmod(0o600)
    with pytest.raises(ConfigurationError, match=message) as info:
        load_aes_key_file(path)
    assert "AAAA" not in str(info.value)


@pytest.mark.timeout(30)
def test_a_fifo_as_key_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    outcome: list[BaseException | object] = []

    def load() -> None:
        try:
            outcome.append(load_aes_key_file(fifo))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(1.0)
    blocked = worker.is_alive()
    if blocked:  # release the loader: a writer that closes at once gives it EOF
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5.0)
    assert not blocked, "loading a FIFO as a key file blocked"
    assert isinstance(outcome[0], ConfigurationError)

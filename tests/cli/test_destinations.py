"""Where ``get`` and ``download_file`` write: links, devices, FIFOs, modes, read-only files,
long names, stale partial files and a full disk (real files, the TLS endpoint)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import LocalFileError, SecureStore
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from securestore.localfile import PARTIAL_SUFFIX, STALE_AFTER, partial_prefix
from tests.conftest import ROOT, Endpoint
from tests.support.cli import Run

DATA = os.urandom(200_000)


@pytest.fixture
def aes_keyring() -> RawAesKeyring:
    return RawAesKeyring("securestore", "default", bytes(range(32)))


@pytest.fixture
def url(run: Run, bucket: str, tmp_path: Path) -> str:
    src = tmp_path / "source.bin"
    src.write_bytes(DATA)
    assert run("put", str(src), f"s3://{bucket}/obj").exit_code == 0
    return f"s3://{bucket}/obj"


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX))


def test_a_symlink_is_followed_and_stays_a_link(run: Run, url: str, tmp_path: Path) -> None:
    real = tmp_path / "real" / "file.bin"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    result = run("get", url, str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == DATA
    assert partials(tmp_path) == [] and partials(real.parent) == []


def test_a_dangling_symlink_is_refused(run: Run, url: str, tmp_path: Path) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere" / "file")
    result = run("get", url, str(link))
    assert result.exit_code == 2
    assert "dangling symbolic link" in result.stderr
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_device_node_is_written_through_not_replaced(run: Run, url: str, tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs root")
    result = run("get", url, str(node))
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(node.stat().st_mode)
    assert partials(tmp_path) == []


def test_a_fifo_with_a_reader_receives_the_object(run: Run, url: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def read() -> None:
        with open(fifo, "rb") as handle:
            while piece := handle.read(65536):
                received.extend(piece)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = run("get", url, str(fifo))
    finally:
        if reader.is_alive():  # unblock the reader if get never opened the FIFO
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert bytes(received) == DATA
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_fifo_without_a_reader_is_refused_at_once(run: Run, url: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = run("get", url, str(fifo))
    assert result.exit_code == 2
    assert "no process is reading" in result.stderr
    assert time.monotonic() - started < 30
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dev_stdout_appends_like_a_redirection(
    tls_endpoint: Endpoint, url: str, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"earlier lines\n")
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "securestore_cli", "get", url, "/dev/stdout"],
            cwd=ROOT,
            env={**os.environ, **tls_endpoint.env},
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert log.read_bytes() == b"earlier lines\n" + DATA


def test_an_existing_file_keeps_its_mode(run: Run, url: str, tmp_path: Path) -> None:
    dest = tmp_path / "secret.bin"
    dest.write_bytes(b"old")
    dest.chmod(0o640)
    assert run("get", url, str(dest)).exit_code == 0
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert dest.read_bytes() == DATA


def test_an_existing_file_keeps_its_owner_as_root(run: Run, url: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    dest = tmp_path / "owned.bin"
    dest.write_bytes(b"old")
    os.chown(dest, 12345, 23456)
    assert run("get", url, str(dest)).exit_code == 0
    info = dest.stat()
    assert (info.st_uid, info.st_gid) == (12345, 23456)
    assert dest.read_bytes() == DATA


def test_new_files_get_0600_for_client_side_and_the_umask_otherwise(
    make_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    sse = make_store()
    sse.put("plain", DATA)
    client_side = make_store(keyring=aes_keyring)
    client_side.put("secret", DATA, encryption=ClientSide(aes_keyring))
    old = os.umask(0o022)
    try:
        sse.download_file("plain", tmp_path / "plain")
        client_side.download_file("secret", tmp_path / "secret")
        client_side.download_file("secret", tmp_path / "shared", mode=0o640)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o640
    assert (tmp_path / "secret").read_bytes() == DATA


def test_a_read_only_destination_needs_force(run: Run, url: str, tmp_path: Path) -> None:
    dest = tmp_path / "readonly.bin"
    dest.write_bytes(b"keep me")
    dest.chmod(0o444)
    refused = run("get", url, str(dest))
    assert refused.exit_code == 2
    assert "read-only" in refused.stderr and "--force" in refused.stderr
    assert dest.read_bytes() == b"keep me"
    forced = run("get", url, str(dest), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert dest.read_bytes() == DATA
    assert stat.S_IMODE(dest.stat().st_mode) == 0o444


def test_the_library_refuses_a_read_only_destination(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("k", DATA)
    dest = tmp_path / "ro"
    dest.write_bytes(b"keep")
    dest.chmod(0o400)
    with pytest.raises(LocalFileError, match="read-only"):
        store.download_file("k", dest)
    assert dest.read_bytes() == b"keep"
    store.download_file("k", dest, overwrite_readonly=True)
    assert dest.read_bytes() == DATA


def test_a_255_byte_name_can_be_downloaded(run: Run, url: str, tmp_path: Path) -> None:
    dest = tmp_path / ("é" * 100 + "x" * 55)  # 255 bytes, the most NAME_MAX allows
    assert len(os.fsencode(dest.name)) == 255
    result = run("get", url, str(dest))
    assert result.exit_code == 0, result.stderr
    assert dest.read_bytes() == DATA
    assert len(os.fsencode(partial_prefix(dest.name))) < 100


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_partial_files_of_the_destination_are_reaped(
    run: Run, url: str, tmp_path: Path
) -> None:
    dest = tmp_path / "data.bin"
    prefix = partial_prefix(dest.name)
    dead = tmp_path / f"{prefix}{dead_pid()}.0123abcd{PARTIAL_SUFFIX}"
    live = tmp_path / f"{prefix}{os.getpid()}.0123abcd{PARTIAL_SUFFIX}"
    old = tmp_path / f"{prefix}{os.getpid()}.4567abcd{PARTIAL_SUFFIX}"
    legacy_old = tmp_path / f".data.bin.ab_c1234{PARTIAL_SUFFIX}"
    other = tmp_path / f"{partial_prefix('data.bin.2')}{dead_pid()}.0123abcd{PARTIAL_SUFFIX}"
    for path in (dead, live, old, legacy_old, other):
        path.write_bytes(b"partial")
    long_ago = time.time() - STALE_AFTER - 60
    for path in (old, legacy_old):
        os.utime(path, (long_ago, long_ago))
    result = run("get", url, str(dest))
    assert result.exit_code == 0, result.stderr
    assert partials(tmp_path) == sorted([live.name, other.name])


def test_one_folder_scan_serves_many_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the folder before every download made a sync into one folder O(n²)."""
    from securestore import localfile, partials

    scans: list[str] = []
    real = os.scandir

    def counting(path: Any) -> Any:
        scans.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(localfile.os, "scandir", counting)
    for index in range(50):
        (tmp_path / f"f{index}").write_bytes(b"x")
        localfile.reap_stale_partials(tmp_path, f"f{index}")
    assert scans == [os.fspath(tmp_path)]
    dead = tmp_path / f"{partial_prefix('late')}{dead_pid()}.0123abcd{PARTIAL_SUFFIX}"
    dead.write_bytes(b"partial")
    monkeypatch.setattr(partials, "_SCAN_REUSE", 0.0)  # the half-minute has passed
    assert localfile.reap_stale_partials(tmp_path, "late") == [dead.name]
    assert len(scans) == 2


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only): writes beyond it fail with ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_a_local_file_error_and_changes_nothing(
    run: Run,
    bucket: str,
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    tiny_fs: Path,
) -> None:
    big = os.urandom(3 * 1024 * 1024)
    store = make_store(keyring=aes_keyring)
    store.put("big", big)
    store.put("big-cs", big, encryption=ClientSide(aes_keyring))
    dest = tiny_fs / "dest.bin"
    dest.write_bytes(b"previous")
    result = run("get", f"s3://{bucket}/big", str(dest))
    assert result.exit_code == 2, result.stderr
    assert "No space left on device" in result.stderr
    assert "hint: free space" in result.stderr
    with pytest.raises(LocalFileError, match="No space left"):
        store.download_file("big-cs", dest)
    assert dest.read_bytes() == b"previous"
    assert partials(tiny_fs) == []


def test_a_full_device_and_a_full_stdout_are_local_file_errors(
    tls_endpoint: Endpoint, url: str, tmp_path: Path
) -> None:
    # A private full device, never /dev/full itself: code that replaces its destination
    # (the bug this guards against) would turn the machine's /dev/full into a file.
    device = tmp_path / "full"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    for args, stdout in (([str(device)], subprocess.DEVNULL), (["-"], "/dev/full")):
        with open(stdout, "wb") if isinstance(stdout, str) else contextlib.nullcontext() as out:
            done = subprocess.run(
                [sys.executable, "-m", "securestore_cli", "get", url, *args],
                cwd=ROOT,
                env={**os.environ, **tls_endpoint.env},
                stdout=out if out is not None else stdout,
                stderr=subprocess.PIPE,
                timeout=120,
                check=False,
            )
        assert done.returncode == 2, done.stderr
        assert b"error: cannot write" in done.stderr and b"No space left" in done.stderr
        assert b"Traceback" not in done.stderr
    assert stat.S_ISCHR(device.stat().st_mode)


def test_download_file_of_a_client_side_object_streams_into_a_fifo(
    make_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    big = os.urandom(3 * 1024 * 1024 + 5)  # several parallel ranges for a file
    store = make_store(keyring=aes_keyring)
    store.put("cs", big, encryption=ClientSide(aes_keyring, frame_length=64 * 1024))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def read() -> None:
        with open(fifo, "rb") as handle:
            while piece := handle.read(65536):
                received.extend(piece)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        store.download_file("cs", fifo)
    finally:
        if reader.is_alive():
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert bytes(received) == big
    assert stat.S_ISFIFO(fifo.stat().st_mode)

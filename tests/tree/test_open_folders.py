"""Folders kept open across the files of a tree download (securestore.openfolders).

A kept folder must be no weaker than a fresh walk: a folder swapped for a link
after an earlier file of it was written is refused (before the download and
before the rename), one replaced by another real folder is walked again, and
the number of descriptors kept stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore
from securestore.confine import DESCRIPTORS, Destination
from securestore.errors import PolicyError
from securestore.localfile import AtomicFile
from securestore.openfolders import OpenFolder, OpenFolders
from securestore.tree import copy_tree
from tests.support.cli import Run
from tests.tree.conftest import make_tree, read_tree

pytestmark = pytest.mark.skipif(not DESCRIPTORS, reason="descriptor-relative walks: POSIX only")


@pytest.fixture
def destination(tmp_path: Path) -> Iterator[Destination]:
    found = Destination(tmp_path / "dest")
    try:
        yield found
    finally:
        found.close()


def _write(destination: Destination, relative: str, data: bytes) -> None:
    with destination.place(relative) as placed, AtomicFile(placed.target) as out:
        out.write_at(data, 0)


def _swap(folder: Path, aside: Path, link_to: Path) -> None:
    os.rename(folder, aside)
    folder.symlink_to(link_to)


def _write_then_swap(destination: Destination, relative: str, swap: Callable[[], None]) -> None:
    with destination.place(relative) as placed, AtomicFile(placed.target) as out:
        out.write_at(b"data", 0)
        swap()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_kept_folder_swapped_for_a_link_is_refused_before_the_next_download(
    destination: Destination, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    _write(destination, "a/b/one.txt", b"one")  # walks a/b and keeps it open
    _swap(tmp_path / "dest" / "a", tmp_path / "aside", outside)
    with pytest.raises(PolicyError, match="it leads outside the destination"):
        _write(destination, "a/b/two.txt", b"two")
    assert list((outside / "b").iterdir()) == []  # not even a partial file
    assert read_tree(tmp_path / "aside") == {"b/one.txt": b"one"}


def test_a_kept_folder_swapped_during_the_download_is_refused_at_the_rename(
    destination: Destination, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    dest = tmp_path / "dest"
    _write(destination, "a/b/one.txt", b"one")
    swap = lambda: _swap(dest / "a", tmp_path / "aside", outside)  # noqa: E731
    with pytest.raises(PolicyError, match="it leads outside the destination"):
        _write_then_swap(destination, "a/b/two.txt", swap)
    assert list((outside / "b").iterdir()) == []
    assert read_tree(tmp_path / "aside") == {"b/one.txt": b"one"}  # no partial file left


def test_a_kept_folder_replaced_by_a_new_folder_is_walked_again(
    destination: Destination, tmp_path: Path
) -> None:
    """Someone recreated the folder mid-job: the next file goes to the new one, as by path."""
    dest = tmp_path / "dest"
    _write(destination, "a/b/one.txt", b"one")
    os.rename(dest / "a", tmp_path / "aside")
    (dest / "a" / "b").mkdir(parents=True)
    _write(destination, "a/b/two.txt", b"two")
    assert read_tree(dest) == {"a/b/two.txt": b"two"}


def test_a_folder_replaced_by_a_link_inside_the_destination_is_refused_once_kept(
    destination: Destination, tmp_path: Path
) -> None:
    """As a fresh walk's recheck: a link that stays inside still moves the file elsewhere."""
    dest = tmp_path / "dest"
    (dest / "c" / "b").mkdir(parents=True)
    _write(destination, "a/b/one.txt", b"one")
    swap = lambda: _swap(dest / "a", tmp_path / "aside", dest / "c")  # noqa: E731
    with pytest.raises(PolicyError, match="it was replaced while the file was written"):
        _write_then_swap(destination, "a/b/two.txt", swap)
    assert read_tree(dest / "c") == {}


def test_files_of_one_folder_reuse_its_descriptor(
    destination: Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No folder is opened again for the next files (the walk and the recheck opened
    three folders per file)."""
    _write(destination, "a/b/one.txt", b"one")
    before = _open_fds()
    folders: list[str] = []
    real = os.open

    def opening(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_DIRECTORY:
            folders.append(os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", opening)
    for index in range(20):
        _write(destination, f"a/b/f{index}.txt", b"x")
    assert folders == []
    assert _open_fds() == before


def test_unused_folders_kept_open_are_bounded(tmp_path: Path) -> None:
    folders = OpenFolders(kept=2)
    before = _open_fds()
    made = []
    for name in "abcd":
        (tmp_path / name).mkdir()
        fd = os.open(tmp_path / name, os.O_RDONLY | os.O_DIRECTORY)
        info = os.fstat(fd)
        kept = folders.keep((name,), OpenFolder(fd, [name], [(info.st_dev, info.st_ino)]))
        made.append(kept)
        if name != "a":
            folders.give_back(kept)
    # "a" is in use; of the unused ones only the two most recent stay open.
    assert _open_fds() == before + 3
    assert folders.take(("b",)) is None
    folders.close()
    assert _open_fds() == before + 1  # in use: closed only when given back
    folders.give_back(made[0])
    assert _open_fds() == before


@pytest.fixture
def swap_before_second(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """Swaps queued here run when the job hands ``.../a/b/file.txt`` over (after early.txt)."""
    queued: list[Callable[[], None]] = []
    original = SecureStore.download_file

    def download_file(self: SecureStore, key: str, path: Any, **kwargs: Any) -> Any:
        if key.endswith("a/b/file.txt"):
            while queued:
                queued.pop(0)()
        return original(self, key, path, **kwargs)

    monkeypatch.setattr(SecureStore, "download_file", download_file)
    return queued


def test_sync_refuses_a_kept_folder_swapped_for_a_link_mid_job(
    run: Run, bucket: str, tmp_path: Path, swap_before_second: list[Callable[[], None]]
) -> None:
    """The first file of a/b made the job keep a/b open; the swap comes before the second."""
    src = tmp_path / "src"
    make_tree(src, {"a/b/early.txt": b"first", "a/b/file.txt": b"second"})
    url = f"s3://{bucket}/kept/"
    assert run("cp", str(src), url, "--recursive").exit_code == 0
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    dest = tmp_path / "dest"
    swap_before_second.append(lambda: _swap(dest / "a", tmp_path / "aside", outside))
    result = run("sync", url, str(dest), "--concurrency", "1")
    assert not swap_before_second, "the hook did not run"
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "it leads outside the destination" in result.stderr
    assert list((outside / "b").iterdir()) == []
    assert read_tree(tmp_path / "aside") == {"b/early.txt": b"first"}


def test_a_tree_download_reads_the_umask_once_and_applies_it(
    make_store: Callable[..., SecureStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the umask is two system calls and a lock: once per job, not per file."""
    store = make_store()
    files = {f"d{i % 3}/f{i}.txt": b"x" * i for i in range(12)}
    make_tree(tmp_path / "src", files)
    assert copy_tree(tmp_path / "src", (store, "t/")).ok
    calls: list[int] = []
    real = os.umask

    def umask(mask: int) -> int:
        calls.append(mask)
        return real(mask)

    old = real(0o027)
    try:
        monkeypatch.setattr(os, "umask", umask)
        result = copy_tree((store, "t/"), tmp_path / "dest")
    finally:
        real(old)
    assert result.ok and read_tree(tmp_path / "dest") == files
    assert len(calls) == 2  # set and restored once
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "dest").rglob("*.txt")}
    assert modes == {0o640}


def test_close_while_a_download_places_keeps_the_root_open_until_it_ends(
    tmp_path: Path,
) -> None:
    """An interrupt closes the destination while workers may still write. Closing the
    root's descriptor under them let the next open reuse its number: their ``dir_fd``
    calls would then look into another folder (old code: the rename was refused)."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "a").mkdir(parents=True)
    destination = Destination(tmp_path / "dest")
    with destination.place("a/x.txt") as placed, AtomicFile(placed.target) as out:
        out.write_at(b"data", 0)
        destination.close()
        other = os.open(elsewhere, os.O_RDONLY | os.O_DIRECTORY)  # the lowest free number
        try:
            out.write_at(b"!", 4)
        finally:
            os.close(other)
    assert read_tree(tmp_path / "dest") == {"a/x.txt": b"data!"}
    assert list((elsewhere / "a").iterdir()) == []
    before = _open_fds()
    _write(destination, "a/y.txt", b"y")  # a later place opens the root again
    destination.close()
    assert _open_fds() == before  # and the last user's close closed it


def test_folders_kept_open_fit_the_descriptor_limit() -> None:
    """Old code kept 128 whatever ``ulimit -n`` said: at macOS's 256, a download of
    many folders ran out of descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert OpenFolders()._kept == (
        128 if soft >= 1024 or soft == resource.RLIM_INFINITY else soft // 8
    )
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        assert OpenFolders()._kept == 32
        assert OpenFolders(kept=5)._kept == 5
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _walked(root: Path, names: list[str]) -> OpenFolder:
    identities = []
    for depth in range(1, len(names) + 1):
        info = os.stat(root.joinpath(*names[:depth]))
        identities.append((info.st_dev, info.st_ino))
    return OpenFolder(-1, names, identities)


def test_a_middle_step_swapped_for_a_link_to_the_same_folder_fails_the_check(
    tmp_path: Path,
) -> None:
    """Same identities at every step, but the route goes through a link: refused at it."""
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    folder = _walked(tmp_path, ["a", "b", "c"])
    root_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert folder.still_there(root_fd) == 3
        os.rename(tmp_path / "a" / "b", tmp_path / "a" / "b-real")
        (tmp_path / "a" / "b").symlink_to("b-real")
        fds = _open_fds()
        assert folder.still_there(root_fd) == 1
        assert _open_fds() == fds  # the steps opened to walk are closed again
    finally:
        os.close(root_fd)

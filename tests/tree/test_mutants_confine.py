"""The rules of a tree download's confinement, one by one (securestore.confine, stop 26).

A mutation pass (docs/mutation.md) found these rules unpinned by the plain-file tests
of test_links_race.py and test_open_folders.py: following a link that stays inside the
destination, the bound on links followed, what a walk refuses (a file where a folder
should be, a missing folder below a link, a name it cannot use), a link at the file's
own name refused before the download starts, the folders created (reported, and
removed again when the placing fails), the cleanup of empty folders by descriptor,
the size and times of a placed file, and every descriptor closed again.
Local files only: no S3 endpoint.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from securestore.confine import DESCRIPTORS, Destination, Placed, confined_target, open_folder
from securestore.errors import LocalFileError, PolicyError
from securestore.localfile import AtomicFile
from tests.tree.conftest import make_tree, read_tree

descriptors = pytest.mark.skipif(not DESCRIPTORS, reason="descriptor-relative walks: POSIX only")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _write(destination: Destination, relative: str, data: bytes) -> Placed:
    with destination.place(relative) as placed, AtomicFile(placed.target) as out:
        out.write_at(data, 0)
    return placed


def _everything(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux has every dir_fd call")
def test_linux_walks_folders_by_descriptor() -> None:
    """Where the dir_fd calls exist, the walk by descriptor (not the by-path check, with
    its window) is what a tree download uses."""
    assert DESCRIPTORS is True


@descriptors
@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../dest"])
def test_open_folder_takes_one_folder_name_only(tmp_path: Path, name: str) -> None:
    (tmp_path / "dest" / "a" / "b").mkdir(parents=True)
    root = os.open(tmp_path / "dest", os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(ValueError, match="not a folder name"):
            open_folder(root, name, mode=0o777)
    finally:
        os.close(root)


@descriptors
def test_open_folder_without_a_mode_leaves_a_missing_folder_missing(tmp_path: Path) -> None:
    root = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileNotFoundError):
            open_folder(root, "missing")
        assert not (tmp_path / "missing").exists()
        fd, created = open_folder(root, "missing", mode=0o777)
        os.close(fd)
        assert created and (tmp_path / "missing").is_dir()
        fd, created = open_folder(root, "missing", mode=0o777)
        os.close(fd)
        assert not created
        (tmp_path / "file").write_bytes(b"x")
        with pytest.raises(NotADirectoryError):
            open_folder(root, "file", mode=0o777)
    finally:
        os.close(root)


@descriptors
def test_a_key_through_a_link_inside_the_destination_lands_in_the_linked_folder(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    (dest / "real" / "sub").mkdir(parents=True)
    (dest / "alias").symlink_to("real")
    (dest / "here").symlink_to(".")  # the root itself
    destination = Destination(dest)
    try:
        _write(destination, "alias/sub/x.txt", b"x")
        _write(destination, "alias/y.txt", b"y")
        _write(destination, "here/z.txt", b"z")
        _write(destination, "here/real/sub/w.txt", b"w")
    finally:
        destination.close()
    assert read_tree(dest / "real") == {"sub/x.txt": b"x", "sub/w.txt": b"w", "y.txt": b"y"}
    assert (dest / "z.txt").read_bytes() == b"z"


def _chain(dest: Path, links: int) -> str:
    """``d/l/l/.../l/x.txt``: ``d/l`` is a link to ``d`` itself, followed ``links`` times."""
    (dest / "d").mkdir(parents=True)
    (dest / "d" / "l").symlink_to(".")
    return "/".join(["d", *["l"] * links, "x.txt"])


@descriptors
def test_at_most_forty_links_are_followed_on_one_route(tmp_path: Path) -> None:
    """As the kernel's own limit on a path: a route of links (a loop, say) is refused, not
    walked for ever; forty links on one route are still followed."""
    dest = tmp_path / "dest"
    relative = _chain(dest, 40)
    destination = Destination(dest)
    try:
        _write(destination, relative, b"forty")
        with pytest.raises(PolicyError, match="refusing to write through the symbolic link"):
            _write(destination, relative.replace("d/", "d/l/", 1), b"forty-one")
        (dest / "loop").symlink_to("loop")
        with pytest.raises(PolicyError, match="refusing to write through the symbolic link"):
            _write(destination, "loop/x.txt", b"loop")
    finally:
        destination.close()
    assert read_tree(dest) == {"d/x.txt": b"forty"}


@descriptors
def test_a_file_where_a_folder_should_be_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    make_tree(dest, {"a/b": b"a file", "f": b"another"})
    destination = Destination(dest)
    before = _open_fds()
    try:
        with pytest.raises(LocalFileError, match="a file of that name exists"):
            _write(destination, "a/b/c/x.txt", b"x")
        with pytest.raises(LocalFileError, match="a file of that name exists"):
            _write(destination, "f/x.txt", b"x")
    finally:
        destination.close()
    assert _open_fds() == before
    assert read_tree(dest) == {"a/b": b"a file", "f": b"another"}


@descriptors
def test_a_folder_name_the_system_refuses_is_a_local_file_error_and_undone(
    tmp_path: Path,
) -> None:
    """A name too long for the file system, as a folder or as the file: refused as a
    LocalFileError naming it; the folders made for it are removed again, nothing leaks."""
    dest = tmp_path / "dest"
    dest.mkdir()
    destination = Destination(dest)
    long = "n" * 300
    before = _open_fds()
    try:
        with pytest.raises(LocalFileError, match="cannot create"):
            _write(destination, f"made/{long}/x.txt", b"x")
        body = []
        refused = pytest.raises(LocalFileError, match="cannot use")
        with refused, destination.place(f"made/again/{long}"):
            body.append("ran")
        assert body == []
        assert _everything(dest) == []  # made/ and made/again/ are removed again
    finally:
        destination.close()
    assert _open_fds() == before


@descriptors
def test_a_link_at_the_files_name_is_refused_before_the_download_starts(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    make_tree(outside, {"secret.txt": b"secret"})
    dest.mkdir()
    (dest / "x.txt").symlink_to(outside / "secret.txt")
    (dest / "sub").mkdir()
    (dest / "sub" / "y.txt").symlink_to(outside / "secret.txt")
    destination = Destination(dest)
    body = []
    try:
        for relative in ("x.txt", "sub/y.txt"):
            refused = pytest.raises(
                PolicyError, match="refusing to write through the symbolic link"
            )
            with refused, destination.place(relative):
                body.append(relative)  # the download (its GET) would start here
    finally:
        destination.close()
    assert body == []
    assert read_tree(outside) == {"secret.txt": b"secret"}


@descriptors
def test_the_folders_made_for_a_file_are_reported_and_get_the_mode_asked_for(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    (dest / "old").mkdir(parents=True)
    old = os.umask(0o022)
    try:
        destination = Destination(dest)
        try:
            first = _write(destination, "old/a/b/x.txt", b"x")
            again = _write(destination, "old/a/b/y.txt", b"y")
            existing = _write(destination, "old/z.txt", b"z")
        finally:
            destination.close()
    finally:
        os.umask(old)
    assert first.created == [dest / "old" / "a", dest / "old" / "a" / "b"]
    assert again.created == [] and existing.created == []
    for folder in first.created:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@descriptors
def test_a_placed_files_size_and_times_are_of_the_file_written_not_of_a_swapped_in_link(
    tmp_path: Path,
) -> None:
    """After the rename a local user swaps the folder for a link to an outside folder
    holding a file of that name: the size read and the times set are still those of the
    file written (by descriptor, never through the link)."""
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    make_tree(outside, {"x.txt": b"outside, longer"})
    os.utime(outside / "x.txt", (1_000_000, 1_000_000))
    destination = Destination(dest)
    try:
        placed = _write(destination, "a/x.txt", b"ours")
        os.rename(dest / "a", tmp_path / "aside")
        (dest / "a").symlink_to(outside)
        assert placed.size() == 4
        placed.set_times(2_000_000)
    finally:
        destination.close()
    assert os.stat(tmp_path / "aside" / "x.txt").st_mtime == 2_000_000
    assert os.stat(outside / "x.txt").st_mtime == 1_000_000


def test_a_file_placed_by_path_has_its_size_and_times(tmp_path: Path) -> None:
    """The by-path ``Placed`` (no folder descriptor: a single download, or no dir_fd)."""
    target = tmp_path / "f.txt"
    target.write_bytes(b"12345")
    placed = Placed(target, [])
    assert placed.size() == 5
    placed.set_times(3_000_000)
    assert os.stat(target).st_mtime == 3_000_000


@descriptors
def test_every_descriptor_is_closed_with_the_destination(tmp_path: Path) -> None:
    """Root, kept folders, a folder walked again, a link followed, a cleanup, a close
    while a download places: once the job closes its destination nothing stays open."""
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to("real")
    before = _open_fds()
    destination = Destination(dest)
    _write(destination, "a/b/one.txt", b"one")
    os.rename(dest / "a", tmp_path / "aside")  # the kept a/b is replaced: walked again
    _write(destination, "a/b/two.txt", b"two")
    _write(destination, "alias/three.txt", b"three")
    with destination.place("c/four.txt") as placed, AtomicFile(placed.target) as out:
        out.write_at(b"four", 0)
        destination.close()  # an interrupt: the root stays open until this download ends
    assert _open_fds() == before
    assert destination.remove_empty([dest / "empty"]) == []  # closed: nothing by descriptor
    _write(destination, "d/five.txt", b"five")  # opened again
    destination.close()
    assert _open_fds() == before
    assert read_tree(dest) == {
        "a/b/two.txt": b"two",
        "real/three.txt": b"three",
        "c/four.txt": b"four",
        "d/five.txt": b"five",
    }


@descriptors
def test_remove_empty_removes_the_empty_folders_below_the_root_by_descriptor(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)  # what a removal through a link would take
    for folder in ("e1/e2/e3", "kept/e4", "swapped/b"):
        (dest / folder).mkdir(parents=True)
    (dest / "kept" / "file.txt").write_bytes(b"stays")
    at_start = _open_fds()
    destination = Destination(dest)
    try:
        _write(destination, "w.txt", b"opens the root")
        os.rename(dest / "swapped", tmp_path / "aside")
        (dest / "swapped").symlink_to(outside)
        innermost_first = [
            dest / "e1" / "e2" / "e3",
            dest / "swapped" / "b",
            dest / "kept" / "e4",
            dest / "e1" / "e2",
            dest / "kept",
            dest / "e1",
            dest,
            tmp_path / "beside",
        ]
        before = _open_fds()
        others = destination.remove_empty(innermost_first)
        assert _open_fds() == before
    finally:
        destination.close()
    assert _open_fds() == at_start  # the removal gave the root back: closed with the job
    assert others == [dest, tmp_path / "beside"]  # the caller's to remove by path
    assert _everything(dest) == ["kept", "kept/file.txt", "swapped", "w.txt"]
    assert _everything(outside) == ["b"]
    assert _everything(tmp_path / "aside") == ["b"]  # the link was not followed either


@descriptors
def test_a_dangling_link_inside_the_destination_is_never_made_into_a_folder(
    tmp_path: Path,
) -> None:
    """A link to a folder inside that does not exist: as by path (``mkdir`` through a
    dangling link fails), refused; nothing is created where it points."""
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to("missing/deeper")
    (dest / "half").symlink_to("real/missing")  # its first folder exists, not the second
    destination = Destination(dest)
    try:
        for relative in ("alias/x.txt", "half/x.txt", "half/new/x.txt"):
            with pytest.raises(LocalFileError, match="cannot write to"):
                _write(destination, relative, b"x")
    finally:
        destination.close()
    assert _everything(dest) == ["alias", "half", "real"]


@descriptors
def test_a_root_that_cannot_be_opened_is_a_local_file_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    real_open = os.open

    def refusing(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if path == dest:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    destination = Destination(dest)
    with pytest.raises(LocalFileError, match=f"cannot use {dest}: Permission denied"):
        _write(destination, "x.txt", b"x")
    destination.close()
    assert _everything(dest) == []


@descriptors
def test_a_missing_folder_below_a_link_inside_the_destination_is_made_as_by_path(
    tmp_path: Path,
) -> None:
    """``alias -> real`` inside the destination, key ``alias/new/x.txt``: the by-path
    check (``decrypt -r``, Windows) makes ``real/new``; the walk by descriptor refused
    it ("cannot write to .../real/new: No such file or directory") until stop 26."""
    by_path = tmp_path / "by-path"
    (by_path / "real").mkdir(parents=True)
    (by_path / "alias").symlink_to("real")
    _, created = confined_target(by_path, "alias/new/deeper/x.txt")
    assert created == [by_path / "alias" / "new", by_path / "alias" / "new" / "deeper"]
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to("real")
    destination = Destination(dest)
    try:
        placed = _write(destination, "alias/new/deeper/x.txt", b"x")
    finally:
        destination.close()
    assert placed.created == [dest / "real" / "new", dest / "real" / "new" / "deeper"]
    assert read_tree(dest / "real") == {"new/deeper/x.txt": b"x"}

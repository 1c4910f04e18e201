"""The folders a tree download keeps open, rule by rule (securestore.openfolders, stop 26).

A mutation pass (docs/mutation.md) found these unpinned by test_open_folders.py: which
kept folder is closed first (the least recently *used*, a reuse counts), a second
folder kept for the same key meanwhile (the first one wins, the second is closed),
every folder handed out closed once given back after ``close``, the limit's floor
and an unlimited ``ulimit -n``, and a folder that vanished mid-download (moved away,
nothing in its place) refused as replaced.
Local files only: no S3 endpoint.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore.confine import DESCRIPTORS, Destination
from securestore.errors import PolicyError
from securestore.localfile import AtomicFile
from securestore.openfolders import KEPT, OpenFolder, OpenFolders, kept_within_limit
from tests.tree.conftest import read_tree

pytestmark = pytest.mark.skipif(not DESCRIPTORS, reason="descriptor-relative walks: POSIX only")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def folder_of(tmp_path: Path) -> Callable[[str], OpenFolder]:
    """``folder_of(name)``: a fresh :class:`OpenFolder` of ``tmp_path/name`` (made if missing)."""

    def make(name: str) -> OpenFolder:
        (tmp_path / name).mkdir(exist_ok=True)
        fd = os.open(tmp_path / name, os.O_RDONLY | os.O_DIRECTORY)
        info = os.fstat(fd)
        return OpenFolder(fd, [name], [(info.st_dev, info.st_ino)])

    return make


def test_the_least_recently_used_folder_is_closed_first_a_reuse_counts(
    folder_of: Callable[[str], OpenFolder],
) -> None:
    folders = OpenFolders(kept=2)
    before = _open_fds()
    for name in "ab":
        folders.give_back(folders.keep((name,), folder_of(name)))
    again = folders.take(("a",))  # "a" used again: "b" is now the least recently used
    assert again is not None
    folders.give_back(again)
    folders.give_back(folders.keep(("c",), folder_of("c")))
    assert folders.take(("b",)) is None
    for name in "ac":
        kept = folders.take((name,))
        assert kept is not None, name
        folders.give_back(kept)
    assert _open_fds() == before + 2
    folders.close()
    assert _open_fds() == before


def test_a_folder_kept_meanwhile_for_the_same_key_wins_and_the_other_is_closed(
    folder_of: Callable[[str], OpenFolder],
) -> None:
    """Two downloads of one folder walked it in parallel: one descriptor is kept."""
    folders = OpenFolders(kept=4)
    before = _open_fds()
    first = folders.keep(("a",), folder_of("a"))
    second = folders.keep(("a",), folder_of("a"))
    assert second is first
    assert _open_fds() == before + 1
    folders.give_back(first)
    folders.give_back(second)
    taken = folders.take(("a",))
    assert taken is first
    folders.give_back(taken)
    folders.close()
    assert _open_fds() == before


def test_a_dropped_folder_is_replaced_by_the_next_one_kept(
    folder_of: Callable[[str], OpenFolder],
) -> None:
    folders = OpenFolders(kept=4)
    before = _open_fds()
    old = folders.keep(("a",), folder_of("a"))
    folders.drop(("a",), old)
    new = folders.keep(("a",), folder_of("a"))
    assert new is not old
    folders.give_back(old)  # closed: dropped and unused
    assert _open_fds() == before + 1
    assert folders.take(("a",)) is new
    folders.give_back(new)
    folders.give_back(new)
    folders.close()
    assert _open_fds() == before


def test_every_folder_handed_out_is_closed_once_given_back_after_close(
    folder_of: Callable[[str], OpenFolder],
) -> None:
    folders = OpenFolders(kept=4)
    before = _open_fds()
    kept = folders.keep(("a",), folder_of("a"))
    taken = folders.take(("a",))
    assert taken is kept
    folders.close()
    assert _open_fds() == before + 1  # in use twice
    folders.give_back(taken)
    assert _open_fds() == before + 1
    folders.give_back(kept)
    assert _open_fds() == before


@pytest.mark.parametrize(
    ("soft", "kept"),
    [(resource.RLIM_INFINITY, KEPT), (8, 1), (15, 1), (16, 2), (256, 32), (4096, KEPT)],
)
def test_the_folders_kept_are_an_eighth_of_the_limit_at_least_one_at_most_kept(
    monkeypatch: pytest.MonkeyPatch, soft: int, kept: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, resource.RLIM_INFINITY))
    assert kept_within_limit() == kept


def test_a_folder_moved_away_during_the_download_is_refused_as_replaced(
    tmp_path: Path,
) -> None:
    """Nothing in its place (the route's step is missing): the rename is refused, and the
    file written so far stays with the folder that was moved."""
    dest = tmp_path / "dest"
    destination = Destination(dest)
    try:
        refused = pytest.raises(PolicyError, match="it was replaced while the file was written")
        with refused, destination.place("a/b/x.txt") as placed, AtomicFile(placed.target) as out:
            out.write_at(b"data", 0)
            os.rename(dest / "a", tmp_path / "aside")
    finally:
        destination.close()
    assert read_tree(tmp_path / "aside") == {}
    assert not (dest / "a").exists()
    folder = OpenFolder(-1, ["a", "b"], [(0, 0), (0, 0)])
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert folder.still_there(root) == 0  # the first step is missing
    finally:
        os.close(root)

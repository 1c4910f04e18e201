"""A local user swaps a checked folder for a link mid-job: nothing leaves the tree (confine.py).

Each race is made deterministic by a hook at the exact point between the check and
the write (or unlink): a wrapper of a function the job calls there performs the
swap, as a local attacker with write access inside the tree would, then lets the
job go on. The folder is moved aside (still on the same file system) and a link to
an outside folder takes its name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, SecureStore, localfile
from securestore.confine import DESCRIPTORS, Destination
from securestore.errors import PolicyError
from securestore.localfile import PARTIAL_SUFFIX, AtomicFile
from tests.support.cli import Run
from tests.tree.conftest import lines, make_tree, object_keys, read_tree

pytestmark = pytest.mark.skipif(not DESCRIPTORS, reason="descriptor-relative walks: POSIX only")

PRECIOUS = {"important.txt": b"keepme", "b/file.txt": b"precious b", "d/two.txt": b"two"}


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A folder outside every tree, which no command may change."""
    folder = tmp_path / "precious"
    make_tree(folder, PRECIOUS)
    return folder


def _everything(folder: Path) -> list[str]:
    """Every path below ``folder``, folders and partial files included."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _swap(folder: Path, aside: Path, link_to: Path) -> None:
    """The attacker's move: ``folder`` goes to ``aside``, a link to ``link_to`` takes its name."""
    os.rename(folder, aside)
    folder.symlink_to(link_to)


def _upload(run: Run, tmp_path: Path, url: str, files: dict[str, bytes]) -> None:
    src = tmp_path / "upload-src"
    make_tree(src, files)
    result = run("cp", str(src), url, "--recursive")
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def swap_before_download(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """Swaps queued here run once, when the job hands the key ``.../a/b/file.txt`` over.

    That is after the job checked (and made) ``a/b`` below the destination and
    before the download opens its partial file.
    """
    queued: list[Callable[[], None]] = []
    original = SecureStore.download_file

    def download_file(self: SecureStore, key: str, path: Any, **kwargs: Any) -> Any:
        if key.endswith("a/b/file.txt"):
            while queued:
                queued.pop(0)()
        return original(self, key, path, **kwargs)

    monkeypatch.setattr(SecureStore, "download_file", download_file)
    return queued


@pytest.fixture
def swap_before_partial(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """Swaps queued here run once, inside the download, just before its partial file is made."""
    queued: list[Callable[[], None]] = []
    original = localfile.reap_stale_partials

    def reap(folder: Path, name: str, **kwargs: Any) -> list[str]:
        if name == "file.txt":
            while queued:
                queued.pop(0)()
        return original(folder, name, **kwargs)

    monkeypatch.setattr(localfile, "reap_stale_partials", reap)
    return queued


@pytest.mark.parametrize("hook", ["swap_before_download", "swap_before_partial"])
@pytest.mark.parametrize("swapped", ["a", "a/b"])
@pytest.mark.parametrize("command", ["sync", "cp"])
def test_download_never_follows_a_folder_swapped_for_a_link(
    run: Run,
    bucket: str,
    tmp_path: Path,
    precious: Path,
    request: pytest.FixtureRequest,
    hook: str,
    swapped: str,
    command: str,
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"a/b/file.txt": b"from the bucket", "ok.txt": b"fine"})
    dest = tmp_path / "sd"
    (dest / "a" / "b").mkdir(parents=True)  # checked by the job, then swapped
    aside = tmp_path / "aside"
    # The link leads where the key's remaining path exists outside (precious/b/file.txt).
    target = precious if swapped == "a" else precious / "b"
    queue: list[Callable[[], None]] = request.getfixturevalue(hook)
    queue.append(lambda: _swap(dest / swapped, aside, target))
    before = _everything(precious)
    extra = ("--recursive",) if command == "cp" else ()
    result = run(command, url, str(dest), *extra)
    assert not queue, "the hook did not run"
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert read_tree(precious) == PRECIOUS
    assert _everything(precious) == before  # not even a folder or a partial file
    assert (dest / "ok.txt").read_bytes() == b"fine"  # the others completed
    assert _everything(aside) == ([] if swapped == "a/b" else ["b"])  # no partial file left
    stderr = "\n".join(lines(result, "stderr"))
    assert f"refusing to write through the symbolic link {dest / 'a'}" in stderr or (
        f"refusing to write through the symbolic link {dest / 'a' / 'b'}" in stderr
    ), stderr
    assert "it leads outside the destination" in stderr, stderr


@pytest.fixture
def placing(tmp_path: Path) -> Iterator[tuple[Path, Path, Destination]]:
    """``dest`` with the folders ``a/b``, where a swap moves ``a`` (``aside``), and its
    :class:`Destination` (closed afterwards)."""
    dest = tmp_path / "dest"
    (dest / "a" / "b").mkdir(parents=True)
    destination = Destination(dest)
    try:
        yield dest, tmp_path / "aside", destination
    finally:
        destination.close()


def _interrupted_write(destination: Destination, dest: Path, aside: Path, to: Path) -> None:
    with destination.place("a/b/file.txt") as placed:
        _swap(dest / "a", aside, to)
        with AtomicFile(placed.target) as out:
            out.write_at(b"half", 0)
            assert next((aside / "b").iterdir()).name.endswith(PARTIAL_SUFFIX)
            raise KeyboardInterrupt


def test_placed_download_interrupted_after_a_swap_leaves_nothing(
    placing: tuple[Path, Path, Destination], precious: Path
) -> None:
    """Ctrl-C inside a placed download, after the swap: the partial file goes, by descriptor."""
    dest, aside, destination = placing
    with pytest.raises(KeyboardInterrupt):
        _interrupted_write(destination, dest, aside, precious)
    assert _everything(aside) == ["b"]
    assert read_tree(precious) == PRECIOUS


def _write_then_swap(destination: Destination, dest: Path, aside: Path, to: Path) -> None:
    with destination.place("a/b/file.txt") as placed, AtomicFile(placed.target) as out:
        out.write_at(b"data", 0)
        _swap(dest / "a", aside, to)


def test_placed_download_lands_in_the_checked_folder_or_nowhere(
    placing: tuple[Path, Path, Destination], precious: Path
) -> None:
    """A swap between the partial file's creation and its rename: refused, nothing left."""
    dest, aside, destination = placing
    with pytest.raises(PolicyError, match="it leads outside the destination"):
        _write_then_swap(destination, dest, aside, precious)
    assert _everything(aside) == ["b"]
    assert read_tree(precious) == PRECIOUS


@pytest.fixture
def swap_before_unlink(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], None]]:
    """A swap queued under a file name runs once, right before that file is unlinked.

    Every check the job makes before a delete is behind it then: only the unlink is left.
    """
    queued: dict[str, Callable[[], None]] = {}
    original = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        swap = queued.pop(os.path.basename(os.fspath(path)), None)
        if swap is not None:
            swap()
        original(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    return queued


def test_sync_delete_never_unlinks_through_a_folder_swapped_for_a_link(
    run: Run,
    bucket: str,
    tmp_path: Path,
    precious: Path,
    swap_before_unlink: dict[str, Callable[[], None]],
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"keep.txt": b"kept"})
    dest = tmp_path / "sd"
    make_tree(dest, {"keep.txt": b"kept", "d/two.txt": b"gone at the source"})
    aside = tmp_path / "aside"
    swap_before_unlink["two.txt"] = lambda: _swap(dest / "d", aside, precious / "d")
    result = run("sync", url, str(dest), "--delete")
    assert not swap_before_unlink, "the hook did not run"
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert read_tree(precious) == PRECIOUS  # precious/d/two.txt survives
    assert _everything(aside) == []  # the file the job listed is the one deleted
    assert f"delete: {dest / 'd' / 'two.txt'}" in lines(result)


def test_mv_never_unlinks_a_source_through_a_folder_swapped_for_a_link(
    run: Run,
    bucket: str,
    tmp_path: Path,
    precious: Path,
    connection: Connection,
    swap_before_unlink: dict[str, Callable[[], None]],
) -> None:
    outbox = tmp_path / "outbox"
    make_tree(outbox, {"one.txt": b"one", "d/two.txt": b"mine"})
    aside = tmp_path / "aside"
    swap_before_unlink["two.txt"] = lambda: _swap(outbox / "d", aside, precious / "d")
    url = f"s3://{bucket}/mvout/"
    result = run("mv", str(outbox), url, "--recursive")
    assert not swap_before_unlink, "the hook did not run"
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert read_tree(precious) == PRECIOUS  # precious/d/two.txt survives
    assert _everything(aside) == []  # the moved file itself went
    assert sorted(object_keys(connection, bucket)) == ["mvout/d/two.txt", "mvout/one.txt"]
    assert not (outbox / "one.txt").exists()


def test_cleanup_of_created_folders_never_follows_a_swapped_link(
    run: Run,
    bucket: str,
    tmp_path: Path,
    swap_before_download: list[Callable[[], None]],
) -> None:
    """The folders a failed download made are removed by descriptor, not through the link."""
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"a/b/file.txt": b"from the bucket"})
    dest = tmp_path / "sd"
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)  # empty: what a cleanup through the link would remove
    aside = tmp_path / "aside"
    swap_before_download.append(lambda: _swap(dest / "a", aside, outside))
    result = run("cp", url, str(dest), "--recursive")  # the job makes sd, sd/a and sd/a/b
    assert not swap_before_download, "the hook did not run"
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert _everything(outside) == ["b"]
    assert (dest / "a").is_symlink()  # the attacker's link is theirs: never removed either
    assert "it leads outside the destination" in result.stderr


def test_placed_download_refuses_a_folder_replaced_by_a_link_inside_the_destination(
    placing: tuple[Path, Path, Destination],
) -> None:
    """Even a link that stays inside: the file would land elsewhere than checked, so refused."""
    dest, aside, destination = placing
    (dest / "c" / "b").mkdir(parents=True)
    with pytest.raises(PolicyError, match="it was replaced while the file was written"):
        _write_then_swap(destination, dest, aside, dest / "c")
    assert _everything(dest / "c") == ["b"]
    assert _everything(aside) == ["b"]

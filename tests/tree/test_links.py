"""Symbolic links and our own partial files in local trees (review rev1: HIGH 1-2, MEDIUM 1-2).

A destination's links are never written, replaced or deleted through; a source's
are read through (as aws-cli does) but a move deletes only what lies in its tree;
a killed download's partial file is never uploaded, encrypted or counted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from securestore import Connection, RawAesKeyring
from securestore.errors import PolicyError
from securestore.localfile import AtomicFile
from securestore.offline import decrypt_tree, encrypt_tree
from tests.support.cli import Run
from tests.tree.conftest import lines, make_tree, object_keys, read_tree

#: A partial file of a killed download of a.txt, as localfile.py names them.
PARTIAL = ".a.txt.0123abcd.999999.deadbeef.securestore-partial"


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A folder outside every tree, which no command may change."""
    folder = tmp_path / "precious"
    make_tree(folder, {"important.txt": b"keepme", "d/two.txt": b"two"})
    return folder


def _upload(run: Run, tmp_path: Path, url: str, files: dict[str, bytes]) -> None:
    src = tmp_path / "upload-src"
    make_tree(src, files)
    result = run("cp", str(src), url, "--recursive")
    assert result.exit_code == 0, result.stderr


# -- HIGH 1: sync --delete into a folder holding a link ------------------------------------


def test_sync_delete_never_deletes_through_a_link(
    run: Run, bucket: str, tmp_path: Path, precious: Path
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"a.txt": b"alpha"})
    dest = tmp_path / "sd"
    make_tree(dest, {"old.txt": b"gone at the source"})
    (dest / "link").symlink_to(precious)
    (dest / "flink").symlink_to(precious / "important.txt")
    result = run("sync", url, str(dest), "--delete")
    assert result.exit_code == 0, result.stderr
    assert read_tree(precious) == {"important.txt": b"keepme", "d/two.txt": b"two"}
    assert (dest / "link").is_symlink() and (dest / "flink").is_symlink()
    assert not (dest / "old.txt").exists()  # an ordinary file missing at the source goes
    out = lines(result)
    assert f"delete: {dest / 'old.txt'}" in out
    assert not [line for line in out if "link" in line], out
    warnings = lines(result, "stderr")
    for name in ("link", "flink"):
        assert any(
            line.startswith(f"warning: skipped {dest / name}: not deleted") for line in warnings
        ), warnings


# -- HIGH 2: downloads never write through a link ------------------------------------------


@pytest.mark.parametrize("command", ["sync", "cp"])
def test_download_refuses_a_key_below_a_link_out_of_the_destination(
    run: Run, bucket: str, tmp_path: Path, precious: Path, command: str
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"link/injected.txt": b"evil", "ok.txt": b"fine"})
    dest = tmp_path / "sd"
    dest.mkdir()
    (dest / "link").symlink_to(precious)
    extra = ("--recursive",) if command == "cp" else ()
    result = run(command, url, str(dest), *extra)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert not (precious / "injected.txt").exists()
    assert read_tree(precious) == {"important.txt": b"keepme", "d/two.txt": b"two"}
    assert (dest / "ok.txt").read_bytes() == b"fine"  # the others completed
    assert any("symbolic link" in line for line in lines(result, "stderr")), result.stderr


def test_download_refuses_to_replace_a_link_named_like_a_key(
    run: Run, bucket: str, tmp_path: Path, precious: Path
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"important.txt": b"overwritten!"})
    dest = tmp_path / "sd"
    dest.mkdir()
    (dest / "important.txt").symlink_to(precious / "important.txt")
    for args in (("sync", url, str(dest)), ("get", f"{url}important.txt", f"{dest}/")):
        result = run(*args)
        assert result.exit_code == 3, (args, result.stdout, result.stderr)
        assert (precious / "important.txt").read_bytes() == b"keepme"
        assert (dest / "important.txt").is_symlink()


def test_download_creates_folders_and_follows_links_inside_the_destination(
    run: Run, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"alias/x.txt": b"x", "new/deep/y.txt": b"y"})
    dest = tmp_path / "sd"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to(dest / "real")
    result = run("cp", url, str(dest), "--recursive")
    assert result.exit_code == 0, result.stderr
    assert (dest / "real" / "x.txt").read_bytes() == b"x"
    assert (dest / "new" / "deep" / "y.txt").read_bytes() == b"y"


def test_atomic_file_rename_replaces_a_link_put_in_place_meanwhile(
    tmp_path: Path, precious: Path
) -> None:
    """What the remaining window gives: a link swapped in after the check is replaced."""
    path = tmp_path / "f.txt"
    with AtomicFile(path) as out:
        out.write_at(b"new", 0)
        path.symlink_to(precious / "important.txt")  # the local attacker's move
    assert not path.is_symlink() and path.read_bytes() == b"new"
    assert (precious / "important.txt").read_bytes() == b"keepme"


# -- MEDIUM 1: mv of a tree holding a link to a folder -------------------------------------


def test_mv_keeps_files_reached_through_a_folder_link(
    run: Run, bucket: str, tmp_path: Path, precious: Path, connection: Connection
) -> None:
    outbox = tmp_path / "outbox"
    make_tree(outbox, {"one.txt": b"one"})
    (outbox / "dlink").symlink_to(precious / "d")
    (outbox / "flink").symlink_to(precious / "important.txt")
    url = f"s3://{bucket}/mvout/"
    result = run("mv", str(outbox), url, "--recursive")
    assert result.exit_code == 0, result.stderr
    assert sorted(object_keys(connection, bucket)) == [
        "mvout/dlink/two.txt",
        "mvout/flink",
        "mvout/one.txt",
    ]
    assert read_tree(precious) == {"important.txt": b"keepme", "d/two.txt": b"two"}
    assert (outbox / "dlink").is_symlink()  # the link is kept
    assert not (outbox / "one.txt").exists()  # the tree's own file moved
    assert not os.path.lexists(outbox / "flink")  # a link to a file: the link moved, not its target
    assert any(
        line.startswith(f"warning: skipped {outbox / 'dlink' / 'two.txt'}: not deleted")
        for line in lines(result, "stderr")
    ), result.stderr


def test_sync_and_cp_still_upload_through_a_source_folder_link(
    run: Run, bucket: str, tmp_path: Path, precious: Path, connection: Connection
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"one.txt": b"one"})
    (src / "dlink").symlink_to(precious / "d")
    assert run("sync", str(src), f"s3://{bucket}/s/").exit_code == 0
    assert run("cp", str(src), f"s3://{bucket}/c/", "--recursive").exit_code == 0
    keys = sorted(object_keys(connection, bucket))
    assert keys == ["c/dlink/two.txt", "c/one.txt", "s/dlink/two.txt", "s/one.txt"]
    down = tmp_path / "down"
    assert run("sync", f"s3://{bucket}/s/", str(down)).exit_code == 0
    assert read_tree(down) == {"one.txt": b"one", "dlink/two.txt": b"two"}


# -- MEDIUM 2: a killed download's partial file -----------------------------------------


def test_partial_files_are_never_uploaded(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"alpha", PARTIAL: b"trunc", f"sub/{PARTIAL}": b"trunc"})
    assert run("sync", str(src), f"s3://{bucket}/s/").exit_code == 0
    assert run("cp", str(src), f"s3://{bucket}/c/", "--recursive").exit_code == 0
    assert sorted(object_keys(connection, bucket)) == ["c/a.txt", "s/a.txt"]
    assert (src / PARTIAL).exists()  # not ours to delete here: the next download reaps it


def test_sync_delete_does_not_count_a_partial_file(run: Run, bucket: str, tmp_path: Path) -> None:
    url = f"s3://{bucket}/sub/"
    _upload(run, tmp_path, url, {"b.txt": b"beta"})
    dest = tmp_path / "sd"
    make_tree(dest, {PARTIAL: b"trunc"})
    result = run("sync", url, str(dest), "--delete")
    assert result.exit_code == 0, result.stderr
    assert not [line for line in lines(result) if "partial" in line], result.stdout


def test_encrypt_tree_skips_partial_files(tmp_path: Path) -> None:
    aes = RawAesKeyring("securestore", "default", bytes(range(32)))
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"alpha", PARTIAL: b"trunc"})
    skipped: list[Path] = []
    entries = list(
        encrypt_tree(src, tmp_path / "enc", aes, on_skip=lambda p, _r: skipped.append(p))
    )
    assert [e.source.name for e in entries] == ["a.txt"]
    assert skipped == [src / PARTIAL]
    assert sorted(os.listdir(tmp_path / "enc")) == ["a.txt.encrypted"]


# -- encrypt -r / decrypt -r outputs ----------------------------------------------------


def test_decrypt_tree_never_writes_through_an_output_link(tmp_path: Path, precious: Path) -> None:
    aes = RawAesKeyring("securestore", "default", bytes(range(32)))
    src = tmp_path / "src"
    make_tree(src, {"sub/x.txt": b"secret", "important.txt": b"overwritten!"})
    list(encrypt_tree(src, tmp_path / "enc", aes))
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(precious)
    with pytest.raises(PolicyError, match="symbolic link"):
        list(decrypt_tree(tmp_path / "enc", out, aes))
    other = tmp_path / "other"
    other.mkdir()
    (other / "important.txt").symlink_to(precious / "important.txt")
    with pytest.raises(PolicyError, match="symbolic link"):
        list(decrypt_tree(tmp_path / "enc", other, aes))
    assert (other / "important.txt").is_symlink()
    assert read_tree(precious) == {"important.txt": b"keepme", "d/two.txt": b"two"}

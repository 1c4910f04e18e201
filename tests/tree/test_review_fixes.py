"""Tree transfers that would destroy, downgrade or half-do their work are refused or finished.

Each test is a case a reviewer ran against the CLI (stop 18): a move onto
itself deleted the object; a copy into its own sub-prefix copied its copies;
``sync --delete`` deleted the backup of a folder it could not read; a sync
without the key option replaced client-side objects with server-side-only
ones; a closed pipe stopped a tree job half-way with exit 0; a full disk on
standard output was an "internal error".
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from securestore import ClientSide, ConfigurationError, RawAesKeyring, SecureStore
from securestore.tree import copy_file, copy_tree, move_tree, sync
from tests.conftest import ROOT, Endpoint
from tests.support.cli import Run
from tests.tree.conftest import make_tree, object_keys

KEY = RawAesKeyring("tests", "review", b"r" * 32)


def test_a_move_onto_itself_is_refused_and_keeps_the_object(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store()
    store.put("same/a.txt", b"keep me")
    with pytest.raises(ConfigurationError, match="onto itself"):
        copy_file((store, "same/a.txt"), (store, "same/a.txt"), move=True)
    with pytest.raises(ConfigurationError, match="onto itself"):
        move_tree((store, "same/"), (store, "same/"))
    assert store.get("same/a.txt") == b"keep me"


def test_the_cli_refuses_a_move_onto_itself(
    run: Run, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    store = make_store()
    store.put("t/a.txt", b"1")
    for args in (
        ("mv", f"s3://{bucket}/t/a.txt", f"s3://{bucket}/t/a.txt"),
        ("mv", f"s3://{bucket}/t/", f"s3://{bucket}/t/", "--recursive"),
        ("mv", f"s3://{bucket}/t", f"s3://{bucket}/t/", "--recursive"),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "error: cannot move" in result.stderr
    assert store.get("t/a.txt") == b"1"


def test_a_copy_into_its_own_sub_prefix_is_refused(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store()
    for i in range(3):
        store.put(f"p/f{i}", b"x")
    for destination in ("p/sub/", "p/sub"):
        with pytest.raises(ConfigurationError, match="inside the source"):
            copy_tree((store, "p/"), (store, destination))
    with pytest.raises(ConfigurationError, match="inside the source"):
        copy_tree((store, ""), (store, "backup/"))  # the whole bucket into itself
    assert sorted(e.key for e in store.list("")) == ["p/f0", "p/f1", "p/f2"]
    # Outside the source, or the other way round, is fine.
    assert copy_tree((store, "p/"), (store, "q/")).done == 3
    assert copy_tree((store, "q/"), (store, "")).done == 3


def test_sync_delete_keeps_what_the_source_could_not_read(
    make_store: Callable[..., SecureStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    make_tree(tmp_path, {"locked/y.txt": b"2", "open/x.txt": b"1", "odd": b"3", "z.txt": b"4"})
    assert sync(tmp_path, (store, "b/")).done == 4
    # Now: "odd" is a FIFO (skipped by the walk), "locked" cannot be listed, and
    # z.txt is really gone. Only z.txt may be deleted.
    (tmp_path / "odd").unlink()
    os.mkfifo(tmp_path / "odd")
    (tmp_path / "z.txt").unlink()
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        # Root may read any folder, so the permission error is made here.
        if Path(os.fsdecode(path)).name == "locked":  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    result = sync(tmp_path, (store, "b/"), delete=True)
    assert result.deleted == 1
    assert [f.source for f in result.failed] == [str(tmp_path / "locked/")]
    kept = {s.path for s in result.skipped if s.reason.startswith("not deleted")}
    assert kept == {f"s3://{store.bucket}/b/locked/y.txt", f"s3://{store.bucket}/b/odd"}
    assert sorted(object_keys(store.connection, store.bucket)) == [
        "b/locked/y.txt",
        "b/odd",
        "b/open/x.txt",
    ]


def test_a_sync_without_the_key_never_downgrades_client_side_objects(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    encrypted = make_store(encryption=ClientSide(KEY))
    plain = make_store()
    make_tree(tmp_path, {"a.txt": b"alpha", "b.txt": b"beta"})
    old = time.time() - 3600
    for name in ("a.txt", "b.txt"):
        os.utime(tmp_path / name, (old, old))
    assert sync(tmp_path, (encrypted, "dg/")).done == 2
    # The key forgotten: unchanged files stay as they are, a changed one is refused.
    again = sync(tmp_path, (plain, "dg/"))
    assert again.ok and (again.done, again.unchanged) == (0, 2), again.failed
    (tmp_path / "b.txt").write_bytes(b"beta, edited")
    refused = sync(tmp_path, (plain, "dg/"))
    assert refused.done == 0 and len(refused.failed) == 1
    assert "encrypted client-side" in str(refused.failed[0].error)
    for name, data in (("a.txt", b"alpha"), ("b.txt", b"beta")):
        assert encrypted.get("dg/" + name) == data  # still client-side, still the old bytes


def test_the_cli_refuses_the_downgrade_with_exit_3(
    run: Run, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    make_tree(tmp_path / "src", {"a.txt": b"alpha"})
    url = f"s3://{bucket}/cs/"
    assert run("sync", str(tmp_path / "src"), url, "--key-file", str(key)).exit_code == 0
    time.sleep(1.1)
    (tmp_path / "src/a.txt").write_bytes(b"alpha, edited")
    result = run("sync", str(tmp_path / "src"), url)
    assert result.exit_code == 3, result.output
    assert "encrypted client-side" in result.stderr
    assert make_store().head("cs/a.txt").metadata.get("securestore-format")


def test_links_that_point_at_each_other_are_skipped(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    make_tree(tmp_path, {"ok.txt": b"1"})
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    result = copy_tree(tmp_path, (store, ""))
    assert result.ok, result.failed
    assert sorted(s.reason for s in result.skipped) == ["symbolic link loop"] * 2


def _shell(endpoint: Endpoint, command: str) -> subprocess.CompletedProcess[bytes]:
    cli = f"{sys.executable} -m securestore_cli"
    return subprocess.run(
        ["bash", "-c", "set -o pipefail; " + command.replace("securestore", cli)],
        cwd=ROOT,
        env={**os.environ, **endpoint.env},
        capture_output=True,
        timeout=180,
        check=False,
    )


def test_a_closed_pipe_does_not_stop_a_tree_job(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    make_tree(tmp_path, {f"f{i:02}.txt": b"x" * i for i in range(30)})
    done = _shell(
        tls_endpoint, f"securestore cp {tmp_path} s3://{bucket}/bt/ --recursive | head -1"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(b"\n") == 1
    assert b"Traceback" not in done.stderr
    assert len(object_keys(make_store().connection, bucket)) == 30  # the whole tree


def test_a_full_disk_on_standard_output_is_an_error_line_not_an_internal_error(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    make_tree(tmp_path, {f"f{i}.txt": b"x" for i in range(5)})
    done = _shell(
        tls_endpoint, f"securestore cp {tmp_path} s3://{bucket}/full/ --recursive >/dev/full"
    )
    assert done.returncode == 2, done.stderr
    assert b"error: cannot write to standard output" in done.stderr
    assert b"the transfers completed" in done.stderr
    assert len(object_keys(make_store().connection, bucket)) == 5
    listed = _shell(tls_endpoint, f"securestore ls s3://{bucket}/ --recursive >/dev/full")
    assert listed.returncode == 2, listed.stderr
    assert b"error: cannot write to standard output" in listed.stderr
    assert b"internal error" not in listed.stderr


def test_each_failed_object_is_one_line_with_its_reason(
    run: Run, make_store: Callable[..., SecureStore], bucket: str, tmp_path: Path
) -> None:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    make_tree(tmp_path / "src", {"a.txt": b"alpha", "b.txt": b"beta"})
    url = f"s3://{bucket}/one/"
    assert (
        run("cp", str(tmp_path / "src"), url, "--recursive", "--key-file", str(key)).exit_code == 0
    )
    make_store().put("one/c.txt", b"plain")  # not client-side: the download refuses it
    result = run("cp", url, str(tmp_path / "out"), "--recursive", "--key-file", str(key))
    assert result.exit_code == 3, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1, result.stderr
    assert failed[0].startswith(f"failed: download: {url}c.txt to ")
    assert len(failed[0].split(": ")) > 3  # the reason follows the paths
    assert "error: 1 of 3 transfers failed" in result.stderr


def test_sync_delete_into_a_prefix_that_holds_the_source_is_refused(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store()
    for key in ("p/top1", "p/sub/s1", "p/sub/s2"):
        store.put(key, b"x")
    with pytest.raises(ConfigurationError, match="would delete the source"):
        sync((store, "p/sub/"), (store, "p/"), delete=True)
    with pytest.raises(ConfigurationError, match="onto itself"):
        copy_file((store, "p/top1"), (store, "p/top1"))
    with pytest.raises(ConfigurationError, match="onto itself"):
        sync((store, "p/"), (store, "p/"))
    assert sorted(e.key for e in store.list("")) == ["p/sub/s1", "p/sub/s2", "p/top1"]
    # Without --delete the same sync is fine (aws-cli: p/s1, p/s2 appear).
    assert sync((store, "p/sub/"), (store, "p/")).done == 2


def test_a_re_upload_of_an_older_version_reaches_a_download_sync(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store(encryption=ClientSide(KEY))
    src, down = tmp_path / "m1", tmp_path / "m2"
    make_tree(src, {"doc": b"version-1-AAAA"})
    os.utime(src / "doc", (time.time() - 10 * 86400,) * 2)
    assert sync(src, (store, "r/")).done == 1
    assert sync((store, "r/"), down).done == 1
    time.sleep(1.1)  # LastModified has whole seconds
    (src / "doc").write_bytes(b"version-0-BBBB")  # same size, an older mtime (a restore)
    os.utime(src / "doc", (time.time() - 20 * 86400,) * 2)
    assert copy_file(src / "doc", (store, "r/doc")).done == 1
    again = sync((store, "r/"), down)
    assert again.done == 1, again
    assert (down / "doc").read_bytes() == b"version-0-BBBB"
    assert sync((store, "r/"), down).done == 0  # and then it is up to date


def test_a_file_that_changes_while_it_is_uploaded_is_uploaded_again(
    make_store: Callable[..., SecureStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(encryption=ClientSide(KEY))
    make_tree(tmp_path, {"f.bin": b"A" * 1000})
    real = store.upload_file
    writes = [b"B" * 1000, b"C" * 1000]

    def upload_then_write(*args: object, **kwargs: object) -> object:
        info = real(*args, **kwargs)  # type: ignore[arg-type]
        if writes:  # a writer that was busy while the file was read
            (tmp_path / "f.bin").write_bytes(writes.pop(0))
            os.utime(tmp_path / "f.bin", (time.time() + 5,) * 2)
        return info

    monkeypatch.setattr(store, "upload_file", upload_then_write)
    once = sync(tmp_path, (store, "u/"))
    assert len(once.failed) == 1 and "changed while it was uploaded" in str(once.failed[0].error)
    writes.append(b"D" * 1000)
    twice = sync(tmp_path, (store, "u/"))  # changes during the first upload only
    assert twice.ok and twice.done == 1
    assert store.get("u/f.bin") == (tmp_path / "f.bin").read_bytes() == b"D" * 1000


def test_a_message_without_our_metadata_is_not_downgraded_either(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    import io

    from securestore.offline import encrypt_file

    plain = make_store()
    out = io.BytesIO()
    encrypt_file(io.BytesIO(b"top secret"), out, KEY)
    message = out.getvalue()
    plain.put("e/doc", message)  # as `aws s3 cp doc.encrypted s3://...` would
    make_tree(tmp_path, {"doc": b"top secret v2, longer"})
    refused = sync(tmp_path, (plain, "e/"))
    assert len(refused.failed) == 1 and "encrypted message" in str(refused.failed[0].error)
    stored = plain.connection.client("s3").get_object(Bucket=plain.bucket, Key="e/doc")
    assert stored["Body"].read() == message

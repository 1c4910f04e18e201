"""cp, sync, mv, rm and rb through the CLI against the TLS endpoint."""

from __future__ import annotations

import os
from pathlib import Path

from securestore import Connection
from tests.support.cli import Run
from tests.tree.conftest import lines, make_tree, object_keys, read_tree, uploads

FILES = {
    "a.txt": b"alpha",
    "a-b.txt": b"dash sorts before slash",
    "a/b.txt": b"inside a",
    "a/c/d.log": b"log",
    "z.json": b"{}",
}


def test_client_side_backup_and_restore(
    run: Run, bucket: str, tmp_path: Path, key_file: Path, connection: Connection
) -> None:
    src, restore = tmp_path / "src", tmp_path / "restore"
    make_tree(src, FILES)
    url = f"s3://{bucket}/backup/"
    result = run("cp", str(src), url, "--recursive", "--client-side", "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert f"upload: {src / 'a.txt'} to {url}a.txt" in lines(result)
    assert object_keys(connection, bucket) == sorted(f"backup/{name}" for name in FILES)
    # A plain read refuses the ciphertext, for every object of the tree (fail closed).
    plain = run("sync", url, str(tmp_path / "plain"))
    assert plain.exit_code == 4
    assert read_tree(tmp_path / "plain") == {}
    result = run("sync", url, str(restore), "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert read_tree(restore) == FILES
    assert oct(os.stat(restore / "a.txt").st_mode & 0o777) == oct(0o600)
    again = run("sync", url, str(restore), "--key-file", str(key_file))
    assert again.exit_code == 0 and lines(again) == []
    up = run("sync", str(src), url, "--key-file", str(key_file))
    assert up.exit_code == 0 and lines(up) == [], up.stdout


def test_filters_order_matters_last_match_wins(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    make_tree(tmp_path, FILES)
    url = f"s3://{bucket}/"
    result = run(
        "cp", str(tmp_path), url, "--recursive", "--exclude", "*", "--include", "*.txt",
        "--exclude", "a/*",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert object_keys(connection, bucket) == ["a-b.txt", "a.txt"]
    # The other order: --include before --exclude '*' selects nothing.
    other = run("cp", str(tmp_path), f"s3://{bucket}/o/", "--recursive", "--include", "*.txt",
                "--exclude", "*")  # fmt: skip
    assert other.exit_code == 0
    assert [k for k in object_keys(connection, bucket) if k.startswith("o/")] == []


def test_dryrun_changes_nothing(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    make_tree(tmp_path / "src", FILES)
    result = run("cp", str(tmp_path / "src"), f"s3://{bucket}/d/", "--recursive", "--dryrun")
    assert result.exit_code == 0
    assert f"(dryrun) upload: {tmp_path / 'src' / 'a.txt'} to s3://{bucket}/d/a.txt" in lines(
        result
    )
    assert object_keys(connection, bucket) == []
    assert run("cp", str(tmp_path / "src"), f"s3://{bucket}/d/", "--recursive").exit_code == 0
    for args in (
        ("rm", f"s3://{bucket}/d/", "--recursive", "--dryrun"),
        (
            "sync",
            str(tmp_path / "empty"),
            f"s3://{bucket}/d/",
            "--delete",
            "--allow-empty-source",
            "--dryrun",
        ),
        ("sync", f"s3://{bucket}/d/", str(tmp_path / "down"), "--dryrun"),
        ("mv", f"s3://{bucket}/d/", str(tmp_path / "down"), "--recursive", "--dryrun"),
    ):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert all(line.startswith("(dryrun) ") for line in lines(result)), result.stdout
        assert len(object_keys(connection, bucket)) == len(FILES)
        assert not (tmp_path / "down").exists()


def test_sync_delete_deletes_only_what_it_should(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    src = tmp_path / "src"
    make_tree(src, FILES)
    url = f"s3://{bucket}/m/"
    assert run("sync", str(src), url).exit_code == 0
    # Outside the prefix, a sibling prefix sharing its first letters, and an excluded file.
    s3 = connection.client("s3")
    for key in ("other.txt", "m2/keep.txt", "m/extra.txt", "m/keep.bak"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    (src / "a.txt").unlink()
    result = run("sync", str(src), url, "--delete", "--exclude", "*.bak")
    assert result.exit_code == 0, result.stderr
    assert sorted(lines(result)) == [f"delete: {url}a.txt", f"delete: {url}extra.txt"]
    assert object_keys(connection, bucket) == sorted(
        ["other.txt", "m2/keep.txt", "m/keep.bak"] + [f"m/{n}" for n in FILES if n != "a.txt"]
    )
    # Down: --delete removes local files the prefix lacks, nothing else.
    down = tmp_path / "down"
    make_tree(down, {"stale.txt": b"old", "a-b.txt": b"changed size!"})
    result = run("sync", url, str(down), "--delete", "--exclude", "*.bak")
    assert result.exit_code == 0, result.stderr
    assert read_tree(down) == {n: d for n, d in FILES.items() if n != "a.txt"}


def test_sync_rules_size_and_time(run: Run, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, {"f.txt": b"12345"})
    url = f"s3://{bucket}/s/"
    assert run("sync", str(src), url).exit_code == 0
    assert lines(run("sync", str(src), url)) == []
    # Same size, newer: transferred unless --size-only.
    (src / "f.txt").write_bytes(b"54321")
    later = os.stat(src / "f.txt").st_mtime + 3600
    os.utime(src / "f.txt", (later, later))
    assert lines(run("sync", str(src), url, "--size-only")) == []
    assert len(lines(run("sync", str(src), url))) == 1
    # Down: the file gets the object's time; a same-size local file that is newer is
    # kept, unless --exact-timestamps; an older one is replaced.
    down = tmp_path / "down"
    assert run("sync", url, str(down)).exit_code == 0
    assert lines(run("sync", url, str(down))) == []
    future = os.stat(down / "f.txt").st_mtime + 7200
    os.utime(down / "f.txt", (future, future))
    assert lines(run("sync", url, str(down))) == []
    assert len(lines(run("sync", url, str(down), "--exact-timestamps"))) == 1
    os.utime(down / "f.txt", (1000, 1000))
    assert len(lines(run("sync", url, str(down)))) == 1


def test_mv_deletes_the_source_only_after_verification(
    run: Run, bucket: str, tmp_path: Path, connection: Connection, key_file: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, FILES)
    url = f"s3://{bucket}/mv/"
    dry = run("mv", str(src), url, "--recursive", "--dryrun")
    assert f"(dryrun) move: {src / 'a.txt'} to {url}a.txt" in lines(dry)
    result = run("mv", str(src), url, "--recursive", "--key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    # aws-cli's wording: "move:", not "upload:" or "copy:".
    assert f"move: {src / 'a.txt'} to {url}a.txt" in lines(result)
    assert read_tree(src) == {}
    # Back down with the wrong key: every download fails, every object stays.
    other = tmp_path / "keys" / "other.key"
    assert run("keygen", "--aes", str(other)).exit_code == 0
    failed = run("mv", url, str(tmp_path / "back"), "--recursive", "--key-file", str(other))
    assert failed.exit_code in (3, 4), failed.stderr
    assert len(object_keys(connection, bucket)) == len(FILES)
    assert read_tree(tmp_path / "back") == {}
    ok = run("mv", url, str(tmp_path / "back"), "--recursive", "--key-file", str(key_file))
    assert ok.exit_code == 0, ok.stderr
    assert read_tree(tmp_path / "back") == FILES
    assert object_keys(connection, bucket) == []


def test_rm_recursive_and_single(run: Run, bucket: str, connection: Connection) -> None:
    s3 = connection.client("s3")
    for key in ("p/a", "p/b/c", "pq/d", "top"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = run("rm", f"s3://{bucket}/p", "--recursive")
    assert result.exit_code == 0, result.stderr
    assert object_keys(connection, bucket) == ["pq/d", "top"]  # a prefix means p/, not pq
    assert run("rm", f"s3://{bucket}/top").exit_code == 0
    assert run("rm", f"s3://{bucket}/never-was").exit_code == 0
    assert object_keys(connection, bucket) == ["pq/d"]


def test_rb_refuses_a_non_empty_bucket_without_force(
    run: Run, bucket: str, connection: Connection
) -> None:
    connection.client("s3").put_object(Bucket=bucket, Key="k", Body=b"x")
    refused = run("rb", f"s3://{bucket}")
    assert refused.exit_code == 4
    assert "not empty" in refused.stderr
    assert object_keys(connection, bucket) == ["k"]
    forced = run("rb", f"s3://{bucket}", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert bucket not in [b["Name"] for b in connection.client("s3").list_buckets()["Buckets"]]


def test_rb_force_on_a_versioned_bucket_says_what_is_left(
    run: Run, bucket: str, connection: Connection
) -> None:
    s3 = connection.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    result = run("rb", f"s3://{bucket}", "--force")
    assert result.exit_code == 4
    error, hint = result.stderr.splitlines()[-2:]
    assert "old object versions or delete markers" in error, error
    assert "nothing was deleted" in error, error
    assert hint.startswith("hint: ") and f"ls s3://{bucket} --versions" in hint, hint
    # Refused before any delete: the object is still there, with no delete marker (the
    # bucket could not have gone: each delete would only have hidden an object).
    versions = s3.list_object_versions(Bucket=bucket)
    assert len(versions["Versions"]) == 1 and "DeleteMarkers" not in versions
    assert object_keys(connection, bucket) == ["k"]


def test_rb_force_on_a_versioned_bucket_without_versions_deletes_it(
    run: Run, bucket: str, connection: Connection
) -> None:
    s3 = connection.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    result = run("rb", f"s3://{bucket}", "--force")
    assert result.exit_code == 0, result.stderr
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_put_and_get_follow_trailing_slash_rules(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    (tmp_path / "a.txt").write_bytes(b"abc")
    assert run("put", str(tmp_path / "a.txt"), f"s3://{bucket}/dir/").exit_code == 0
    assert run("put", str(tmp_path / "a.txt"), f"s3://{bucket}").exit_code == 0
    assert object_keys(connection, bucket) == ["a.txt", "dir/a.txt"]
    result = run("get", f"s3://{bucket}/dir/a.txt", str(tmp_path / "newdir") + "/")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "newdir" / "a.txt").read_bytes() == b"abc"
    assert run("cp", str(tmp_path / "a.txt"), f"s3://{bucket}/cp/").exit_code == 0
    assert "cp/a.txt" in object_keys(connection, bucket)
    assert run("cp", f"s3://{bucket}/cp/a.txt", str(tmp_path / "x") + "/").exit_code == 0
    assert (tmp_path / "x" / "a.txt").read_bytes() == b"abc"


def test_a_failed_multipart_upload_leaves_no_upload(
    run: Run, bucket: str, tmp_path: Path, connection: Connection, kms_key: str
) -> None:
    make_tree(tmp_path / "src", {"big.bin": os.urandom(9 * 1024 * 1024), "s.txt": b"small"})
    missing_key = kms_key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    result = run("cp", str(tmp_path / "src"), f"s3://{bucket}/", "--recursive", "--sse", "kms",
                 "--kms-key-id", missing_key)  # fmt: skip
    assert result.exit_code == 4
    assert object_keys(connection, bucket) == []
    assert uploads(connection, bucket) == []


def test_partial_failure_continues_and_names_failures(
    run: Run, bucket: str, tmp_path: Path, connection: Connection
) -> None:
    s3 = connection.client("s3")
    for key in ("t/good1", "t/good2", "t/../escape", "t/x/./y"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")
    down = tmp_path / "down"
    result = run("cp", f"s3://{bucket}/t/", str(down), "--recursive")
    assert result.exit_code == 3, result.stderr  # a key that would escape DEST is refused
    assert read_tree(down) == {"good1": b"data", "good2": b"data"}
    assert not (tmp_path / "escape").exists()
    assert "t/../escape" in result.stderr and "2 of 4 transfers failed" in result.stderr


def test_existing_files_survive_a_failed_download(
    run: Run, bucket: str, tmp_path: Path, key_file: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"f.txt": b"new contents"})
    assert (
        run("cp", str(src), f"s3://{bucket}/", "--recursive", "--key-file", str(key_file)).exit_code
        == 0
    )
    down = tmp_path / "down"
    make_tree(down, {"f.txt": b"old"})
    result = run("sync", f"s3://{bucket}/", str(down))  # a plain read refuses ciphertext
    assert result.exit_code == 4
    assert read_tree(down) == {"f.txt": b"old"}


def test_library_and_cli_errors_are_usage_errors(run: Run, tmp_path: Path, bucket: str) -> None:
    assert run("cp", str(tmp_path), str(tmp_path / "x"), "--recursive").exit_code == 2
    assert run("cp", str(tmp_path), f"s3://{bucket}/").exit_code == 2  # a directory without -r
    assert run("cp", f"s3://{bucket}/k", str(tmp_path), "--sse", "kms").exit_code == 2
    assert run("rm", f"s3://{bucket}").exit_code == 2


def test_allow_plaintext_reaches_tree_downloads_and_only_them(
    run: Run, bucket: str, tmp_path: Path, key_file: Path, connection: Connection
) -> None:
    """--allow-plaintext weakens tree downloads as it weakens get (it was ignored before):
    plain objects come back as stored, messages are still authenticated."""
    src = tmp_path / "src"
    make_tree(src, {"sealed.txt": b"sealed"})
    url = f"s3://{bucket}/mixed/"
    assert run("cp", str(src), url, "--recursive", "--key-file", str(key_file)).exit_code == 0
    connection.client("s3").put_object(Bucket=bucket, Key="mixed/plain.txt", Body=b"plain")
    strict = run("cp", url, str(tmp_path / "strict"), "--recursive", "--key-file", str(key_file))
    assert strict.exit_code == 3
    for command in ("cp", "sync"):
        down = tmp_path / f"down-{command}"
        args = [command, url, str(down), "--key-file", str(key_file), "--allow-plaintext"]
        result = run(*args, *(["--recursive"] if command == "cp" else []))
        assert result.exit_code == 0, result.stderr
        assert read_tree(down) == {"plain.txt": b"plain", "sealed.txt": b"sealed"}
    copy = run(
        "cp", url, f"s3://{bucket}/other/", "--recursive", "--key-file", str(key_file),
        "--allow-plaintext",
    )  # fmt: skip
    assert copy.exit_code == 2 and "S3 to S3" in copy.stderr


def test_folders_made_for_failed_downloads_are_removed(
    run: Run, bucket: str, tmp_path: Path, key_file: Path, connection: Connection
) -> None:
    """The job creates the folders it needs; those whose downloads all failed go again,
    a folder that existed before or got a file stays."""
    src = tmp_path / "src"
    make_tree(src, {"ok/a.txt": b"a", "bad/deep/b.txt": b"b"})
    url = f"s3://{bucket}/t/"
    assert run("cp", str(src), url, "--recursive", "--key-file", str(key_file)).exit_code == 0
    connection.client("s3").put_object(Bucket=bucket, Key="t/bad/deep/b.txt", Body=b"replaced")
    down = tmp_path / "down"
    result = run("cp", url, str(down), "--recursive", "--key-file", str(key_file))
    assert result.exit_code == 3
    assert read_tree(down) == {"ok/a.txt": b"a"}
    assert not (down / "bad").exists()
    existing = tmp_path / "existing"
    (existing / "bad").mkdir(parents=True)
    again = run("cp", url, str(existing), "--recursive", "--key-file", str(key_file))
    assert again.exit_code == 3
    assert (existing / "bad").is_dir() and not (existing / "bad" / "deep").exists()

"""Review leftovers: mv pinned to what it copied; the store's public raw ranged read."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import securestore
from securestore import ClientSide, Connection, RawAesKeyring, SecureStore
from securestore.errors import PreconditionFailedError
from securestore.tree import TreeProgress, move_tree
from tests.support.cli import Run
from tests.tree.conftest import lines, make_tree, object_keys

MakeStore = Callable[..., SecureStore]


def _writer_after_first_bytes(action: Callable[[], None]) -> Callable[[TreeProgress], None]:
    """A progress callback that plays another writer once the transfer moved bytes."""
    done = [False]

    def progress(snapshot: TreeProgress) -> None:
        if snapshot.bytes_done > 0 and not done[0]:
            done[0] = True
            action()

    return progress


@pytest.mark.parametrize("to_s3", [False, True], ids=["download", "s3-to-s3"])
def test_mv_keeps_a_source_another_writer_replaced(
    make_store: MakeStore, connection: Connection, bucket: str, tmp_path: Path, to_s3: bool
) -> None:
    store = make_store()
    store.put("src/a.txt", b"copied version")
    s3 = connection.client("s3")
    progress = _writer_after_first_bytes(
        lambda: s3.put_object(Bucket=bucket, Key="src/a.txt", Body=b"the other writer's")
    )
    destination: Path | tuple[SecureStore, str] = (store, "dst/") if to_s3 else tmp_path / "down"
    result = move_tree((store, "src/"), destination, progress=progress)
    assert len(result.failed) == 1, result
    error = result.failed[0].error
    assert isinstance(error, PreconditionFailedError)
    assert "s3://" in str(error) and "src/a.txt" in str(error) and "not deleted" in str(error)
    assert store.get("src/a.txt") == b"the other writer's"  # the new version was kept
    assert result.deleted == 0


def test_mv_keeps_a_new_version_with_the_same_etag(
    make_store: MakeStore, connection: Connection, bucket: str, tmp_path: Path
) -> None:
    """Same bytes, same ETag, but another version: only the VersionId tells them apart."""
    s3 = connection.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = make_store()
    store.put("src/a.txt", b"same bytes")
    first = store.head("src/a.txt")
    progress = _writer_after_first_bytes(
        lambda: s3.put_object(
            Bucket=bucket, Key="src/a.txt", Body=b"same bytes", ServerSideEncryption="AES256"
        )
    )
    result = move_tree((store, "src/"), tmp_path / "down", progress=progress)
    assert [type(f.error) for f in result.failed] == [PreconditionFailedError], result
    now = store.head("src/a.txt")
    assert now.etag == first.etag and now.version_id != first.version_id
    assert (tmp_path / "down" / "a.txt").read_bytes() == b"same bytes"


def test_mv_still_deletes_an_unchanged_source(make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    store.put("src/a.txt", b"alpha")
    result = move_tree((store, "src/"), (store, "dst/"))
    assert result.ok and result.deleted == 0 and result.done == 1
    assert [s.key for s in store.list("")] == ["dst/a.txt"]


def test_read_raw_range_returns_the_stored_ciphertext(make_store: MakeStore) -> None:
    keyring = RawAesKeyring("securestore", "test", b"k" * 32)
    store = make_store(encryption=ClientSide(keyring))
    store.put("secret", b"plaintext that must not show")
    info = store.head("secret")
    raw = store.read_raw_range("secret", 0, info.size - 1, etag=info.etag)
    assert len(raw) == info.size
    assert raw[:2] == b"\x02\x04"  # an encryption SDK v2 message, suite 0x0478
    assert b"plaintext" not in raw
    assert store.read_raw_range("secret", 1, 3) == raw[1:4]
    store.put("secret", b"another version")
    with pytest.raises(PreconditionFailedError):
        store.read_raw_range("secret", 0, 3, etag=info.etag)


def test_no_module_reaches_into_a_store_s_private_bucket_access() -> None:
    """Only the facade itself uses ``SecureStore._access`` (``self._access``)."""
    root = Path(securestore.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "_access"
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def _bad_name(folder: Path, raw: bytes, data: bytes = b"x") -> str:
    """Create a file whose name is the bytes ``raw`` (not UTF-8); its str name."""
    path = os.path.join(os.fsencode(folder), raw)
    with open(path, "wb") as file:
        file.write(data)
    return os.fsdecode(raw)


@pytest.mark.parametrize("command", ["cp", "sync"])
def test_non_utf8_names_are_skipped_alike_with_and_without_dryrun(
    run: Run, bucket: str, connection: Connection, tmp_path: Path, command: str
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    name = _bad_name(src, b"caf\xe9.txt")
    os.mkdir(os.path.join(os.fsencode(src), b"dir\xff"))
    _bad_name(src / os.fsdecode(b"dir\xff"), b"inside.txt")
    url = f"s3://{bucket}/t/"
    extra = ["--recursive"] if command == "cp" else []
    runs = {
        dry: run(command, str(src), url, *extra, *(["--dryrun"] if dry else []))
        for dry in (True, False)
    }
    for dry, result in runs.items():
        assert result.exit_code == 2, (dry, result.stderr)
        warnings = [line for line in lines(result, "stderr") if line.startswith("warning:")]
        named = sorted(line.partition(": its name ")[0] for line in warnings)
        assert named == [
            f"warning: skipped {src}/caf\\udce9.txt",
            f"warning: skipped {src}/dir\\udcff",
        ], result.stderr
        assert all("is not valid UTF-8" in line for line in warnings)
        assert "error: 2 file(s) skipped" in result.stderr
        assert "Traceback" not in result.stderr and name not in result.stdout
        listed = [line.split(" to ")[-1] for line in lines(result)]
        assert sorted(listed) == [f"{url}a.txt", f"{url}sub/b.txt"], result.stdout
    assert object_keys(connection, bucket) == ["t/a.txt", "t/sub/b.txt"]


def test_sync_delete_keeps_what_lies_below_a_non_utf8_local_name(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    """Downloading with --delete: a local file S3 cannot name is not "missing at the source"."""
    store = SecureStore(bucket, connection=connection)
    store.put("t/a.txt", b"alpha")
    down = tmp_path / "down"
    down.mkdir()
    name = _bad_name(down, b"local-\xff.txt", b"mine")
    result = run("sync", f"s3://{bucket}/t/", str(down), "--delete")
    assert result.exit_code == 0, result.stderr
    assert (down / name).read_bytes() == b"mine"
    assert (down / "a.txt").read_bytes() == b"alpha"


@pytest.mark.parametrize("command", ["cp", "put"])
def test_one_non_utf8_file_is_refused_alike_with_and_without_dryrun(
    run: Run, bucket: str, connection: Connection, tmp_path: Path, command: str
) -> None:
    name = _bad_name(tmp_path, b"caf\xe9.txt")
    for dry in (["--dryrun"], []):
        result = run(command, str(tmp_path / name), f"s3://{bucket}/", *dry)
        assert result.exit_code == 2, (dry, result.stdout, result.stderr)
        assert "(dryrun)" not in result.stdout and "Traceback" not in result.stderr
        assert "caf\\udce9.txt" in result.stderr and "UTF-8" in result.stderr, result.stderr
    assert object_keys(connection, bucket) == []

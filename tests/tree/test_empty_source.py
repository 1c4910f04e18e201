"""``sync --delete`` from a source that lists nothing is refused before anything is deleted.

A typo'd prefix, an empty or unmounted folder, or filters that select nothing
would otherwise empty the destination (aws-cli does that). The opt-in is
``--allow-empty-source`` / ``allow_empty_source=True``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from securestore import Connection, SecureStore
from securestore.errors import ConfigurationError
from securestore.tree import Filters, sync
from tests.support.cli import Run, stderr_lines
from tests.tree.conftest import lines, make_tree, object_keys, read_tree

FILES = {"a.txt": b"a", "sub/b.txt": b"bb"}


@pytest.fixture
def store(connection: Connection, bucket: str) -> SecureStore:
    return SecureStore(bucket, connection=connection)


def _put(connection: Connection, bucket: str, prefix: str) -> list[str]:
    keys = [prefix + name for name in FILES]
    for key in keys:
        connection.client("s3").put_object(Bucket=bucket, Key=key, Body=b"x")
    return sorted(keys)


def test_cli_local_to_s3_empty_folder_is_refused_then_opt_in_deletes(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    keys = _put(connection, bucket, "d/")
    url = f"s3://{bucket}/d/"
    for extra in ((), ("--dryrun",)):
        result = run("sync", str(empty), url, "--delete", *extra)
        assert result.exit_code == 2, result.stderr
        errors = stderr_lines(result, "error:")
        assert len(errors) == 1 and "lists nothing" in errors[0], result.stderr
        assert "2 object(s) or file(s)" in errors[0]
        assert "--allow-empty-source" in "".join(stderr_lines(result, "hint:"))
        assert "Traceback" not in result.output
        assert lines(result) == []  # no delete: line, not even a dry run's
        assert object_keys(connection, bucket) == keys
    result = run("sync", str(empty), url, "--delete", "--allow-empty-source")
    assert result.exit_code == 0, result.stderr
    assert sorted(lines(result)) == [f"delete: s3://{bucket}/{key}" for key in keys]
    assert object_keys(connection, bucket) == []


def test_cli_filters_that_select_nothing_count_as_empty(
    run: Run, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"only.log": b"log"})
    keys = _put(connection, bucket, "d/")
    result = run("sync", str(src), f"s3://{bucket}/d/", "--delete", "--exclude", "*.log")
    assert result.exit_code == 2, result.stderr
    assert "lists nothing the filters select" in result.stderr
    assert object_keys(connection, bucket) == keys


def test_s3_to_local_empty_prefix_is_refused(store: SecureStore, tmp_path: Path) -> None:
    down = tmp_path / "down"
    make_tree(down, FILES)
    with pytest.raises(ConfigurationError, match="lists nothing") as caught:
        sync((store, "typo/"), down, delete=True)
    assert caught.value.hint is not None and "--allow-empty-source" in caught.value.hint
    assert read_tree(down) == FILES
    result = sync((store, "typo/"), down, delete=True, allow_empty_source=True)
    assert result.ok and result.deleted == 2
    assert read_tree(down) == {}


def test_s3_to_s3_empty_prefix_is_refused(
    store: SecureStore, connection: Connection, bucket: str
) -> None:
    keys = _put(connection, bucket, "dst/")
    with pytest.raises(ConfigurationError, match="lists nothing"):
        sync((store, "src/"), (store, "dst/"), delete=True)
    assert object_keys(connection, bucket) == keys
    # Every source object excluded (filters apply to both sides: the .txt objects
    # are selected at the destination): the same refusal.
    connection.client("s3").put_object(Bucket=bucket, Key="src/only.log", Body=b"x")
    with pytest.raises(ConfigurationError, match="nothing the filters select"):
        sync(
            (store, "src/"),
            (store, "dst/"),
            delete=True,
            filters=Filters.of([("exclude", "*.log")]),
        )
    assert object_keys(connection, bucket) == sorted([*keys, "src/only.log"])


def test_nothing_to_delete_or_a_listed_source_is_not_refused(
    store: SecureStore, connection: Connection, bucket: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # An empty source over an empty destination deletes nothing: no refusal.
    assert sync(empty, (store, "dst/"), delete=True).ok
    # A source that lists one entry deletes the rest as before.
    connection.client("s3").put_object(Bucket=bucket, Key="dst/extra.txt", Body=b"x")
    make_tree(tmp_path / "one", {"a.txt": b"a"})
    result = sync(tmp_path / "one", (store, "dst/"), delete=True)
    assert result.ok and result.deleted == 1 and result.done == 1
    assert object_keys(connection, bucket) == ["dst/a.txt"]
    # Without --delete an empty source is a no-op, never an error.
    assert sync(empty, (store, "dst/")).ok


def test_allow_empty_source_without_delete_is_refused_before_any_work(
    run: Run, store: SecureStore, bucket: str, connection: Connection, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, FILES)
    result = run("sync", str(src), f"s3://{bucket}/d/", "--allow-empty-source")
    assert result.exit_code == 2, result.stderr
    errors = stderr_lines(result, "error:")
    assert len(errors) == 1 and "--delete" in errors[0], result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(ConfigurationError, match="delete") as caught:
        sync(src, (store, "d/"), allow_empty_source=True)
    assert caught.value.hint is not None and "delete=True" in caught.value.hint
    assert object_keys(connection, bucket) == []

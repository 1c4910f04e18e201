"""``sync --delete`` removes a remote destination's extra objects 1,000 to a DeleteObjects request.

The deletes wait until every transfer is done, and fall back to one request per
object exactly as ``rm --recursive`` does (tests/reliability/test_batch_delete.py
holds the fallbacks themselves). Requests are counted with botocore's events on
the store's client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.errors import AccessDeniedError
from securestore.tree import Filters, removal, sync
from tests.conftest import Endpoint
from tests.support.cli import Run
from tests.support.s3calls import count_calls, keys_left, put_objects


@pytest.fixture
def store(tls_endpoint: Endpoint, bucket: str) -> SecureStore:
    return SecureStore(bucket, connection=tls_endpoint.connection())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "keep.txt").write_bytes(b"kept")
    (root / "sub" / "new.txt").write_bytes(b"new")
    return root


def test_extra_objects_go_in_batches_after_the_transfers(
    store: SecureStore,
    connection: Connection,
    bucket: str,
    tree: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Old code: 23 DeleteObject requests, interleaved with the uploads."""
    monkeypatch.setattr(removal, "DELETE_BATCH", 10)
    put_objects(
        connection, bucket, [f"d/extra/{i:03}" for i in range(23)] + ["d/keep.txt", "other"]
    )
    calls = count_calls(store.connection.client("s3"))
    order: list[str] = []
    result = sync(
        tree,
        (store, "d/"),
        delete=True,
        on_event=lambda task, outcome, _e: order.append(task.kind),
    )
    assert result.ok, result.failed
    assert result.deleted == 23 and result.done == 2
    assert calls["DeleteObjects"] == 3 and calls["DeleteObject"] == 0
    assert order.count("delete") == 23
    assert order.index("delete") > max(i for i, k in enumerate(order) if k == "upload")
    assert keys_left(connection, bucket) == ["d/keep.txt", "d/sub/new.txt", "other"]


def test_excluded_objects_are_not_deleted(
    store: SecureStore, connection: Connection, bucket: str, tree: Path
) -> None:
    put_objects(connection, bucket, ["d/gone.txt", "d/kept.log"])
    result = sync(tree, (store, "d/"), delete=True, filters=Filters.of([("exclude", "*.log")]))
    assert result.ok and result.deleted == 1
    assert keys_left(connection, bucket) == ["d/keep.txt", "d/kept.log", "d/sub/new.txt"]


def test_a_refused_key_is_a_failure_and_the_rest_are_deleted(
    store: SecureStore, connection: Connection, bucket: str, tree: Path
) -> None:
    put_objects(connection, bucket, ["d/x1", "d/x2", "d/x3"])
    client = store.connection.client("s3")

    def refuse_one(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Deleted"] = [d for d in parsed["Deleted"] if d["Key"] != "d/x2"]
        parsed["Errors"] = [{"Key": "d/x2", "Code": "AccessDenied", "Message": "Access Denied"}]

    client.meta.events.register("after-call.s3.DeleteObjects", refuse_one)
    result = sync(tree, (store, "d/"), delete=True)
    assert result.deleted == 2
    assert [f.source for f in result.failed] == [f"s3://{bucket}/d/x2"]
    assert isinstance(result.failed[0].error, AccessDeniedError)


def test_a_dry_run_sends_no_delete(
    store: SecureStore, connection: Connection, bucket: str, tree: Path
) -> None:
    put_objects(connection, bucket, ["d/x1", "d/x2"])
    calls = count_calls(store.connection.client("s3"))
    result = sync(tree, (store, "d/"), delete=True, dryrun=True)
    assert result.deleted == 2 and result.dryrun
    assert calls["DeleteObjects"] == 0 and calls["DeleteObject"] == 0
    assert keys_left(connection, bucket) == ["d/x1", "d/x2"]


def test_s3_to_s3_sync_deletes_in_batches(
    store: SecureStore, connection: Connection, bucket: str
) -> None:
    put_objects(connection, bucket, ["src/a", "dst/a", "dst/b", "dst/c"])
    calls = count_calls(store.connection.client("s3"))
    result = sync((store, "src/"), (store, "dst/"), delete=True)
    assert result.ok and result.deleted == 2
    assert calls["DeleteObjects"] == 1 and calls["DeleteObject"] == 0
    assert keys_left(connection, bucket, "dst/") == ["dst/a"]


def test_the_cli_prints_each_delete(
    run: Run, connection: Connection, bucket: str, tree: Path
) -> None:
    put_objects(connection, bucket, ["d/x1", "d/x2"])
    result = run("sync", str(tree), f"s3://{bucket}/d/", "--delete")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"delete: s3://{bucket}/d/x1" in lines and f"delete: s3://{bucket}/d/x2" in lines
    assert keys_left(connection, bucket) == ["d/keep.txt", "d/sub/new.txt"]

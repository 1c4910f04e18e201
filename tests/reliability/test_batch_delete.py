"""``rm --recursive`` deletes 1,000 objects per DeleteObjects request, and falls back safely.

Requests are counted with botocore's own events on the store's client. A server
without DeleteObjects is the fault proxy answering ``501 NotImplemented`` to it;
a server that answers quietly, or refuses some keys, is the endpoint's real
answer with its ``Deleted`` entries taken out (or moved to ``Errors``) in
``after-call``, where botocore hands the parsed answer to the caller.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from securestore import Connection, SecureStore
from securestore.account import create_bucket
from securestore.errors import AccessDeniedError
from securestore.tree import removal, remove_tree
from tests.conftest import Endpoint, unique_bucket_name
from tests.reliability.conftest import ProxyFactory
from tests.support.cli import Run, stderr_lines
from tests.support.rclone import RcloneEndpoint
from tests.support.s3calls import count_calls, keys_left, put_objects


@pytest.fixture
def store(tls_endpoint: Endpoint, bucket: str) -> SecureStore:
    return SecureStore(bucket, connection=tls_endpoint.connection())


def test_a_batch_of_objects_goes_in_one_request(
    store: SecureStore, connection: Connection, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: 23 DeleteObject requests (S3 takes 1,000 per request; 10 here, for speed)."""
    assert removal.DELETE_BATCH == 1000
    monkeypatch.setattr(removal, "DELETE_BATCH", 10)
    keys = [f"t/{i:05}" for i in range(23)] + ["u/kept"]
    put_objects(connection, bucket, keys)
    calls = count_calls(store.connection.client("s3"))
    events: list[tuple[str, str]] = []
    result = remove_tree(
        store, "t/", on_event=lambda task, outcome, _e: events.append((task.kind, outcome))
    )
    assert result.deleted == 23 and result.ok
    assert calls["DeleteObjects"] == 3 and calls["DeleteObject"] == 0
    assert events == [("delete", "done")] * 23
    assert keys_left(connection, bucket) == ["u/kept"]


def test_keys_with_control_characters_go_one_by_one(
    store: SecureStore, connection: Connection, bucket: str
) -> None:
    keys = ["t/plain", "t/tab\there", "t/bell\x07", "t/cr\rx", "t/c1\x85"]
    put_objects(connection, bucket, keys)
    calls = count_calls(store.connection.client("s3"))
    result = remove_tree(store, "t/")
    assert result.deleted == 5 and result.ok
    assert calls["DeleteObjects"] == 1 and calls["DeleteObject"] == 4
    assert keys_left(connection, bucket) == []


def test_a_server_without_delete_objects_gets_one_request_per_object(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket: str,
    make_proxy: ProxyFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batching stops after the first refusal: later batches are not tried."""
    from tests.support.proxy import ErrorResponse, Rule

    monkeypatch.setattr(removal, "DELETE_BATCH", 4)
    keys = [f"t/{i:02}" for i in range(10)]
    put_objects(connection, bucket, keys)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    rule = proxy.add(
        Rule(ErrorResponse(501, "NotImplemented", "no"), method="POST", query="delete", times=None)
    )
    through = dataclasses.replace(tls_endpoint, url=proxy.url).connection(max_attempts=1)
    result = remove_tree(SecureStore(bucket, connection=through), "t/")
    assert result.deleted == 10 and result.ok
    assert rule.injected == 1
    assert sum(1 for e in proxy.exchanges if e.method == "DELETE") == 10
    assert keys_left(connection, bucket) == []


def _doctor(client: Any, change: Any) -> None:
    def after(parsed: dict[str, Any], **_: Any) -> None:
        change(parsed)

    client.meta.events.register("after-call.s3.DeleteObjects", after)


def test_an_answer_that_confirms_nothing_deletes_each_object_itself(
    store: SecureStore, connection: Connection, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet server: nothing counts as deleted on its word, nor is it asked again."""
    monkeypatch.setattr(removal, "DELETE_BATCH", 2)
    put_objects(connection, bucket, [f"t/{i}" for i in range(5)])
    client = store.connection.client("s3")
    calls = count_calls(client)
    _doctor(client, lambda parsed: parsed.pop("Deleted", None))
    result = remove_tree(store, "t/")
    assert result.deleted == 5 and result.ok
    assert calls["DeleteObjects"] == 1 and calls["DeleteObject"] == 5


def test_keys_the_answer_refuses_are_failures_with_their_reason(
    store: SecureStore, connection: Connection, bucket: str
) -> None:
    put_objects(connection, bucket, [f"t/{i}" for i in range(5)])
    client = store.connection.client("s3")

    def refuse_one(parsed: dict[str, Any]) -> None:
        parsed["Deleted"] = [d for d in parsed["Deleted"] if d["Key"] != "t/3"]
        parsed["Errors"] = [{"Key": "t/3", "Code": "AccessDenied", "Message": "Access Denied"}]

    _doctor(client, refuse_one)
    events: list[tuple[str, str]] = []
    result = remove_tree(
        store, "t/", on_event=lambda task, outcome, _e: events.append((task.source.prefix, outcome))
    )
    assert result.deleted == 4
    assert [f.source for f in result.failed] == [f"s3://{bucket}/t/3"]
    assert isinstance(result.failed[0].error, AccessDeniedError)
    assert ("t/3", "failed") in events


def test_rm_recursive_on_rclone_uses_delete_objects(
    rclone_endpoint: RcloneEndpoint, rclone_connection: Connection
) -> None:
    """A strict SigV4 server accepts the request as botocore signs it (CRC32, no MD5)."""
    name = unique_bucket_name("batch")
    create_bucket(rclone_connection, name)
    store = SecureStore(name, connection=rclone_connection)
    client = rclone_connection.client("s3")
    for i in range(12):
        client.put_object(Bucket=name, Key=f"t/{i:02}", Body=b"x")
    calls = count_calls(client)
    result = remove_tree(store, "t/")
    assert result.deleted == 12 and result.ok
    assert calls["DeleteObjects"] == 1 and calls["DeleteObject"] == 0
    assert keys_left(rclone_connection, name) == []


def test_the_cli_prints_one_line_per_object(run: Run, connection: Connection, bucket: str) -> None:
    put_objects(connection, bucket, ["t/a", "t/b"])
    result = run("rm", f"s3://{bucket}/t/", "--recursive")
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.splitlines()) == [
        f"delete: s3://{bucket}/t/a",
        f"delete: s3://{bucket}/t/b",
    ]
    assert not stderr_lines(result, "error:")
    assert keys_left(connection, bucket) == []

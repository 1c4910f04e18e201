"""Bodies the server controls are read up to what was asked, never whole (review rev2 B, L4).

A server that answers the right ``Content-Range`` with a body that never ends
is simulated by a botocore handler that swaps the parsed GetObject body for an
endless stream claiming a terabyte (on a connection of the test's own); a read
of it without a bound fails the test at once instead of filling the memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fsspec
import pytest
from botocore.response import StreamingBody

from securestore import ClientSide, Connection, RawAesKeyring, SecureStore, StorageError
from securestore.bucket import BucketAccess
from securestore.fs import SecureStoreFileSystem
from securestore.migrate import migrate_to_client_side
from securestore.reader import read_capped
from tests.conftest import SMALL_TRANSFER, Endpoint

KEY = RawAesKeyring("tests", "bounded", b"b" * 32)
TERABYTE = 10**12


class Endless:
    """A raw stream that never ends; reading it whole is the bug under test."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, amt: int | None = None) -> bytes:
        if amt is None:
            raise AssertionError("an unbounded read of a server-controlled body")
        self.sent += min(amt, 1 << 20)
        return b"\0" * min(amt, 1 << 20)

    def close(self) -> None:
        pass


def endless_gets(connection: Connection, key: str, *, drop_range: bool = False) -> None:
    """GetObject answers for ``key`` carry an endless body (and, if asked, no Content-Range)."""

    def swap(parsed: dict[str, Any], **kw: Any) -> None:
        if kw["model"].name != "GetObject" or "Body" not in parsed:
            return
        if kw["context"].get("listsafe_key") != key:
            return
        parsed["Body"].close()
        parsed["Body"] = StreamingBody(Endless(), TERABYTE)
        if drop_range:
            parsed.pop("ContentRange", None)

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["listsafe_key"] = params.get("Key")

    events = connection.client("s3").meta.events
    events.register("before-parameter-build.s3.GetObject", remember)
    events.register("after-call.s3.GetObject", swap)


def test_read_capped_refuses_a_body_longer_than_asked() -> None:
    body = StreamingBody(Endless(), TERABYTE)
    with pytest.raises(StorageError, match="more than the 100 bytes") as caught:
        read_capped(body, 100, bucket="b", key="k")
    assert caught.value.code == "BodyTooLong"


def test_read_raw_range_reads_no_more_than_the_range(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    # What the plain-sync guard (_starts_like_message) reads of each object it replaces.
    make_store().put("obj", b"x" * 5000)
    connection = tls_endpoint.connection()
    endless_gets(connection, "obj")
    store = SecureStore(bucket, connection=connection)
    with pytest.raises(StorageError, match="more than the 1024 bytes"):
        store.read_raw_range("obj", 0, 1023)


def test_rewrap_reads_no_more_than_the_range(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    make_store(encryption=ClientSide(KEY)).put("obj", b"x" * 5000)
    connection = tls_endpoint.connection()
    endless_gets(connection, "obj")
    store = SecureStore(bucket, connection=connection, keyring=KEY)
    with pytest.raises(StorageError, match="bytes asked for"):
        store.rewrap("obj", add=[RawAesKeyring("tests", "other", b"o" * 32)])


def test_migrate_reads_no_more_than_an_instruction_file_may_hold(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str
) -> None:
    s3 = make_store().connection.client("s3")
    s3.put_object(Bucket=bucket, Key="p/x", Body=b"body")
    s3.put_object(Bucket=bucket, Key="p/x.instruction", Body=b"{}")
    connection = tls_endpoint.connection()
    endless_gets(connection, "p/x.instruction")
    access = BucketAccess(bucket, connection, SMALL_TRANSFER)
    report = migrate_to_client_side(access, "p/", target=ClientSide(KEY), unwrap=KEY)
    failed = {entry.key: entry.detail for entry in report.entries if entry.status == "failed"}
    assert "bytes asked for" in failed["p/x"], report.entries


@pytest.fixture
def filesystem(tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> SecureStoreFileSystem:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.setenv(name, tls_endpoint.env[name])
    SecureStoreFileSystem.clear_instance_cache()
    fs: SecureStoreFileSystem = fsspec.filesystem(
        "securestore",
        endpoint_url=tls_endpoint.url,
        ca_bundle=tls_endpoint.ca_bundle,
        keyring=KEY,
        skip_instance_cache=True,
    )
    return fs


@pytest.mark.parametrize("drop_range", [False, True], ids=["endless body", "no Content-Range"])
def test_fs_size_of_a_message_reads_no_more_than_its_header_range(
    make_store: Callable[..., SecureStore],
    bucket: str,
    filesystem: SecureStoreFileSystem,
    drop_range: bool,
) -> None:
    make_store(encryption=ClientSide(KEY)).put("obj", b"x" * 5000)
    endless_gets_on(filesystem, bucket, drop_range=drop_range)
    with pytest.raises(StorageError, match=r"bytes asked for|did not answer the byte range"):
        filesystem.info(f"{bucket}/obj")


def endless_gets_on(fs: SecureStoreFileSystem, bucket: str, *, drop_range: bool) -> None:
    """Every GetObject answer of the filesystem's client for ``bucket`` is endless."""
    events = fs._s3(bucket).meta.events

    def swap(parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"].close()
            parsed["Body"] = StreamingBody(Endless(), TERABYTE)
            if drop_range:
                parsed.pop("ContentRange", None)

    events.register("after-call.s3.GetObject", swap)

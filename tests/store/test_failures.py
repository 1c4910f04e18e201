"""Failures mid-transfer: typed errors, no partial files, no leftover multipart uploads.

Faults are injected with botocore event handlers on a connection of the test's
own with a single attempt per request, so "persistent" means every attempt.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection, LocalFileError, SecureStore, SecureStoreError, StorageError
from tests.store.conftest import PART, error_response, list_uploads

BIG = random.Random(5).randbytes(2 * PART + 1)  # three parts / ranges


def fail_ranges_after_the_first(connection: Connection) -> list[str]:
    """Answer 500 to every GetObject whose range does not start at 0."""
    failed: list[str] = []

    def inject(request: Any, **_: Any) -> Any:
        header = request.headers.get("Range")
        value = header.decode() if isinstance(header, bytes) else header
        if value and not value.startswith("bytes=0-"):
            failed.append(value)
            return error_response(request)
        return None

    connection.client("s3").meta.events.register("before-send.s3.GetObject", inject)
    return failed


def fail_upload_part(connection: Connection, number: int) -> list[str]:
    """Answer 500 to every UploadPart of part ``number``."""
    failed: list[str] = []

    def inject(request: Any, **_: Any) -> Any:
        if f"partNumber={number}&" in request.url or request.url.endswith(f"partNumber={number}"):
            failed.append(request.url)
            return error_response(request)
        return None

    connection.client("s3").meta.events.register("before-send.s3.UploadPart", inject)
    return failed


def test_interrupted_download_leaves_no_file(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Path
) -> None:
    store = fault_store()
    store.put("big", BIG)
    failed = fail_ranges_after_the_first(fault_connection)
    target = tmp_path / "out.bin"
    with pytest.raises(StorageError) as info:
        store.download_file("big", target)
    assert failed
    assert info.value.code == "InjectedFailure"
    assert (info.value.bucket, info.value.key) == (store.bucket, "big")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_keeps_the_existing_file(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Path
) -> None:
    store = fault_store()
    store.put("big", BIG)
    target = tmp_path / "out.bin"
    target.write_bytes(b"the previous download")
    (tmp_path / "neighbour.txt").write_bytes(b"unrelated")
    fail_ranges_after_the_first(fault_connection)
    with pytest.raises(StorageError):
        store.download_file("big", target)
    assert target.read_bytes() == b"the previous download"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neighbour.txt", "out.bin"]


def test_download_resumes_a_broken_range(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Path
) -> None:
    """A body that breaks once mid-range is resumed from where it stopped."""
    import urllib3.exceptions

    broken: list[str] = []

    class Breaking:
        def __init__(self, body: Any) -> None:
            self._body = body
            self._left = 100_000

        def read(self, amount: int | None = None) -> bytes:
            if self._left <= 0:
                raise urllib3.exceptions.ProtocolError("connection broken (injected)")
            data: bytes = self._body.read(min(amount or self._left, self._left))
            self._left -= len(data)
            return data

        def readinto(self, buffer: Any) -> int:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)

        def close(self) -> None:
            self._body.close()

    def wrap(parsed: dict[str, Any], **_: Any) -> None:
        if len(broken) < 3 and "Body" in parsed:
            broken.append(parsed.get("ContentRange", ""))
            parsed["Body"] = Breaking(parsed["Body"])

    store = fault_store()
    store.put("big", BIG)
    fault_connection.client("s3").meta.events.register("after-call.s3.GetObject", wrap)
    store.download_file("big", tmp_path / "out.bin")
    assert len(broken) == 3
    assert (tmp_path / "out.bin").read_bytes() == BIG


@pytest.mark.parametrize("source", ["bytes", "stream", "file"])
def test_failed_multipart_upload_is_aborted(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    tmp_path: Path,
    source: str,
) -> None:
    store = fault_store()
    store.put("obj", b"previous object")
    failed = fail_upload_part(fault_connection, 2)
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    upload: Callable[[], Any] = {
        "bytes": lambda: store.put("obj", BIG),
        "stream": lambda: store.put("obj", iter([BIG[:1000], BIG[1000:]])),
        "file": lambda: store.upload_file(path, "obj"),
    }[source]
    with pytest.raises(StorageError) as info:
        upload()
    assert info.value.code == "InjectedFailure"
    assert failed
    assert list_uploads(fault_connection, bucket) == []
    assert store.get("obj") == b"previous object"


def test_failed_first_multipart_upload_leaves_no_object(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, bucket: str
) -> None:
    store = fault_store()
    fail_upload_part(fault_connection, 3)
    with pytest.raises(StorageError):
        store.put("obj", BIG)
    assert list_uploads(fault_connection, bucket) == []
    assert [s.key for s in store.list()] == []


def test_failing_body_aborts_the_upload(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, bucket: str
) -> None:
    """A source that raises after the first part: the upload is aborted, the error kept."""

    def source() -> Any:
        yield BIG[: PART + 10]
        raise OSError("the source disk failed")

    store = fault_store()
    with pytest.raises((OSError, SecureStoreError)) as info:
        store.put("obj", source())
    assert "source disk failed" in str(info.value) + str(info.value.__cause__)
    assert list_uploads(fault_connection, bucket) == []
    assert [s.key for s in store.list()] == []


def test_failed_complete_is_aborted(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, bucket: str
) -> None:
    def inject(request: Any, **_: Any) -> Any:
        return error_response(request)

    fault_connection.client("s3").meta.events.register(
        "before-send.s3.CompleteMultipartUpload", inject
    )
    store = fault_store()
    with pytest.raises(StorageError):
        store.put("obj", BIG)
    assert list_uploads(fault_connection, bucket) == []
    assert [s.key for s in store.list()] == []


@pytest.mark.timeout(20)
def test_upload_file_of_a_fifo_is_refused_without_blocking(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    """Opening a FIFO that has no writer blocked forever (the check came after the open)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(LocalFileError, match="not a regular file"):
        make_store().upload_file(fifo, "obj")

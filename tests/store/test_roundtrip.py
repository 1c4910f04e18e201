"""Round trips through the store for every body kind, size around the part size and mode."""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    DsseKms,
    EncryptionMode,
    ObjectInfo,
    SecureStore,
    SseKms,
    SseS3,
)
from tests.store.conftest import PART

SIZES = [0, 1, PART - 1, PART, PART + 1, 2 * PART + 1]
SIZE_IDS = ["empty", "1B", "part-1", "part", "part+1", "2part+1"]
# File objects share one reading path: its boundaries are around one part.
STREAM_SIZES = [0, PART - 1, PART, PART + 1]
STREAM_IDS = ["empty", "part-1", "part", "part+1"]


def payload(size: int) -> bytes:
    """Deterministic, incompressible-looking bytes (random.randbytes is fast)."""
    return random.Random(size).randbytes(size)


def expected_parts(size: int) -> int:
    """How many parts a body of ``size`` is sent in (1 means a single PutObject)."""
    return max(1, -(-size // PART))


def assert_stored(info: ObjectInfo, store: SecureStore, key: str, data: bytes) -> None:
    """The write's report and S3's HEAD agree with the body that was sent."""
    assert info.size == len(data)
    assert (info.bucket, info.key) == (store.bucket, key)
    head = store.head(key)
    assert head.size == len(data)
    assert head.etag == info.etag
    parts = expected_parts(len(data))
    if parts == 1:
        assert head.etag.strip('"') == hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag
    else:
        assert head.etag.strip('"').endswith(f"-{parts}")


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class ShortReads(io.RawIOBase):
    """A non-seekable stream that returns fewer bytes than asked, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._random = random.Random(7)
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        limit = self._random.randint(1, 256 * 1024)
        if size < 0:
            size = len(self._data)
        chunk = bytes(self._data[self._pos : self._pos + min(size, limit)])
        self._pos += len(chunk)
        return chunk


def pipe_reader(data: bytes) -> tuple[io.FileIO, threading.Thread]:
    """The read end of an OS pipe that a thread fills with ``data``."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb", buffering=0) as out:
            out.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return open(read_fd, "rb", buffering=0), writer


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_put_bytes_then_get(make_store: Callable[..., SecureStore], size: int) -> None:
    store = make_store()
    data = payload(size)
    progress: list[int] = []
    info = store.put("obj/bytes", data, progress=progress.append)
    assert_stored(info, store, "obj/bytes", data)
    assert sum(progress) == size
    assert store.get("obj/bytes") == data


@pytest.mark.parametrize("size", STREAM_SIZES, ids=STREAM_IDS)
def test_put_file_object_then_open_read(make_store: Callable[..., SecureStore], size: int) -> None:
    store = make_store()
    data = payload(size)
    info = store.put("obj/file", io.BytesIO(data))
    assert_stored(info, store, "obj/file", data)
    with store.open("obj/file") as reader:
        assert reader.read() == data


def test_put_file_object_sends_from_its_current_position(
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store()
    source = io.BytesIO(b"header|the body")
    source.seek(7)
    store.put("obj/tail", source)
    assert store.get("obj/tail") == b"the body"


@pytest.mark.parametrize("size", [*STREAM_SIZES, 2 * PART + 1], ids=[*STREAM_IDS, "2part+1"])
def test_put_generator_then_get(make_store: Callable[..., SecureStore], size: int) -> None:
    store = make_store()
    data = payload(size)
    # Uneven pieces that straddle every part boundary.
    info = store.put("obj/gen", pieces(data, 1024 * 1024 + 7))
    assert_stored(info, store, "obj/gen", data)
    assert store.get("obj/gen") == data


@pytest.mark.parametrize("size", STREAM_SIZES, ids=STREAM_IDS)
def test_put_short_reads_then_get(make_store: Callable[..., SecureStore], size: int) -> None:
    store = make_store()
    data = payload(size)
    source = ShortReads(data)
    info = store.put("obj/short", source)
    assert_stored(info, store, "obj/short", data)
    assert store.get("obj/short") == data
    if size > 256 * 1024:
        assert source.calls > expected_parts(size)


@pytest.mark.parametrize("size", [0, PART + 1], ids=["empty", "part+1"])
def test_put_pipe_then_get(make_store: Callable[..., SecureStore], size: int) -> None:
    store = make_store()
    data = payload(size)
    source, writer = pipe_reader(data)
    with source:
        info = store.put("obj/pipe", source)
    writer.join(timeout=10)
    assert_stored(info, store, "obj/pipe", data)
    assert store.get("obj/pipe") == data


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_upload_file_then_download_file(
    make_store: Callable[..., SecureStore], tmp_path: Path, size: int
) -> None:
    store = make_store()
    data = payload(size)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    sent: list[int] = []
    info = store.upload_file(source, "obj/file", progress=sent.append)
    assert_stored(info, store, "obj/file", data)
    assert sum(sent) == size
    target = tmp_path / "out" / "copy.bin"
    target.parent.mkdir()
    received: list[int] = []
    got = store.download_file("obj/file", target, progress=received.append)
    assert target.read_bytes() == data
    assert got.size == size
    assert sum(received) == size
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_download_file_replaces_an_existing_file(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("obj", b"new contents")
    target = tmp_path / "existing.bin"
    target.write_bytes(b"old contents that are longer than the new ones")
    store.download_file("obj", target)
    assert target.read_bytes() == b"new contents"


def test_put_accepts_bytearray_and_memoryview(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    store.put("obj/ba", bytearray(b"from a bytearray"))
    store.put("obj/mv", memoryview(b"xx from a memoryview")[3:])
    assert store.get("obj/ba") == b"from a bytearray"
    assert store.get("obj/mv") == b"from a memoryview"


def test_content_type_round_trips(make_store: Callable[..., SecureStore]) -> None:
    store = make_store()
    info = store.put("obj.json", b"{}", content_type="application/json")
    assert info.content_type == "application/json"
    assert store.head("obj.json").content_type == "application/json"


# -- modes -----------------------------------------------------------------------------------

MODES = ["sse-s3", "sse-kms-arn", "sse-kms-id", "sse-kms-alias", "sse-kms-context", "dsse-kms"]


def build_mode(name: str, kms_key: str, kms_alias: str) -> EncryptionMode:
    key_id = kms_key.rsplit("/", 1)[1]
    return {
        "sse-s3": SseS3(),
        "sse-kms-arn": SseKms(kms_key),
        "sse-kms-id": SseKms(key_id),
        "sse-kms-alias": SseKms(kms_alias),
        "sse-kms-context": SseKms(kms_key, context={"project": "apollo", "tier": "gold"}),
        "dsse-kms": DsseKms(kms_key),
    }[name]


def assert_mode(info: ObjectInfo, mode: EncryptionMode, kms_key: str) -> None:
    """S3 reports the mode asked for, and the key asked for (or its ARN)."""
    algorithm = {"sse-s3": "AES256", "sse-kms": "aws:kms", "dsse-kms": "aws:kms:dsse"}[mode.name]
    assert info.encryption.algorithm == algorithm
    assert info.encryption.sse_name == mode.name
    reported = info.encryption.kms_key_id
    if isinstance(mode, SseS3):
        assert reported is None
    elif isinstance(mode, DsseKms):
        # moto does not report the key of a DSSE object; a key it reports must match.
        assert reported in (None, mode.key_id, kms_key)
    else:
        assert isinstance(mode, SseKms)
        assert reported in (mode.key_id, kms_key)
    assert mode.check(info.encryption, resolved_key_arn=kms_key) is None


@pytest.mark.parametrize("size", [1, PART + 1], ids=["single", "multipart"])
@pytest.mark.parametrize("name", MODES)
def test_modes_put_get(
    make_store: Callable[..., SecureStore],
    kms_key: str,
    kms_alias: str,
    name: str,
    size: int,
) -> None:
    mode = build_mode(name, kms_key, kms_alias)
    store = make_store(encryption=mode)
    data = payload(size)
    info = store.put("obj", data)
    assert_mode(info, mode, kms_key)
    assert_mode(store.head("obj"), mode, kms_key)
    assert store.get("obj", require=mode) == data


@pytest.mark.parametrize("name", MODES)
def test_modes_upload_download(
    make_store: Callable[..., SecureStore],
    kms_key: str,
    kms_alias: str,
    tmp_path: Path,
    name: str,
) -> None:
    """Files take the same write path as put (covered above for multipart)."""
    mode = build_mode(name, kms_key, kms_alias)
    store = make_store()
    data = payload(1000)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    info = store.upload_file(source, "obj", encryption=mode)
    assert_mode(info, mode, kms_key)
    assert_mode(store.head("obj"), mode, kms_key)
    store.download_file("obj", tmp_path / "out.bin", require=mode)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_kms_context_is_sent_with_the_write(
    fault_store: Callable[..., SecureStore], fault_connection: Any, kms_key: str
) -> None:
    import base64
    import json

    sent: list[str | None] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.headers.get("x-amz-server-side-encryption-context"))

    # The first write of a KMS mode is a one-part multipart upload (securestore.writing).
    for operation in ("PutObject", "CreateMultipartUpload"):
        fault_connection.client("s3").meta.events.register(f"before-send.s3.{operation}", capture)
    store = fault_store(encryption=SseKms(kms_key, context={"b": "2", "a": "1"}))
    store.put("obj", b"data")
    assert len(sent) == 1 and sent[0] is not None
    assert json.loads(base64.b64decode(sent[0])) == {"a": "1", "b": "2"}


def test_per_call_mode_overrides_store_default(
    make_store: Callable[..., SecureStore], kms_key: str, tmp_path: Path
) -> None:
    s3_store = make_store()
    kms_store = make_store(encryption=SseKms(kms_key))
    s3_store.put("default-s3", b"x")
    kms_store.put("default-kms", b"x")
    s3_store.put("override-kms", b"x", encryption=SseKms(kms_key))
    kms_store.put("override-s3", b"x", encryption=SseS3())
    source = tmp_path / "f"
    source.write_bytes(b"file")
    kms_store.upload_file(source, "override-s3-file", encryption=SseS3())
    s3_store.upload_file(source, "override-dsse-file", encryption=DsseKms(kms_key))
    reported = {
        key: s3_store.head(key).encryption.sse_name
        for key in (
            "default-s3",
            "default-kms",
            "override-kms",
            "override-s3",
            "override-s3-file",
            "override-dsse-file",
        )
    }
    assert reported == {
        "default-s3": "sse-s3",
        "default-kms": "sse-kms",
        "override-kms": "sse-kms",
        "override-s3": "sse-s3",
        "override-s3-file": "sse-s3",
        "override-dsse-file": "dsse-kms",
    }

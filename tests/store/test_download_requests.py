"""Requests per download: a small plain object costs one GET, and nothing of fail-closed is lost.

The first GET of a download that may deliver the object as stored asks for the
whole first part: its headers and first bytes tell what the object is (a
client-side message, an S3 Encryption Client object, or plaintext), and the
rest of its body is written instead of being fetched again. Requests are
counted by a botocore event handler on the store's own client.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions

from securestore import Connection, SecureStore, TransferConfig
from securestore.clientside import HEADER_PROBE, ClientSide
from securestore.errors import (
    IntegrityError,
    KeyringError,
    PreconditionFailedError,
    StorageError,
    TransferError,
)
from securestore.keyrings import RawAesKeyring
from securestore.tree import sync
from tests.store.conftest import PART

KEYRING = RawAesKeyring("securestore-test", "requests", bytes(range(32)))


class Requests:
    """Counts the S3 operations a client sends, and the Range of each GetObject."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.ranges: list[str] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name == "GetObject":
            self.ranges.append(str(params.get("headers", {}).get("Range", "")))

    def reset(self) -> None:
        self.operations.clear()
        self.ranges.clear()


@pytest.fixture
def requests(connection: Connection) -> Iterator[Requests]:
    counter = Requests()
    events = connection.client("s3").meta.events
    events.register("before-call.s3", counter)
    try:
        yield counter
    finally:
        events.unregister("before-call.s3", counter)


@pytest.mark.parametrize(
    "size", [1, HEADER_PROBE - 1, HEADER_PROBE, HEADER_PROBE + 1, 64 * 1024, PART]
)
def test_a_small_plain_object_is_downloaded_with_one_get(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path, size: int
) -> None:
    store = make_store()
    data = os.urandom(size)
    store.put("small", data)
    requests.reset()
    store.download_file("small", tmp_path / "small")
    assert (tmp_path / "small").read_bytes() == data
    assert requests.operations == Counter({"GetObject": 1})
    assert requests.ranges == [f"bytes=0-{PART - 1}"]


def test_a_large_plain_object_costs_one_get_per_part(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path
) -> None:
    store = make_store()
    data = os.urandom(2 * PART + 12345)
    store.put("big", data)
    requests.reset()
    store.download_file("big", tmp_path / "big")
    assert (tmp_path / "big").read_bytes() == data
    assert requests.operations == Counter({"GetObject": 3})
    assert sorted(requests.ranges) == sorted(
        [f"bytes=0-{PART - 1}", f"bytes={PART}-{2 * PART - 1}", f"bytes={2 * PART}-{len(data) - 1}"]
    )


def test_an_empty_plain_object_is_downloaded(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path
) -> None:
    store = make_store()
    store.put("empty", b"")
    store.download_file("empty", tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""


def test_syncing_a_tree_down_costs_one_get_per_small_file(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path
) -> None:
    store = make_store()
    files = {f"tree/{n:02d}.bin": os.urandom(100 + 997 * n) for n in range(12)}
    for key, data in files.items():
        store.put(key, data)
    requests.reset()
    result = sync((store, "tree/"), tmp_path / "restore")
    assert not result.failed
    for key, data in files.items():
        assert (tmp_path / "restore" / key.removeprefix("tree/")).read_bytes() == data
    assert requests.operations["GetObject"] == len(files)
    assert requests.operations["HeadObject"] == 0


def test_a_message_read_without_a_keyring_is_refused_after_one_get_and_leaves_nothing(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path
) -> None:
    make_store(encryption=ClientSide(KEYRING)).put("secret", os.urandom(3 * 1024 * 1024))
    requests.reset()
    with pytest.raises(KeyringError):
        make_store().download_file("secret", tmp_path / "secret")
    assert list(tmp_path.iterdir()) == []
    assert requests.operations == Counter({"GetObject": 1})


def test_a_message_read_with_allow_plaintext_is_still_decrypted(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    data = os.urandom(PART + 777)
    make_store(encryption=ClientSide(KEYRING)).put("secret", data)
    store = make_store(keyring=KEYRING)
    store.download_file("secret", tmp_path / "secret", allow_plaintext=True)
    assert (tmp_path / "secret").read_bytes() == data
    store.put("plain", b"stored as it is")
    store.download_file("plain", tmp_path / "plain", allow_plaintext=True)
    assert (tmp_path / "plain").read_bytes() == b"stored as it is"


class _Breaking:
    """A body that breaks after ``left`` bytes (read through its own ``readinto``)."""

    def __init__(self, body: Any, left: int) -> None:
        self._body = body
        self._left = left

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            raise urllib3.exceptions.ProtocolError("connection broken (injected)")
        data: bytes = self._body.read(min(len(buffer), self._left))
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def read(self, amount: int | None = None) -> bytes:
        out = bytearray(amount or 1024 * 1024)
        return bytes(out[: self.readinto(memoryview(out))])

    def close(self) -> None:
        self._body.close()


def _break_first_answer(connection: Connection, after: int) -> list[str]:
    broken: list[str] = []

    def wrap(parsed: dict[str, Any], **_: Any) -> None:
        if not broken and "Body" in parsed:
            broken.append(str(parsed.get("ContentRange", "")))
            parsed["Body"] = _Breaking(parsed["Body"], after)

    connection.client("s3").meta.events.register("after-call.s3.GetObject", wrap)
    return broken


@pytest.mark.parametrize("after", [100, HEADER_PROBE + 50_000], ids=["in-probe", "after-probe"])
def test_a_first_part_that_breaks_is_resumed(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    tmp_path: Path,
    after: int,
) -> None:
    store = fault_store()
    data = os.urandom(2 * PART + 1)
    store.put("big", data)
    broken = _break_first_answer(fault_connection, after)
    store.download_file("big", tmp_path / "big")
    assert broken == [f"bytes 0-{PART - 1}/{len(data)}"]
    assert (tmp_path / "big").read_bytes() == data


def test_a_first_part_that_keeps_breaking_fails_and_leaves_nothing(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Path
) -> None:
    store = fault_store(transfer=TransferConfig(part_size=PART, concurrency=2, read_retries=0))
    store.put("small", os.urandom(300_000))
    _break_first_answer(fault_connection, HEADER_PROBE + 1000)
    with pytest.raises(TransferError):
        store.download_file("small", tmp_path / "small")
    assert list(tmp_path.iterdir()) == []


def test_parts_after_the_first_are_pinned_to_the_version_the_probe_saw(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
) -> None:
    store = fault_store()
    store.put("big", os.urandom(2 * PART + 1))
    replaced: list[bool] = []

    def replace(parsed: dict[str, Any], **_: Any) -> None:
        if not replaced:
            replaced.append(True)
            make_store().put("big", os.urandom(2 * PART + 1))  # another client's write

    fault_connection.client("s3").meta.events.register("after-call.s3.GetObject", replace)
    (tmp_path / "big").write_bytes(b"kept")
    with pytest.raises(PreconditionFailedError):
        store.download_file("big", tmp_path / "big")
    assert [p.name for p in tmp_path.iterdir()] == ["big"]
    assert (tmp_path / "big").read_bytes() == b"kept"


def test_a_first_part_answered_from_byte_0_of_a_whole_object_is_refused(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Path
) -> None:
    store = fault_store()
    store.put("small", os.urandom(100_000))

    def strip(request: Any, **_: Any) -> None:
        request.headers.pop("Range", None)

    fault_connection.client("s3").meta.events.register("before-send.s3.GetObject", strip)
    with pytest.raises(StorageError, match="did not answer the byte range"):
        store.download_file("small", tmp_path / "small")
    assert list(tmp_path.iterdir()) == []


def test_a_stream_destination_gets_the_first_part_then_the_rest_in_order(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path
) -> None:
    store = make_store()
    data = os.urandom(2 * PART + 3)
    store.put("big", data)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = bytearray()
    # The reading end first, so that the download finds a reader.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    keep_open = os.open(fifo, os.O_WRONLY)  # no EOF for the reader before the download writes

    def drain() -> None:
        with open(fd, "rb") as pipe:
            while chunk := pipe.read(1 << 20):
                received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        requests.reset()
        store.download_file("big", fifo)
    finally:
        os.close(keep_open)
        reader.join(timeout=30)
    assert bytes(received) == data
    assert requests.ranges == [f"bytes=0-{PART - 1}", f"bytes={PART}-{len(data) - 1}"]


@pytest.mark.parametrize("size", [0, 1, 100_000, PART - 4096])
def test_a_small_client_side_object_is_downloaded_with_one_get(
    make_store: Callable[..., SecureStore], requests: Requests, tmp_path: Path, size: int
) -> None:
    store = make_store(encryption=ClientSide(KEYRING))
    data = os.urandom(size)
    store.put("small", data)
    requests.reset()
    store.download_file("small", tmp_path / "small")
    assert (tmp_path / "small").read_bytes() == data
    assert requests.operations == Counter({"GetObject": 1})


@pytest.mark.parametrize("frame_length", [64 * 1024, 6 * 1024 * 1024], ids=["small", "huge"])
def test_a_large_client_side_object_reads_its_first_frames_from_the_probe(
    make_store: Callable[..., SecureStore],
    requests: Requests,
    tmp_path: Path,
    frame_length: int,
) -> None:
    store = make_store(encryption=ClientSide(KEYRING, frame_length=frame_length))
    data = os.urandom(3 * PART + 4321)
    store.put("big", data)
    requests.reset()
    store.download_file("big", tmp_path / "big")
    assert (tmp_path / "big").read_bytes() == data
    assert requests.ranges[0] == f"bytes=0-{PART - 1}"
    # Each further range starts where the frames read from the probe end.
    starts = sorted(int(r.split("=")[1].split("-")[0]) for r in requests.ranges[1:])
    if frame_length < PART:
        assert starts[0] > PART - frame_length - 100
    assert requests.operations["HeadObject"] == 0


def test_a_tampered_frame_in_the_first_part_fails_and_leaves_nothing(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, tmp_path: Path
) -> None:
    store = make_store(encryption=ClientSide(KEYRING, frame_length=64 * 1024))
    store.put("small", os.urandom(300_000))
    s3 = connection.client("s3")
    stored = bytearray(s3.get_object(Bucket=bucket, Key="small")["Body"].read())
    stored[HEADER_PROBE + 10] ^= 1  # inside the first part, after the probe's bytes
    s3.put_object(Bucket=bucket, Key="small", Body=bytes(stored))
    (tmp_path / "small").write_bytes(b"kept")
    with pytest.raises(IntegrityError):
        store.download_file("small", tmp_path / "small")
    assert [p.name for p in tmp_path.iterdir()] == ["small"]
    assert (tmp_path / "small").read_bytes() == b"kept"


@pytest.mark.parametrize("after", [100, HEADER_PROBE + 50_000], ids=["in-probe", "after-probe"])
def test_a_client_side_first_part_that_breaks_is_resumed(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    tmp_path: Path,
    after: int,
) -> None:
    store = fault_store(encryption=ClientSide(KEYRING, frame_length=64 * 1024))
    data = os.urandom(PART + 99)
    store.put("big", data)
    broken = _break_first_answer(fault_connection, after)
    store.download_file("big", tmp_path / "big")
    assert broken and broken[0].startswith(f"bytes 0-{PART - 1}/")
    assert (tmp_path / "big").read_bytes() == data


@pytest.mark.parametrize("client_side", [False, True], ids=["plain", "client-side"])
def test_a_small_download_starts_no_thread(
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_side: bool,
) -> None:
    store = make_store(encryption=ClientSide(KEYRING)) if client_side else make_store()
    data = os.urandom(200_000)
    store.put("small", data)
    started: list[str] = []
    start = threading.Thread.start

    def counting(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting)
    store.download_file("small", tmp_path / "small")
    assert (tmp_path / "small").read_bytes() == data
    assert started == []


def test_a_client_side_download_parses_its_header_once(
    make_store: Callable[..., SecureStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without allow_s3ec and S3EC metadata the S3EC lookup cannot find anything: it no
    longer parses the header a second time to ask whether the object is a message."""
    import securestore.clientside
    import securestore.reading

    store = make_store(encryption=ClientSide(KEYRING))
    store.put("cs", b"secret" * 100)
    parsed: list[int] = []
    real = securestore.clientside.HeaderParser.feed

    def feed(self: Any, data: Any) -> Any:
        parsed.append(len(data))
        return real(self, data)

    monkeypatch.setattr(securestore.clientside.HeaderParser, "feed", feed)
    store.download_file("cs", tmp_path / "cs")
    assert (tmp_path / "cs").read_bytes() == b"secret" * 100
    assert len(parsed) == 1

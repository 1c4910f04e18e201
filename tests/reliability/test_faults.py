"""Fault injection between the store and a TLS endpoint (moto), through :class:`FaultProxy`.

Every scenario runs one store operation through a proxy that breaks some of its
requests:

* transient faults (the first matching request only) must be absorbed by
  retries, leaving byte-identical data;
* persistent faults (every matching request) must end in a typed
  :class:`~securestore.errors.SecureStoreError`, with no multipart upload left
  open, the previous version of the object untouched and no partial or
  temporary file at the destination.

The session summary ("fault injection summary") counts scenarios and faults.
"""

from __future__ import annotations

import dataclasses
import io
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import urllib3.exceptions

from securestore import (
    ClientSide,
    Connection,
    EncryptionMode,
    RawAesKeyring,
    SecureStore,
    SseKms,
    SseS3,
    StorageError,
    TransferConfig,
    TransferError,
    TransportSecurityError,
    create_bucket,
)
from securestore.transport import translate_error
from tests.conftest import unique_bucket_name
from tests.reliability.conftest import FaultLedger, ProxyFactory
from tests.support.proxy import (
    INTERNAL_ERROR,
    SLOW_DOWN,
    Action,
    Drop,
    FaultProxy,
    ResetRequest,
    ResetResponse,
    Rule,
    Stall,
    Truncate,
)
from tests.support.rclone import RcloneEndpoint

MiB = 1024 * 1024
SMALL = 256 * 1024
MEDIUM = 1 * MiB + 17
LARGE = 5 * MiB + 300 * 1024  # two parts / two download ranges of 5 MiB
TRANSFER = TransferConfig(part_size=5 * MiB, concurrency=2, read_retries=3)

#: Short enough that a stall costs about a second, long enough for moto on a busy machine.
READ_TIMEOUT = 1.0
STALL = 2.0

MODES: dict[str, Callable[[str], EncryptionMode]] = {
    "sse-s3": lambda kms_key: SseS3(),
    "sse-kms": lambda kms_key: SseKms(kms_key),
}


def payload(size: int, tag: str) -> bytes:
    """``size`` random bytes that start with a readable tag (for failure messages)."""
    head = f"<{tag}>".encode()
    return (head + os.urandom(size))[:size]


@dataclass
class Scenario:
    """One store operation with a direct store (for set-up and checks) and a proxied one."""

    bucket: str
    key: str
    direct: SecureStore
    proxied: SecureStore
    proxy: FaultProxy
    folder: Path
    mode: EncryptionMode
    stored: bytes = b""  # what the object holds before the operation

    @property
    def object_path(self) -> str:
        return f"^/{self.bucket}/{self.key}$"

    def open_uploads(self) -> list[dict[str, Any]]:
        response = self.direct.connection.client("s3").list_multipart_uploads(Bucket=self.bucket)
        return list(response.get("Uploads", []))


@dataclass(frozen=True)
class Operation:
    """A store operation, the requests faults aim at, and how to check its outcome."""

    name: str
    kind: str  # "write" or "read"
    size: int
    target: dict[str, Any]  # Rule selectors besides the object path
    run: Callable[[Scenario, bytes], None]


def _put(s: Scenario, data: bytes) -> None:
    s.proxied.put(s.key, data)


def _put_stream(s: Scenario, data: bytes) -> None:
    # A non-seekable stream of unknown length: cut into parts as it is read.
    pieces = (data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024))
    s.proxied.put(s.key, pieces)


def _upload_file(s: Scenario, data: bytes) -> None:
    source = s.folder / "source.bin"
    source.write_bytes(data)
    try:
        s.proxied.upload_file(source, s.key)
    finally:
        source.unlink()


def _get(s: Scenario, expected: bytes) -> None:
    assert s.proxied.get(s.key, require=s.mode) == expected


RANGES = [(0, 100_000), (3 * MiB + 5, 200_000), (LARGE - 50_000, 50_000), (7, 64 * 1024)]


def _open_ranges(s: Scenario, expected: bytes) -> None:
    with s.proxied.open(s.key, require=s.mode) as reader:
        for start, length in RANGES:
            assert reader.read_range(start, length) == expected[start : start + length]
        reader.seek(LARGE - 10)
        assert reader.read() == expected[-10:]


def _download(s: Scenario, expected: bytes) -> None:
    target = s.folder / "download.bin"
    s.proxied.download_file(s.key, target, require=s.mode)
    assert target.read_bytes() == expected


OPERATIONS = {
    op.name: op
    for op in [
        Operation("put", "write", SMALL, {"method": "PUT"}, _put),
        Operation(
            "put-stream", "write", LARGE, {"method": "PUT", "query": "partNumber=2"}, _put_stream
        ),
        Operation(
            "upload-file", "write", LARGE, {"method": "PUT", "query": "partNumber=1"}, _upload_file
        ),
        Operation("get", "read", MEDIUM, {"method": "GET"}, _get),
        Operation("open-ranges", "read", LARGE, {"method": "GET", "header": "Range"}, _open_ranges),
        Operation("download", "read", LARGE, {"method": "GET", "header": "Range"}, _download),
    ]
}

TRANSIENT_WRITE_FAULTS: dict[str, Action] = {
    "reset-mid-request": ResetRequest(after=64 * 1024),
    "lost-response": ResetResponse(),
    "500": INTERNAL_ERROR,
    "503-slowdown": SLOW_DOWN,
    "drop": Drop(),
    "stall": Stall(STALL),
}
TRANSIENT_READ_FAULTS: dict[str, Action] = {
    "reset-before-response": ResetResponse(),
    "reset-mid-body": ResetResponse(after=64 * 1024),
    "500": INTERNAL_ERROR,
    "503-slowdown": SLOW_DOWN,
    "drop": Drop(),
    "stall-mid-body": Stall(STALL, after=64 * 1024),
}

#: SSE-KMS changes only the request headers, not the fault handling: it gets a subset.
KMS_FAULTS = {"500", "reset-mid-request", "reset-mid-body"}

TRANSIENT = [
    pytest.param(mode, op, fault, id=f"{mode}-{op}-{fault}")
    for mode in MODES
    for op in OPERATIONS
    for fault in (
        TRANSIENT_WRITE_FAULTS if OPERATIONS[op].kind == "write" else TRANSIENT_READ_FAULTS
    )
    if mode == "sse-s3" or fault in KMS_FAULTS
]

#: (operation, fault id, action, extra selectors, error class, S3 error code or None).
#: Writes use faults that never let the write reach the upstream (or, for parts, never
#: let the upload complete), so the previous version must survive. Reads break bodies
#: before their first byte: a body that keeps making progress is resumed for as long
#: as it does by ``open``/``get`` (``read_retries`` counts failures in a row).
PERSISTENT = [
    ("put", "500", INTERNAL_ERROR, {}, StorageError, "InternalError"),
    ("put", "drop", Drop(), {}, StorageError, None),
    ("put-stream", "503-slowdown-part2", SLOW_DOWN, {}, StorageError, "SlowDown"),
    ("put-stream", "lost-response-part2", ResetResponse(), {}, StorageError, None),
    (
        "upload-file",
        "500-complete",
        INTERNAL_ERROR,
        {"method": "POST", "query": "uploadId"},
        StorageError,
        "InternalError",
    ),
    ("upload-file", "drop-part1", Drop(), {}, StorageError, None),
    ("get", "truncated-body", Truncate(after=0), {}, TransferError, None),
    ("get", "500", INTERNAL_ERROR, {}, StorageError, "InternalError"),
    ("open-ranges", "drop", Drop(), {}, StorageError, None),
    ("download", "truncated-body", Truncate(after=0), {}, TransferError, None),
    ("download", "500", INTERNAL_ERROR, {}, StorageError, "InternalError"),
]


KMS_PERSISTENT = {
    ("put", "500"),
    ("upload-file", "500-complete"),
    ("get", "truncated-body"),
    ("download", "500"),
}


@pytest.fixture
def mode(request: pytest.FixtureRequest, kms_key: str) -> EncryptionMode:
    """The mode named by the test's (indirect) ``mode`` parameter."""
    return MODES[request.param](kms_key)


@pytest.fixture(scope="module")
def read_objects(connection: Connection, kms_key: str) -> Callable[[str], tuple[str, bytes, bytes]]:
    """Per mode, a bucket holding a MEDIUM and a LARGE object that read scenarios share."""
    made: dict[str, tuple[str, bytes, bytes]] = {}

    def get(mode_name: str) -> tuple[str, bytes, bytes]:
        if mode_name not in made:
            name = unique_bucket_name("reads")
            create_bucket(connection, name)
            store = SecureStore(
                name, encryption=MODES[mode_name](kms_key), connection=connection, transfer=TRANSFER
            )
            medium, large = payload(MEDIUM, "medium"), payload(LARGE, "large")
            store.put("read/medium.bin", medium)
            store.put("read/large.bin", large)
            made[mode_name] = (name, medium, large)
        return made[mode_name]

    return get


ScenarioFactory = Callable[[Operation], Scenario]


@pytest.fixture
def make_scenario(
    request: pytest.FixtureRequest,
    tls_endpoint: Any,
    connection: Connection,
    mode: EncryptionMode,
    make_proxy: ProxyFactory,
    read_objects: Callable[[str], tuple[str, bytes, bytes]],
    tmp_path: Path,
) -> ScenarioFactory:
    """Set up ``op``: a fresh proxy, and the object it reads or the version it replaces."""

    def make(op: Operation) -> Scenario:
        proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
        through_proxy = dataclasses.replace(tls_endpoint, url=proxy.url).connection(
            max_attempts=3, read_timeout=READ_TIMEOUT, connect_timeout=2.0
        )
        if op.kind == "read":
            bucket, medium, large = read_objects(mode.name)
            key, stored = (
                ("read/medium.bin", medium) if op.size == MEDIUM else ("read/large.bin", large)
            )
        else:
            bucket, key, stored = (
                unique_bucket_name("writes"),
                "dir/object.bin",
                payload(SMALL, "v1"),
            )
            create_bucket(connection, bucket)
        folder = tmp_path / "files"
        folder.mkdir()
        scenario = Scenario(
            bucket=bucket,
            key=key,
            direct=SecureStore(bucket, encryption=mode, connection=connection, transfer=TRANSFER),
            proxied=SecureStore(
                bucket, encryption=mode, connection=through_proxy, transfer=TRANSFER
            ),
            proxy=proxy,
            folder=folder,
            mode=mode,
            stored=stored,
        )
        if op.kind == "write":
            scenario.direct.put(key, stored)
        return scenario

    return make


def _rule(s: Scenario, op: Operation, action: Action, times: int | None, **extra: Any) -> Rule:
    selectors = {**op.target, **extra}
    return s.proxy.add(Rule(action, path=s.object_path, times=times, **selectors))


@pytest.mark.parametrize(("mode", "op_name", "fault"), TRANSIENT, indirect=["mode"])
def test_transient_fault_is_retried(
    make_scenario: ScenarioFactory, op_name: str, fault: str, fault_ledger: FaultLedger
) -> None:
    op = OPERATIONS[op_name]
    s = make_scenario(op)
    if op.kind == "write":
        rule = _rule(s, op, TRANSIENT_WRITE_FAULTS[fault], times=1)
        v2 = payload(op.size, "v2")
        op.run(s, v2)
        assert s.direct.get(s.key) == v2
        assert s.direct.head(s.key).encryption.sse_name == s.mode.name
        assert s.open_uploads() == []
    else:
        rule = _rule(s, op, TRANSIENT_READ_FAULTS[fault], times=1)
        op.run(s, s.stored)
        assert sorted(p.name for p in s.folder.iterdir()) == (
            ["download.bin"] if op_name == "download" else []
        )
    assert rule.injected == 1, s.proxy.exchanges
    assert s.proxy.faults == 1
    fault_ledger.record("recovered", faults=s.proxy.faults, requests=len(s.proxy.exchanges))


@pytest.mark.parametrize(
    ("mode", "op_name", "action", "extra", "error", "code"),
    [
        pytest.param(mode, op, action, extra, error, code, id=f"{mode}-{op}-{fid}")
        for mode in MODES
        for op, fid, action, extra, error, code in PERSISTENT
        if mode == "sse-s3" or (op, fid) in KMS_PERSISTENT
    ],
    indirect=["mode"],
)
def test_persistent_fault_fails_cleanly(
    make_scenario: ScenarioFactory,
    op_name: str,
    action: Action,
    extra: dict[str, Any],
    error: type[StorageError],
    code: str | None,
    fault_ledger: FaultLedger,
) -> None:
    op = OPERATIONS[op_name]
    s = make_scenario(op)
    before = s.direct.head(s.key)
    destination = s.folder / "download.bin"
    destination.write_bytes(b"the previous content of the destination file")
    rule = _rule(s, op, action, times=None, **extra)

    with pytest.raises(StorageError) as raised:
        op.run(s, payload(op.size, "v2") if op.kind == "write" else s.stored)

    # The exact class: StorageError when a request failed after botocore's retries,
    # TransferError when the store's own resumption of a broken body gave up.
    assert type(raised.value) is error, repr(raised.value)
    assert raised.value.code == code
    assert raised.value.key == s.key
    assert rule.injected >= 2, "the operation gave up without retrying"
    s.proxy.clear()
    assert s.open_uploads() == []
    assert s.direct.head(s.key).etag == before.etag
    if op.kind == "write":
        assert s.direct.get(s.key) == s.stored
    assert destination.read_bytes() == b"the previous content of the destination file"
    assert sorted(p.name for p in s.folder.iterdir()) == ["download.bin"]
    fault_ledger.record("failed cleanly", faults=s.proxy.faults, requests=len(s.proxy.exchanges))


@pytest.mark.parametrize("mode", ["sse-s3"], indirect=True)
def test_failed_abort_is_reported_and_upload_stays_open(
    make_scenario: ScenarioFactory, fault_ledger: FaultLedger, caplog: pytest.LogCaptureFixture
) -> None:
    """When even the abort fails, the store says so (a lifecycle rule must clean up)."""
    s = make_scenario(OPERATIONS["put-stream"])
    s.proxy.add(Rule(INTERNAL_ERROR, method="PUT", query="partNumber=2", times=None))
    s.proxy.add(Rule(INTERNAL_ERROR, method="DELETE", query="uploadId", times=None))
    with caplog.at_level("WARNING", logger="securestore.bucket"), pytest.raises(StorageError):
        s.proxied.put(s.key, io.BytesIO(payload(LARGE, "v2")))
    assert "could not abort multipart upload" in caplog.text
    uploads = s.open_uploads()
    assert [u["Key"] for u in uploads] == [s.key]
    direct = s.direct.connection.client("s3")
    direct.abort_multipart_upload(Bucket=s.bucket, Key=s.key, UploadId=uploads[0]["UploadId"])
    assert s.direct.get(s.key) == s.stored
    fault_ledger.record("failed cleanly", faults=s.proxy.faults, requests=len(s.proxy.exchanges))


def _botocore_ssl_error(cause: ssl.SSLError) -> botocore.exceptions.SSLError:
    """The exception chain botocore raises when urllib3 hits ``cause`` on a request."""
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise urllib3.exceptions.SSLError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        return botocore.exceptions.SSLError(endpoint_url="https://127.0.0.1:9/b/k", error=exc)


def test_certificate_failure_is_a_transport_security_error() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get issuer")
    err = translate_error(_botocore_ssl_error(cause), bucket="b", key="k", action="put")
    assert isinstance(err, TransportSecurityError)


def test_tls_eof_mid_request_is_a_storage_error_not_a_certificate_error() -> None:
    cause = ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)")
    err = translate_error(_botocore_ssl_error(cause), bucket="b", key="k", action="put")
    assert not isinstance(err, TransportSecurityError), err
    assert isinstance(err, StorageError)


# -- the same proxy in front of rclone (a SigV4-checking server), client-side mode -----------

RCLONE_TRANSIENT = {
    "part2-500": Rule(INTERNAL_ERROR, method="PUT", query="partNumber=2"),
    "part1-reset-mid-request": Rule(
        ResetRequest(after=64 * 1024), method="PUT", query="partNumber=1"
    ),
    "part1-lost-response": Rule(ResetResponse(), method="PUT", query="partNumber=1"),
    "get-reset-mid-body": Rule(ResetResponse(after=64 * 1024), method="GET", header="Range"),
    "get-truncated-body": Rule(Truncate(after=1000), method="GET", header="Range"),
}


@pytest.mark.parametrize("fault", list(RCLONE_TRANSIENT))
def test_client_side_on_rclone_survives_transient_faults(
    rclone_endpoint: RcloneEndpoint,
    rclone_bucket: str,
    make_proxy: ProxyFactory,
    tmp_path: Path,
    fault: str,
    fault_ledger: FaultLedger,
) -> None:
    """Forcing ``Connection: close`` and answering ``Expect`` does not break SigV4 on rclone."""
    proxy = make_proxy(rclone_endpoint.url, rclone_endpoint.ca_bundle)
    mode = ClientSide(RawAesKeyring("securestore-tests", "faults", os.urandom(32)))
    store = SecureStore(
        rclone_bucket,
        encryption=mode,
        transfer=TRANSFER,
        connection=dataclasses.replace(rclone_endpoint, url=proxy.url).connection(
            max_attempts=3, read_timeout=READ_TIMEOUT, connect_timeout=2.0
        ),
    )
    data = payload(LARGE, "rclone")
    template = RCLONE_TRANSIENT[fault]
    rule = proxy.add(dataclasses.replace(template))
    store.put("cs/object", data)
    with store.open("cs/object") as reader:
        assert reader.read_range(5 * MiB - 100, 200) == data[5 * MiB - 100 : 5 * MiB + 100]
    store.download_file("cs/object", tmp_path / "object")
    assert (tmp_path / "object").read_bytes() == data
    assert store.get("cs/object") == data
    assert rule.injected == 1, proxy.exchanges
    fault_ledger.record("recovered", faults=proxy.faults, requests=len(proxy.exchanges))


def test_client_side_on_rclone_persistent_part_failure_keeps_previous_version(
    rclone_endpoint: RcloneEndpoint,
    rclone_bucket: str,
    make_proxy: ProxyFactory,
    fault_ledger: FaultLedger,
) -> None:
    proxy = make_proxy(rclone_endpoint.url, rclone_endpoint.ca_bundle)
    mode = ClientSide(RawAesKeyring("securestore-tests", "faults", os.urandom(32)))
    direct = SecureStore(
        rclone_bucket, encryption=mode, transfer=TRANSFER, connection=rclone_endpoint.connection()
    )
    proxied = SecureStore(
        rclone_bucket,
        encryption=mode,
        transfer=TRANSFER,
        connection=dataclasses.replace(rclone_endpoint, url=proxy.url).connection(
            max_attempts=3, read_timeout=READ_TIMEOUT, connect_timeout=2.0
        ),
    )
    v1 = payload(SMALL, "v1")
    direct.put("cs/object", v1)
    rule = proxy.add(Rule(SLOW_DOWN, method="PUT", query="partNumber=2", times=None))
    with pytest.raises(StorageError) as raised:
        proxied.put("cs/object", payload(LARGE, "v2"))
    assert type(raised.value) is StorageError
    assert raised.value.code == "SlowDown"
    assert rule.injected == 3
    proxy.clear()
    assert direct.get("cs/object") == v1
    s3 = direct.connection.client("s3")
    assert s3.list_multipart_uploads(Bucket=rclone_bucket).get("Uploads", []) == []
    fault_ledger.record("failed cleanly", faults=proxy.faults, requests=len(proxy.exchanges))

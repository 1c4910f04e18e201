"""Never hang: interrupts and terminating signals act at once, broken reads fail in bounded time.

The CLI runs in a child process whose requests go through a :class:`FaultProxy`
that stalls them, as a dead network would; the test sends it SIGINT, SIGTERM or
SIGHUP and measures how long it takes to exit, then checks what it left behind
(no open multipart upload, no partial file).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    ClientSide,
    Connection,
    RawAesKeyring,
    SecureStore,
    SseS3,
    TransferConfig,
    TransferError,
    create_bucket,
)
from securestore.bucket import BucketAccess
from securestore.copying import CopyLimits, copy_object
from securestore.migrate import migrate_to_client_side
from securestore.transfer import RetryBudget, check_cancelled, run_bounded
from tests.conftest import Endpoint, unique_bucket_name
from tests.reliability.conftest import MAX_STALL, ProxyFactory
from tests.s3ec import encoder
from tests.s3ec.objects import AES_KEY, aes_v3
from tests.support.endpoints import endpoint_connection
from tests.support.proxy import FaultProxy, Rule, Stall, Truncate
from tests.support.signals import signal_and_time, start_cli, wait_for

MiB = 1024 * 1024

#: How long a signalled CLI may take to exit. Its own bound is 2 s plus process overhead,
#: which a loaded machine stretches; the requests it must not wait for stall for
#: MAX_STALL, beyond their 60 s read timeout.
EXIT_WITHIN = 20.0


# -- run_bounded ------------------------------------------------------------------------------


def test_interrupt_does_not_wait_for_running_tasks(caplog: pytest.LogCaptureFixture) -> None:
    """Ctrl-C waited for every in-flight part (105-146 s on a stalled network)."""
    release = threading.Event()
    running = threading.Semaphore(0)
    after_release: list[str] = []

    def work(item: int) -> int:
        running.release()
        release.wait(60)
        try:
            check_cancelled()
        except TransferError:
            after_release.append("cancelled")
            raise
        after_release.append("wrote")
        return item

    def tasks() -> Iterator[int]:
        yield 1
        yield 2
        # Both are running now, however slowly the machine started them.
        assert running.acquire(timeout=60) and running.acquire(timeout=60)
        raise KeyboardInterrupt

    caplog.set_level(logging.ERROR)
    with pytest.raises(KeyboardInterrupt):
        run_bounded(tasks(), work, concurrency=4)
    # Not a wall-clock bound: both tasks are still blocked, so nothing waited for them.
    assert after_release == []
    release.set()
    deadline = time.monotonic() + 60
    while len(after_release) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The abandoned workers are told the batch was cancelled: they write nothing more.
    assert after_release == ["cancelled", "cancelled"]
    assert caplog.records == []


def test_interrupt_among_queued_tasks_logs_no_callback_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The done-callback called ``future.exception()`` on futures the interrupt cancelled."""
    caplog.set_level(logging.ERROR)
    for _ in range(30):

        def tasks() -> Iterator[int]:
            yield from range(40)
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run_bounded(tasks(), lambda item: item, concurrency=4)
    assert [record.getMessage() for record in caplog.records] == []


def test_task_failure_still_waits_and_raises_the_first_error() -> None:
    running = threading.Event()
    finished: list[int] = []

    def work(item: int) -> int:
        if item == 0:
            running.wait(5)
            time.sleep(0.2)
            finished.append(item)
            return item
        running.set()
        raise ValueError(f"task {item}")

    with pytest.raises(ValueError, match="task 1"):
        run_bounded(range(2), work, concurrency=2)
    assert finished == [0]  # an ordinary failure lets the running tasks end


def test_results_come_back_in_order() -> None:
    assert run_bounded(range(50), lambda item: item * 2, concurrency=3) == list(range(0, 100, 2))
    assert run_bounded([], lambda item: item, concurrency=3) == []


# -- RetryBudget --------------------------------------------------------------------------------


def test_retry_budget_counts_failures_without_enough_progress() -> None:
    budget = RetryBudget(3, min_progress=1000, deadline=60, clock=lambda: 0.0)
    for _ in range(3):
        budget.progressed(300)  # a few hundred bytes, then the connection breaks
        assert budget.failed() is None
    budget.progressed(300)
    reason = budget.failed()
    assert reason is not None and "less than 1000 bytes" in reason


def test_retry_budget_resets_after_real_progress() -> None:
    budget = RetryBudget(2, min_progress=1000, deadline=60, clock=lambda: 0.0)
    for _ in range(20):
        budget.progressed(5000)
        assert budget.failed() is None
        assert budget.failed() is None  # one strike, then another: still within 2


def test_retry_budget_deadline() -> None:
    now = [0.0]
    budget = RetryBudget(100, min_progress=1000, deadline=30, clock=lambda: now[0])
    assert budget.failed() is None
    now[0] = 31.0
    reason = budget.failed()
    assert reason is not None and "31 s" in reason


# -- reads whose every connection breaks -----------------------------------------------------


@pytest.fixture
def proxied(
    tls_endpoint: Endpoint, make_proxy: ProxyFactory, connection: Connection
) -> tuple[FaultProxy, SecureStore, SecureStore]:
    """A bucket, a direct store and a store that talks through a fault proxy."""
    bucket = unique_bucket_name("hang")
    create_bucket(connection, bucket)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    through = endpoint_connection(
        tls_endpoint.env, endpoint_url=proxy.url, max_attempts=2, read_timeout=5
    )
    transfer = TransferConfig(part_size=5 * MiB, concurrency=2)
    return (
        proxy,
        SecureStore(bucket, connection=connection, transfer=transfer),
        SecureStore(bucket, connection=through, transfer=transfer),
    )


def _read_all(reader: Any) -> None:
    while reader.read(64 * 1024):
        pass


def _gets(proxy: FaultProxy) -> int:
    return sum(1 for exchange in proxy.exchanges if exchange.method == "GET")


@pytest.mark.timeout(120)
def test_download_whose_connections_keep_breaking_fails_in_bounded_time(
    proxied: tuple[FaultProxy, SecureStore, SecureStore], tmp_path: Path
) -> None:
    """Measured before the fix: > 600 s and ~40,000 connections, never failing."""
    proxy, direct, store = proxied
    direct.put("obj", os.urandom(6 * MiB))
    proxy.add(Rule(Truncate(after=300), method="GET", header="Range", times=None))
    started = time.monotonic()
    with pytest.raises(TransferError, match="less than"):
        store.download_file("obj", tmp_path / "out")
    elapsed = time.monotonic() - started
    print(f"download with every connection broken after 300 B failed in {elapsed:.2f} s")
    assert elapsed < 30
    # Two ranges, each given up after read_retries + 1 attempts (plus the first probe GET).
    assert _gets(proxy) <= 2 * (store.transfer.read_retries + 1) + 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(120)
def test_reader_whose_connections_keep_breaking_fails_in_bounded_time(
    proxied: tuple[FaultProxy, SecureStore, SecureStore],
) -> None:
    proxy, direct, store = proxied
    direct.put("obj", os.urandom(2 * MiB))
    proxy.add(Rule(Truncate(after=300), method="GET", header="Range", times=None))
    started = time.monotonic()
    # open() itself reads the first bytes (to tell a message from a plain object), so
    # the bounded failure may come from open or from the reads after it.
    with pytest.raises(TransferError, match="less than"), store.open("obj") as reader:
        _read_all(reader)
    assert time.monotonic() - started < 30
    gets = _gets(proxy)
    assert gets <= store.transfer.read_retries + 3, gets


# -- the CLI under signals --------------------------------------------------------------------


def _open_uploads(connection: Connection, bucket: str) -> list[Any]:
    return list(connection.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []))


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("number", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["sigint", "sigterm", "sighup"],
)
def test_signal_during_stalled_put_exits_at_once_and_aborts_the_upload(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,
    connection: Connection,
    tmp_path: Path,
    number: int,
    code: int,
) -> None:
    bucket = unique_bucket_name("signal")
    create_bucket(connection, bucket)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(40 * MiB))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    # Every part stalls (received, never forwarded): a dead network under the upload.
    proxy.add(Rule(Stall(MAX_STALL), method="PUT", query="partNumber", times=None))
    proc = start_cli(tls_endpoint, proxy, "put", str(source), f"s3://{bucket}/big", cwd=tmp_path)
    wait_for(
        lambda: any(e.query.find("partNumber") >= 0 for e in proxy.exchanges),
        proc,
    )
    elapsed, returncode, err = signal_and_time(proc, number)
    print(f"put: exit {returncode} {elapsed:.2f} s after signal {number}")
    assert returncode == code, err
    assert elapsed < EXIT_WITHIN, err
    assert "Traceback" not in err
    assert err.strip().startswith("error: "), err
    # The abort could reach the server (only parts stall): no upload is left open.
    assert _open_uploads(connection, bucket) == []


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("number", "code"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
    ids=["sigterm", "sigint"],
)
def test_signal_during_stalled_get_exits_at_once_without_partial_file(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,
    connection: Connection,
    tmp_path: Path,
    number: int,
    code: int,
) -> None:
    bucket = unique_bucket_name("signal")
    create_bucket(connection, bucket)
    SecureStore(bucket, connection=connection).put("big", os.urandom(12 * MiB))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    # The first ranged GET (the object's description) passes; the ranges stall mid-body.
    proxy.add(Rule(Stall(MAX_STALL, after=1000), method="GET", header="Range", times=None, skip=1))
    folder = tmp_path / "out"
    folder.mkdir()
    proc = start_cli(
        tls_endpoint, proxy, "get", f"s3://{bucket}/big", str(folder / "big"), cwd=tmp_path
    )
    wait_for(lambda: any(folder.iterdir()) and proxy.faults > 0, proc)
    elapsed, returncode, err = signal_and_time(proc, number)
    print(f"get: exit {returncode} {elapsed:.2f} s after signal {number}")
    assert returncode == code, err
    assert elapsed < EXIT_WITHIN, err
    assert "Traceback" not in err
    assert list(folder.iterdir()) == []


@pytest.mark.timeout(60)
def test_put_of_a_fifo_without_writer_is_refused_at_once(
    tls_endpoint: Endpoint, make_proxy: ProxyFactory, connection: Connection, tmp_path: Path
) -> None:
    """``securestore put FIFO`` blocked forever in open() when nothing wrote to the FIFO."""
    bucket = unique_bucket_name("fifo")
    create_bucket(connection, bucket)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proc = start_cli(tls_endpoint, proxy, "put", str(fifo), f"s3://{bucket}/obj", cwd=tmp_path)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("put of a FIFO blocked")
    assert proc.returncode == 2, err
    assert "not a regular file" in err.decode()


def _signalled_put(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,
    connection: Connection,
    tmp_path: Path,
    stall: Rule,
    number: int,
) -> tuple[str, bytes, str]:
    """``put`` of 12 MiB (multipart) over an old object, signalled once ``stall`` bites.

    Checks the exit (128 + the signal, within bounds, no traceback); returns the
    bucket, the bytes put and the CLI's stderr.
    """
    bucket = unique_bucket_name("signal")
    create_bucket(connection, bucket)
    SecureStore(bucket, connection=connection).put("big", b"old")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * MiB))
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(stall)
    proc = start_cli(tls_endpoint, proxy, "put", str(source), f"s3://{bucket}/big", cwd=tmp_path)
    wait_for(lambda: proxy.faults > 0, proc)
    elapsed, returncode, err = signal_and_time(proc, number)
    assert returncode == 128 + number, err
    assert elapsed < EXIT_WITHIN, err
    assert "Traceback" not in err
    return bucket, source.read_bytes(), err


@pytest.mark.timeout(180)
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_while_the_complete_is_in_flight_says_the_object_was_replaced(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,
    connection: Connection,
    tmp_path: Path,
    number: int,
) -> None:
    """The server completed the upload, its answer stalls: the abort finds it gone.

    Exit 130/143 and a warning that the object was probably replaced, never
    "a lifecycle rule will have to remove it" (there is nothing left to remove).
    """
    # Forwarded (the server completes it), then the answer's body never comes.
    stall = Rule(Stall(MAX_STALL, after=0), method="POST", query="uploadId", times=None)
    bucket, data, err = _signalled_put(
        tls_endpoint, make_proxy, connection, tmp_path, stall, number
    )
    assert "completed by the server before it could be aborted" in err, err
    assert "lifecycle rule" not in err, err
    assert _open_uploads(connection, bucket) == []
    assert SecureStore(bucket, connection=connection).get("big") == data


@pytest.mark.timeout(180)
def test_signal_while_the_upload_is_being_created_says_where_to_look(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,
    connection: Connection,
    tmp_path: Path,
) -> None:
    """The server created the upload, its answer stalls: no UploadId, nothing to abort."""
    stall = Rule(Stall(MAX_STALL, after=0), method="POST", query="uploads", times=None)
    bucket, _, err = _signalled_put(
        tls_endpoint, make_proxy, connection, tmp_path, stall, signal.SIGINT
    )
    assert (
        f"warning: interrupted while the server created a multipart upload of s3://{bucket}/big"
        in err
    ), err
    assert f"securestore uploads ls s3://{bucket}/big" in err
    assert len(_open_uploads(connection, bucket)) == 1  # the one the warning points to
    assert SecureStore(bucket, connection=connection).get("big") == b"old"


@contextmanager
def _interrupt_once(proxy: FaultProxy) -> Iterator[None]:
    """Inside the block: SIGINT to the main thread once the proxy's stall bites.

    Never after the block: a late signal would land in another test.
    """
    done = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + 60
        while proxy.faults == 0 and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.02)
        if not done.wait(0.3):  # the request is now waiting for its stalled answer
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


@pytest.mark.timeout(120)
def test_interrupted_multipart_copy_whose_complete_went_through_says_so(
    proxied: tuple[FaultProxy, SecureStore, SecureStore],
    connection: Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """copy_in_parts: the server completed the copy, its answer stalls, Ctrl-C."""
    proxy, direct, through = proxied
    data = os.urandom(12 * MiB)
    direct.put("src", data)
    direct.put("dst", b"old")
    proxy.add(Rule(Stall(MAX_STALL, after=0), method="POST", query="uploadId", times=None))
    limits = CopyLimits(multipart_threshold=6 * MiB, part_size=5 * MiB)
    with caplog.at_level(logging.WARNING), _interrupt_once(proxy), pytest.raises(KeyboardInterrupt):
        copy_object(through._reads, through._writes, "src", "dst", mode=SseS3(), limits=limits)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("completed by the server before it could be aborted" in w for w in warned), warned
    assert not any("lifecycle rule" in w for w in warned), warned
    assert _open_uploads(connection, direct.bucket) == []
    assert direct.get("dst") == data


@pytest.mark.timeout(120)
def test_interrupted_multipart_rewrap_whose_complete_went_through_says_so(
    proxied: tuple[FaultProxy, SecureStore, SecureStore],
    connection: Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """rewrap_copy._Multipart: the re-wrapped object was completed, its answer stalls."""
    proxy, direct, proxied_store = proxied
    old, new = (RawAesKeyring("tests", name, name.encode() * 16) for name in ("ab", "cd"))
    writer = SecureStore(direct.bucket, connection=connection, encryption=ClientSide(old))
    data = os.urandom(12 * MiB)
    writer.put("obj", data)
    through = SecureStore(
        direct.bucket,
        connection=proxied_store.connection,
        encryption=ClientSide(old),
    )
    proxy.add(Rule(Stall(MAX_STALL, after=0), method="POST", query="uploadId", times=None))
    with caplog.at_level(logging.WARNING), _interrupt_once(proxy), pytest.raises(KeyboardInterrupt):
        through.rewrap("obj", add=[new])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("completed by the server before it could be aborted" in w for w in warned), warned
    assert not any("lifecycle rule" in w for w in warned), warned
    assert _open_uploads(connection, direct.bucket) == []
    reader = SecureStore(direct.bucket, connection=connection, encryption=ClientSide(new))
    assert reader.get("obj") == data  # the re-wrapped version is the one stored


@pytest.mark.timeout(120)
def test_interrupted_multipart_migration_whose_complete_went_through_says_so(
    proxied: tuple[FaultProxy, SecureStore, SecureStore],
    connection: Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """migrate._write: the rewritten message was completed, its answer stalls, Ctrl-C."""
    proxy, direct, through = proxied
    data = os.urandom(6 * MiB + 7)  # above the 5 MiB part size: a multipart rewrite
    body, metadata = aes_v3(data)
    encoder.put(connection.client("s3"), direct.bucket, "obj", body, metadata)
    target = ClientSide(RawAesKeyring("tests", "new", b"n" * 32))
    access = BucketAccess(direct.bucket, through.connection, through.transfer)
    proxy.add(Rule(Stall(MAX_STALL, after=0), method="POST", query="uploadId", times=None))
    with caplog.at_level(logging.WARNING), _interrupt_once(proxy), pytest.raises(KeyboardInterrupt):
        migrate_to_client_side(
            access, "", target=target, unwrap=RawAesKeyring("tests", "old", AES_KEY)
        )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("completed by the server before it could be aborted" in w for w in warned), warned
    assert not any("lifecycle rule" in w for w in warned), warned
    assert _open_uploads(connection, direct.bucket) == []
    reader = SecureStore(direct.bucket, connection=connection, encryption=target)
    assert reader.get("obj") == data  # the migrated message is the one stored

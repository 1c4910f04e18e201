"""Ctrl-C and SIGTERM in the middle of a tree: uploads aborted, partial files removed, 130/143."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from securestore_cli.text import printable

from securestore import Connection, SecureStore, create_bucket
from tests.conftest import Endpoint, unique_bucket_name
from tests.reliability.conftest import MAX_STALL, ProxyFactory, make_proxy  # noqa: F401 (a fixture)
from tests.support.proxy import ErrorResponse, FaultProxy, Rule, Stall
from tests.support.signals import signal_and_time, start_cli, wait_for
from tests.tree.conftest import make_tree, uploads

MiB = 1024 * 1024
#: How long a signalled CLI may take to exit: the drain (3 s) plus process overhead, which
#: a loaded machine stretches; the parts it must not wait for stall for MAX_STALL, beyond
#: their 60 s read timeout.
EXIT_WITHIN = 20.0


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
def test_signal_mid_tree_upload_aborts_every_multipart_upload(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,  # noqa: F811
    connection: Connection,
    tmp_path: Path,
    number: int,
    code: int,
) -> None:
    bucket = unique_bucket_name("tree-signal")
    create_bucket(connection, bucket)
    files = {f"small/{i:03}.txt": os.urandom(2000) for i in range(20)}
    files.update({"big1.bin": os.urandom(12 * MiB), "big2.bin": os.urandom(12 * MiB)})
    make_tree(tmp_path / "src", files)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(MAX_STALL), method="PUT", query="partNumber", times=None))
    proc = start_cli(
        tls_endpoint, proxy, "cp", str(tmp_path / "src"), f"s3://{bucket}/", "--recursive",
        cwd=tmp_path,
    )  # fmt: skip
    wait_for(lambda: any("partNumber" in e.query for e in proxy.exchanges), proc, timeout=60)
    elapsed, returncode, err = signal_and_time(proc, number)
    assert returncode == code, err
    assert elapsed < EXIT_WITHIN, err  # the drain (3 s), not the stalled parts
    assert "Traceback" not in err
    assert uploads(connection, bucket) == []
    # Whatever was written is whole.
    store = SecureStore(bucket, connection=connection)
    for summary in store.list():
        assert store.get(summary.key) == files[summary.key]


@pytest.mark.timeout(180)
def test_sigint_mid_tree_download_leaves_no_partial_file(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,  # noqa: F811
    connection: Connection,
    tmp_path: Path,
) -> None:
    bucket = unique_bucket_name("tree-signal")
    create_bucket(connection, bucket)
    store = SecureStore(bucket, connection=connection)
    for name in ("a.bin", "b.bin"):
        store.put(name, os.urandom(12 * MiB))
    (tmp_path / "down").mkdir()
    (tmp_path / "down" / "a.bin").write_bytes(b"keep me")
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(MAX_STALL), method="GET", header="Range", times=None))
    proc = start_cli(
        tls_endpoint, proxy, "sync", f"s3://{bucket}/", str(tmp_path / "down"), cwd=tmp_path
    )
    wait_for(lambda: any(e.method == "GET" and e.fault for e in proxy.exchanges), proc, timeout=60)
    elapsed, returncode, err = signal_and_time(proc, signal.SIGINT)
    assert returncode == 130, err
    assert elapsed < EXIT_WITHIN, err
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == ["a.bin"]
    assert (tmp_path / "down" / "a.bin").read_bytes() == b"keep me"


def _stuck(proxy: FaultProxy, big: int, small: int) -> bool:
    """``big`` multipart uploads send parts (the CLI knows their ids), ``small`` objects sent."""
    exchanges = proxy.exchanges
    ids = {parse_qs(e.query)["uploadId"][0] for e in exchanges if "partNumber" in e.query}
    puts = {e.path for e in exchanges if e.method == "PUT" and not e.query and not e.fault}
    return len(ids) == big and len(puts) == small


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("verb", "number", "code", "abort"),
    [
        ("cp", signal.SIGINT, 130, "stalled"),
        ("sync", signal.SIGTERM, 143, "stalled"),
        ("mv", signal.SIGINT, 130, "stalled"),
        ("cp", signal.SIGTERM, 143, "refused"),
    ],
)
def test_each_upload_an_interrupted_tree_leaves_is_named_once(
    tls_endpoint: Endpoint,
    make_proxy: ProxyFactory,  # noqa: F811
    connection: Connection,
    tmp_path: Path,
    verb: str,
    number: int,
    code: int,
    abort: str,
) -> None:
    # The aborts stall (as every other request from the signal on) or are refused: the
    # uploads stay, and the CLI must say which, once each, as a single put does.
    bucket = unique_bucket_name("tree-left")
    create_bucket(connection, bucket)
    big = ["big1.bin", "big2.bin", "odd\u202ename.bin"]  # a key the CLI must escape
    files = {name: os.urandom(12 * MiB) for name in big}
    files.update({f"small/{i:03}.txt": os.urandom(2000) for i in range(5)})
    make_tree(tmp_path / "src", files)
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(MAX_STALL), method="PUT", query="partNumber", times=None))
    args = [verb, str(tmp_path / "src"), f"s3://{bucket}/"]
    proc = start_cli(tls_endpoint, proxy, *args, *([] if verb == "sync" else ["--recursive"]),
                     cwd=tmp_path)  # fmt: skip
    # The small objects sent too: their probes (an upload created and aborted) are
    # then over before the aborts are made to fail.
    wait_for(lambda: _stuck(proxy, len(big), len(files) - len(big)), proc, timeout=60)
    if abort == "refused":
        denied = ErrorResponse(403, "AccessDenied", "Access Denied")
        proxy.add(Rule(denied, method="DELETE", query="uploadId", times=None))
    proxy.add(Rule(Stall(MAX_STALL), times=None))  # everything else, from now on
    elapsed, returncode, err = signal_and_time(proc, number)
    assert returncode == code, err
    assert elapsed < EXIT_WITHIN, err
    assert "Traceback" not in err
    left = {(u["Key"], u["UploadId"]) for u in uploads(connection, bucket)}
    assert {key for key, _ in left} == set(big)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    expected = (
        "warning: could not abort multipart upload {id} of s3://{bucket}/{key}; a lifecycle "
        "rule (AbortIncompleteMultipartUpload) will have to remove it"
        if abort == "refused"
        else "warning: multipart upload {id} of s3://{bucket}/{key} was not aborted within "
        "3 s; a lifecycle rule (AbortIncompleteMultipartUpload) will have to remove it"
    )
    assert sorted(warnings) == sorted(
        printable(expected.format(id=upload_id, bucket=bucket, key=key)) for key, upload_id in left
    ), err
    assert "\u202e" not in err
    s3 = connection.client("s3")
    for key, upload_id in left:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

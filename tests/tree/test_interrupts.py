"""Ctrl-C and SIGTERM in the middle of a tree: uploads aborted, partial files removed, 130/143."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from securestore import Connection, SecureStore, create_bucket
from tests.conftest import Endpoint, unique_bucket_name
from tests.reliability.conftest import MAX_STALL, ProxyFactory, make_proxy  # noqa: F401 (a fixture)
from tests.support.proxy import Rule, Stall
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

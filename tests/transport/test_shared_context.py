"""A connection pool's TLS context is shared by every thread that opens a connection.

urllib3 sets the ALPN list of the pool's context before each new connection. Doing
so while another thread's ``SSL_new`` copies that list is a use-after-free
(python/cpython#141012): under load the ClientHello carried freed bytes and the
test endpoint answered ``decode_error`` (the CI flake of stop 19). The pool's
context is therefore configured once and never rewritten while connecting.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import pytest

from securestore import create_bucket
from tests.conftest import Endpoint, unique_bucket_name
from tests.transport.tls_servers import PrivateCa, connect, server_context, serving

THREADS = 6


def test_connecting_threads_never_rewrite_the_pools_shared_context(
    tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    lock = threading.Lock()
    original = ssl.SSLContext._set_alpn_protocols  # type: ignore[attr-defined]

    def record(context: ssl.SSLContext, protocols: Any) -> None:
        with lock:
            calls.append(bytes(protocols))
        original(context, protocols)

    monkeypatch.setattr(ssl.SSLContext, "_set_alpn_protocols", record, raising=False)
    connection = tls_endpoint.connection(max_pool_connections=THREADS)
    s3 = connection.client("s3")
    calls.clear()  # setting the list when the pool's context is made is safe
    bucket = unique_bucket_name("alpn")
    create_bucket(connection, bucket)
    # Threads that start together each open a connection of their own.
    start = threading.Barrier(THREADS, timeout=60)
    errors: list[BaseException] = []

    def request(number: int) -> None:
        try:
            start.wait()
            s3.put_object(Bucket=bucket, Key=f"k{number}", Body=b"x")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == THREADS
    assert calls == []


def test_connections_still_offer_http_1_1_by_alpn(private_ca: PrivateCa) -> None:
    context = server_context(private_ca.issue("alpn", ("127.0.0.1",)))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with serving(context) as server:
        s3 = connect(server.url(), private_ca.cert_path).client("s3")
        for key in ("a", "b"):
            with pytest.raises(s3.exceptions.NoSuchKey):
                s3.get_object(Bucket="b", Key=key)
    assert server.alpn and set(server.alpn) == {"http/1.1"}

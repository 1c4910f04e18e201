"""One flipped bit in the TLS stream is a broken connection, never a certificate problem.

A :class:`CorruptingRelay` between the store and the TLS endpoint flips one bit
of the encrypted stream after the handshake; the receiver then fails the TLS
record's MAC check ("bad record mac"), or, when the peer gave up on the damaged
record first and closed the connection, sees an unexpected EOF (SSLEOFError) or
a connection closed before the answer: which one is a race, and all are the same
fault (in 60 runs: 52, 5 and 3). A
download must resume the range and deliver the right bytes; an upload that
cannot retry must report a storage (transport) error, not an untrusted
certificate, and store nothing.
"""

from __future__ import annotations

import http.client
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from securestore import (
    Connection,
    NotFoundError,
    SecureStore,
    StorageError,
    TransferConfig,
    TransportSecurityError,
    create_bucket,
)
from securestore.uploads import list_uploads
from tests.conftest import Endpoint, unique_bucket_name
from tests.support.endpoints import endpoint_connection
from tests.support.proxy import CorruptingRelay

MiB = 1024 * 1024
TRANSFER = TransferConfig(part_size=5 * MiB, concurrency=2)


def _through(endpoint: Endpoint, relay: CorruptingRelay, **kwargs: object) -> Connection:
    return endpoint_connection(endpoint.env, endpoint_url=relay.url, **kwargs)


def _chain(exc: BaseException | None) -> str:
    """The reprs of an exception and everything it was raised from."""
    seen = []
    while exc is not None:
        seen.append(repr(exc))
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(seen)


def _damaged_record(exc: BaseException | None) -> bool:
    """Whether the chain shows the flipped bit, in any of the ways it surfaces: the
    record's MAC failed ("bad record mac"), or the peer failed it first and closed,
    which OpenSSL reports as an unexpected EOF (SSLEOFError) or, once the whole
    request was sent, http.client as the connection closed before an answer."""
    while exc is not None:
        if isinstance(exc, ssl.SSLEOFError | http.client.RemoteDisconnected):
            return True
        if "bad record mac" in repr(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@pytest.fixture
def bucket_name(connection: Connection) -> str:
    name = unique_bucket_name("tls")
    create_bucket(connection, name)
    return name


@pytest.fixture
def relay(tls_endpoint: Endpoint, request: pytest.FixtureRequest) -> Iterator[CorruptingRelay]:
    direction: str = request.param
    with CorruptingRelay(tls_endpoint.url, direction=direction, offset=100 * 1024) as started:
        yield started


@pytest.mark.timeout(120)
@pytest.mark.parametrize("relay", ["download"], indirect=True)
def test_download_resumes_after_a_corrupted_tls_record(
    tls_endpoint: Endpoint,
    connection: Connection,
    bucket_name: str,
    relay: CorruptingRelay,
    tmp_path: Path,
) -> None:
    """urllib3's SSLError (bad record mac) mid-body was not retried: exit 5, internal error."""
    data = os.urandom(3 * MiB)
    SecureStore(bucket_name, connection=connection).put("obj", data)
    store = SecureStore(
        bucket_name, connection=_through(tls_endpoint, relay, max_attempts=1), transfer=TRANSFER
    )
    store.download_file("obj", tmp_path / "out")
    assert relay.corrupted == 1
    assert (tmp_path / "out").read_bytes() == data
    # The streaming reader resumes the same way.
    relay.times = 2  # one more flipped bit, on the reader's connection
    with store.open("obj") as reader:
        assert reader.read() == data
    assert relay.corrupted == 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("relay", ["upload"], indirect=True)
def test_upload_with_a_corrupted_tls_record_is_a_storage_error(
    tls_endpoint: Endpoint, connection: Connection, bucket_name: str, relay: CorruptingRelay
) -> None:
    """It was reported as an untrusted certificate (TransportSecurityError)."""
    store = SecureStore(
        bucket_name, connection=_through(tls_endpoint, relay, max_attempts=1), transfer=TRANSFER
    )
    with pytest.raises(StorageError) as raised:
        store.put("obj", os.urandom(300 * 1024))
    assert "the TLS connection broke mid-request" in str(raised.value)
    assert _damaged_record(raised.value), _chain(raised.value)
    assert not isinstance(raised.value, TransportSecurityError)
    assert "certificate" not in str(raised.value) + str(raised.value.hint)
    assert relay.corrupted == 1
    # Nothing stored, nothing partial left.
    with pytest.raises(NotFoundError):
        SecureStore(bucket_name, connection=connection).head("obj")
    assert list(list_uploads(connection, bucket_name)) == []
    # With retries (the default) the same fault is absorbed.
    retrying = SecureStore(bucket_name, connection=_through(tls_endpoint, relay), transfer=TRANSFER)
    relay.times = 2
    data = os.urandom(1 * MiB)
    retrying.put("obj", data)
    assert relay.corrupted == 2
    assert SecureStore(bucket_name, connection=connection).get("obj") == data

"""Certificate and protocol checks during the TLS handshake.

Every refusal must be a TransportSecurityError raised before any HTTP request
(and so any request body) reaches the server. Each hostile server has a
positive twin that the same client accepts, so a refusal cannot pass by
accident (for instance because the server is not running).
"""

from __future__ import annotations

import datetime
import ssl

import botocore.exceptions
import pytest

from securestore import (
    NotFoundError,
    SecureStore,
    StorageError,
    TransportSecurityError,
)
from tests.transport.tls_servers import (
    PrivateCa,
    can_handshake,
    connect,
    server_context,
    serving,
)

BODY = b"secret request body that must never leave the process"


def _assert_refused(store: SecureStore) -> None:
    with pytest.raises(TransportSecurityError) as info:
        store.head("some/key")
    assert isinstance(info.value.__cause__, botocore.exceptions.SSLError)
    assert info.value.bucket == store.bucket
    assert info.value.hint
    with pytest.raises(TransportSecurityError):
        store.put("some/key", BODY)
    with pytest.raises(TransportSecurityError):
        store.get("some/key")


def test_trusted_certificate_is_accepted(private_ca: PrivateCa) -> None:
    cert = private_ca.issue("good", ("127.0.0.1",))
    with serving(server_context(cert)) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        with pytest.raises(NotFoundError):
            store.head("some/key")
    # The store may probe the bucket after a 404 to tell a missing bucket from a missing key.
    assert server.requests[0].method == "HEAD"
    assert server.requests[0].path == "/bucket/some/key"
    assert server.handshake_errors == []
    assert server.tls_versions and all(v in ("TLSv1.2", "TLSv1.3") for v in server.tls_versions)


def test_certificate_from_untrusted_ca_is_refused(
    private_ca: PrivateCa, rogue_ca: PrivateCa
) -> None:
    cert = rogue_ca.issue("rogue", ("127.0.0.1", "localhost"))
    with serving(server_context(cert)) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        _assert_refused(store)
    assert server.requests == []
    assert server.connections >= 3
    assert len(server.handshake_errors) == server.connections


def test_private_ca_is_not_trusted_by_default(private_ca: PrivateCa) -> None:
    """Without a CA bundle the default trust store applies, which lacks the private CA."""
    cert = private_ca.issue("default-store", ("127.0.0.1",))
    with serving(server_context(cert)) as server:
        store = SecureStore("bucket", connection=connect(server.url(), None))
        _assert_refused(store)
    assert server.requests == []


def test_listing_buckets_through_the_raw_client_is_refused(
    private_ca: PrivateCa, rogue_ca: PrivateCa
) -> None:
    """A hardened client raises botocore's SSLError, which translates to the typed error."""
    from securestore.transport import translate_error

    cert = rogue_ca.issue("rogue-raw", ("127.0.0.1",))
    with serving(server_context(cert)) as server:
        client = connect(server.url(), private_ca.cert_path).client("s3")
        with pytest.raises(botocore.exceptions.SSLError) as info:
            client.list_buckets()
    assert isinstance(translate_error(info.value), TransportSecurityError)
    assert server.requests == []


@pytest.mark.parametrize(
    ("cert_hosts", "connect_host"),
    [
        (("localhost",), "127.0.0.1"),
        (("127.0.0.1",), "localhost"),
        (("storage.example.com",), "127.0.0.1"),
    ],
    ids=["dns-name-only", "ip-only", "other-name"],
)
def test_certificate_for_another_host_is_refused(
    private_ca: PrivateCa, cert_hosts: tuple[str, ...], connect_host: str
) -> None:
    cert = private_ca.issue(f"host-{cert_hosts[0]}", cert_hosts)
    with serving(server_context(cert)) as server:
        store = SecureStore(
            "bucket", connection=connect(server.url(connect_host), private_ca.cert_path)
        )
        _assert_refused(store)
    assert server.requests == []


def test_certificate_for_the_host_name_is_accepted(private_ca: PrivateCa) -> None:
    """The twin of the wrong-host case: the same CA, the name the client dials."""
    cert = private_ca.issue("host-localhost-ok", ("localhost",))
    with serving(server_context(cert)) as server:
        store = SecureStore(
            "bucket", connection=connect(server.url("localhost"), private_ca.cert_path)
        )
        with pytest.raises(NotFoundError):
            store.head("some/key")
    assert server.requests[0].path == "/bucket/some/key"


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        (datetime.timedelta(days=-30), datetime.timedelta(days=-1)),
        (datetime.timedelta(days=1), datetime.timedelta(days=30)),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_certificate_outside_its_validity_is_refused(
    private_ca: PrivateCa, not_before: datetime.timedelta, not_after: datetime.timedelta
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert = private_ca.issue(
        "validity", ("127.0.0.1",), not_before=now + not_before, not_after=now + not_after
    )
    with serving(server_context(cert)) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        _assert_refused(store)
    assert server.requests == []


def test_server_limited_to_tls_1_1_is_refused(private_ca: PrivateCa) -> None:
    """The client demands TLS >= 1.2 even when the server could speak 1.0/1.1.

    Whether the local OpenSSL can negotiate TLS 1.1 at all is checked by
    ``test_tls_1_1_server_answers_a_permissive_client``; the client must be refused
    either way.
    """
    cert = private_ca.issue("tls11", ("127.0.0.1",))
    context = server_context(cert, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    with serving(context) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        _assert_refused(store)
    assert server.requests == []
    assert server.tls_versions == []


def test_tls_1_1_server_answers_a_permissive_client(private_ca: PrivateCa) -> None:
    """Control for the test above: the TLS 1.1 server really does accept TLS 1.1.

    Skipped where the local OpenSSL cannot negotiate TLS 1.1 even at security
    level 0; the refusal above then stands on the server's limit alone.
    """
    cert = private_ca.issue("tls11-control", ("127.0.0.1",))
    context = server_context(cert, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    with serving(context) as server:
        version = can_handshake(
            server.port, private_ca.cert_path, "127.0.0.1", ssl.TLSVersion.TLSv1_1
        )
    if version is None:
        pytest.skip("the local OpenSSL cannot negotiate TLS 1.1 (refusal holds regardless)")
    assert version in ("TLSv1", "TLSv1.1")


def test_tls_1_2_only_server_is_accepted(private_ca: PrivateCa) -> None:
    cert = private_ca.issue("tls12", ("127.0.0.1",))
    context = server_context(cert, maximum=ssl.TLSVersion.TLSv1_2)
    with serving(context) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        with pytest.raises(NotFoundError):
            store.head("some/key")
    assert server.tls_versions == ["TLSv1.2"]


def test_plain_http_server_on_an_https_url_is_a_transport_error(private_ca: PrivateCa) -> None:
    """An https:// URL that reaches a plain-HTTP listener fails the handshake, typed."""
    with serving(None) as server:
        store = SecureStore(
            "bucket",
            connection=connect(f"https://127.0.0.1:{server.port}", private_ca.cert_path),
        )
        with pytest.raises((TransportSecurityError, StorageError)) as info:
            store.put("some/key", BODY)
    assert server.requests == []
    assert all(BODY not in r.body for r in server.requests)
    assert isinstance(info.value, TransportSecurityError)

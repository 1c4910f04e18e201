"""Nothing is ever sent over plain HTTP: not after a redirect, not after a
handler rewrote the request URL.

Each test runs a plain-HTTP listener where the request would go if it were
followed, and asserts that not even a TCP connection reached it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest

from securestore import (
    ClientSide,
    RawAesKeyring,
    SecureStore,
    SecureStoreError,
    TransportSecurityError,
)
from tests.transport.tls_servers import (
    PrivateCa,
    RecordedRequest,
    RecordingServer,
    Reply,
    connect,
    server_context,
    serving,
)

BODY = b"request body that must not travel in clear text"


@pytest.fixture
def plain() -> Iterator[RecordingServer]:
    """A plain-HTTP listener that should never see a connection."""
    with serving(None) as server:
        yield server


def _redirecting(status: int, target: str) -> Callable[[RecordedRequest], Reply]:
    def respond(request: RecordedRequest) -> Reply:
        return Reply(status, {"Location": f"{target}{request.path}"})

    return respond


def _permanent_redirect(plain: RecordingServer) -> Callable[[RecordedRequest], Reply]:
    body = (
        "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to "
        "access must be addressed using the specified endpoint.</Message>"
        f"<Endpoint>127.0.0.1:{plain.port}</Endpoint><Bucket>bucket</Bucket></Error>"
    ).encode()

    def respond(request: RecordedRequest) -> Reply:
        return Reply(
            301,
            {
                "Content-Type": "application/xml",
                "Location": f"{plain.url()}{request.path}",
                "x-amz-bucket-region": "eu-west-1",
            },
            body,
        )

    return respond


OPERATIONS: dict[str, Callable[[SecureStore], Any]] = {
    "head": lambda store: store.head("some/key"),
    "put": lambda store: store.put("some/key", BODY),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_a_typed_error_and_not_followed(
    private_ca: PrivateCa, plain: RecordingServer, status: int, operation: str
) -> None:
    """301/302/307 also wake botocore's S3 region redirector, which once recursed
    (HeadBucket redirected again) until RecursionError escaped the store."""
    cert = private_ca.issue("redirector-typed", ("127.0.0.1",))
    with serving(server_context(cert), _redirecting(status, plain.url())) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        with pytest.raises(SecureStoreError) as info:
            OPERATIONS[operation](store)
    assert info.value.__cause__ is not None
    # A handful of requests (the call, a retry, a bucket probe), not a storm.
    assert 1 <= len(server.requests) <= 6
    assert plain.connections == 0


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_permanent_redirect_to_plain_endpoint_is_not_followed(
    private_ca: PrivateCa, plain: RecordingServer, operation: str
) -> None:
    """S3's own redirect (PermanentRedirect + region) may be retried, but only over TLS."""
    cert = private_ca.issue("permanent-redirect", ("127.0.0.1",))
    with serving(server_context(cert), _permanent_redirect(plain)) as server:
        store = SecureStore("bucket", connection=connect(server.url(), private_ca.cert_path))
        with pytest.raises(SecureStoreError):
            OPERATIONS[operation](store)
    assert server.requests
    assert plain.connections == 0


def _rewrite_to(plain: RecordingServer) -> Callable[..., None]:
    def rewrite(request: Any, **_: Any) -> None:
        request.url = plain.url() + "/" + request.url.split("/", 3)[3]

    return rewrite


@pytest.mark.parametrize(
    "event",
    ["request-created.s3", "before-sign.s3.PutObject", "before-sign.s3", "before-send.s3"],
)
def test_request_rewritten_to_plain_http_is_refused(
    private_ca: PrivateCa, plain: RecordingServer, event: str
) -> None:
    cert = private_ca.issue("rewrite", ("127.0.0.1",))
    with serving(server_context(cert)) as server:
        connection = connect(server.url(), private_ca.cert_path)
        connection.client("s3").meta.events.register(event, _rewrite_to(plain))
        # Client-side without SSE: no server-side mode check precedes the PutObject.
        keyring = RawAesKeyring("tests", "redirects", bytes(32))
        store = SecureStore("bucket", connection=connection, encryption=ClientSide(keyring))
        with pytest.raises(TransportSecurityError):
            store.put("some/key", BODY)
    assert plain.connections == 0
    assert server.requests == []


def test_rewrite_after_the_guard_is_a_transport_security_error(
    private_ca: PrivateCa, plain: RecordingServer
) -> None:
    """A before-send handler that runs after securestore's own guard rewrites the URL
    (handlers for the more specific ``before-send.s3`` run before the guard and are
    covered above): the TLS-only HTTP session refuses it, typed, and not retried as a
    transient HTTPClientError."""
    cert = private_ca.issue("rewrite-late-typed", ("127.0.0.1",))
    rewrite = _rewrite_to(plain)
    attempts: list[str] = []

    def counting(request: Any, **kwargs: Any) -> None:
        attempts.append(request.url)
        rewrite(request, **kwargs)

    with serving(server_context(cert)) as server:
        connection = connect(server.url(), private_ca.cert_path, max_attempts=3)
        connection.client("s3").meta.events.register_last("before-send", counting)
        store = SecureStore("bucket", connection=connection)
        with pytest.raises(TransportSecurityError):
            store.put("some/key", BODY)
    assert len(attempts) == 1
    assert plain.connections == 0
    assert server.requests == []


def _plain_request(plain: RecordingServer) -> AWSPreparedRequest:
    return AWSPreparedRequest(
        method="PUT",
        url=f"{plain.url()}/bucket/key",
        headers={"Content-Length": str(len(BODY))},  # type: ignore[arg-type]
        body=BODY,
        stream_output=False,
    )


def test_http_session_refusal_is_a_transport_security_error(
    private_ca: PrivateCa, plain: RecordingServer
) -> None:
    connection = connect("https://127.0.0.1:9", private_ca.cert_path)
    session = connection.client("s3")._endpoint.http_session
    with pytest.raises(TransportSecurityError):
        session.send(_plain_request(plain))
    assert plain.connections == 0

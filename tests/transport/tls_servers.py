"""Tiny HTTPS and plain-HTTP servers on loopback that record what reaches them.

They stand in for misconfigured or hostile endpoints: a certificate from an
unknown CA, for the wrong host or expired, a server stuck at TLS 1.1, or one
that redirects to plain HTTP. Each server counts TCP connections, failed TLS
handshakes and complete HTTP requests, so a test can assert that nothing (or
no request) got through.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import socket
import socketserver
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from securestore import Connection
from securestore.local import ensure_certificates, issue_certificate

NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
    b"</Error>"
)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """What the server answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def not_found(_: RecordedRequest) -> Reply:
    """Answer like S3 for a missing key (proves that the handshake succeeded)."""
    return Reply(404, {"Content-Type": "application/xml"}, NO_SUCH_KEY)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
        reply = owner.respond(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer  # noqa: N815 - http.server names

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: RecordingServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        with owner.lock:
            owner.connections += 1
        request.settimeout(10)
        if owner.context is not None:
            try:
                request = owner.context.wrap_socket(request, server_side=True)
            except OSError as exc:
                with owner.lock:
                    owner.handshake_errors.append(exc)
                return
            with owner.lock:
                owner.tls_versions.append(request.version())
                owner.alpn.append(request.selected_alpn_protocol())
        try:
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
        finally:
            if owner.context is not None:
                request.close()


class RecordingServer:
    """An HTTP(S) server on 127.0.0.1 (port chosen by the OS) in a daemon thread.

    Args:
        context: a server TLS context, or ``None`` for plain HTTP.
        respond: builds the reply to each request (404 NoSuchKey by default).
    """

    def __init__(
        self,
        context: ssl.SSLContext | None,
        respond: Callable[[RecordedRequest], Reply] = not_found,
    ) -> None:
        self.context = context
        self.respond = respond
        self.lock = threading.Lock()
        self.connections = 0
        self.handshake_errors: list[BaseException] = []
        self.tls_versions: list[str | None] = []
        #: The protocol agreed by ALPN on each connection (``None``: none offered or chosen).
        self.alpn: list[str | None] = []
        self.requests: list[RecordedRequest] = []
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class PrivateCa:
    """A private CA that can issue server certificates on demand."""

    cert_path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    folder: Path

    @classmethod
    def create(cls, folder: Path) -> PrivateCa:
        certs = ensure_certificates(folder)
        key = serialization.load_pem_private_key(
            (folder / "ca-key.pem").read_bytes(), password=None
        )
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
        return cls(certs.ca_cert, cert, key, folder)

    def issue(
        self,
        name: str,
        hosts: tuple[str, ...],
        *,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> tuple[Path, Path]:
        """Issue a certificate for ``hosts``; returns (certificate, key) paths."""
        cert_path = self.folder / f"{name}.pem"
        key_path = self.folder / f"{name}-key.pem"
        issue_certificate(
            self.cert,
            self.key,
            hosts,
            cert_path,
            key_path,
            not_before=not_before,
            not_after=not_after,
        )
        return cert_path, key_path


def server_context(
    cert: tuple[Path, Path],
    *,
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> ssl.SSLContext:
    """A server context for ``cert`` speaking ``minimum`` .. ``maximum``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if maximum < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3 refuses TLS < 1.2 at the default security level.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.maximum_version = maximum
    context.load_cert_chain(*cert)
    return context


@functools.cache
def static_session() -> boto3.Session:
    """A boto3 session with dummy credentials (nothing read from the environment).

    Shared, so that botocore loads the service models once for all tests.
    """
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def connect(url: str, ca_bundle: Path | str | None, **kwargs: Any) -> Connection:
    """A TLS-only connection to ``url`` that makes a single attempt per request."""
    kwargs.setdefault("max_attempts", 1)
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("read_timeout", 5)
    return Connection(
        session=static_session(),
        endpoint_url=url,
        ca_bundle=ca_bundle,
        environ={},
        **kwargs,
    )


@contextmanager
def serving(
    context: ssl.SSLContext | None,
    respond: Callable[[RecordedRequest], Reply] = not_found,
) -> Iterator[RecordingServer]:
    """Run a :class:`RecordingServer` for the duration of the block."""
    with RecordingServer(context, respond) as server:
        yield server


def can_handshake(url_port: int, ca: Path, host: str, maximum: ssl.TLSVersion) -> str | None:
    """Try a permissive client handshake; return the negotiated version or ``None``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = maximum
    except (ValueError, ssl.SSLError):
        return None
    context.load_verify_locations(ca)
    try:
        with (
            socket.create_connection(("127.0.0.1", url_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.version()
    except (ssl.SSLError, OSError):
        return None

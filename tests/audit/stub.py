"""A tiny TLS stub in front of the test endpoint that rewrites chosen answers.

:class:`StubEndpoint` listens on 127.0.0.1 (port 0) with a certificate from the
test endpoint's CA, so clients keep full certificate verification. Each request
goes to ``answer(request)``: a :class:`Canned` answer is sent as it is; ``None``
forwards the request unchanged to the upstream and relays its answer. This is
how the audit tests produce answers no real server gives on demand (a 403
with an empty body, a DescribeKey without ``Arn``, a rejected signature).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from securestore.local import issue_certificate

__all__ = ["Canned", "StubEndpoint", "StubRequest"]


@dataclass(frozen=True)
class StubRequest:
    """One request as the stub saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        """The JSON protocol operation (``TrentService.DescribeKey``), or ``""``."""
        return self.headers.get("x-amz-target", "")


@dataclass(frozen=True)
class Canned:
    """An answer sent instead of forwarding."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[StubRequest], Canned | None]


def _certificate(ca_bundle: str, out_dir: Path) -> tuple[Path, Path]:
    ca_path = Path(ca_bundle)
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(
        (ca_path.parent / "ca-key.pem").read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    out_dir.mkdir(parents=True, exist_ok=True)
    cert, key = out_dir / "stub.pem", out_dir / "stub-key.pem"
    issue_certificate(ca_cert, ca_key, ("127.0.0.1", "localhost"), cert, key)
    return cert, key


class StubEndpoint:
    """A TLS stub on loopback; use as a context manager, read :attr:`url`."""

    def __init__(self, upstream: str, ca_bundle: str, workdir: Path, answer: Answer) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port
        self._upstream = (parts.hostname, parts.port)
        self._client_context = ssl.create_default_context(cafile=ca_bundle)
        cert, key = _certificate(ca_bundle, workdir)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.minimum_version = ssl.TLSVersion.TLSv1_2
        server_context.load_cert_chain(str(cert), str(key))
        self.requests: list[StubRequest] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = StubRequest(
                    method=self.command,
                    path=split.path,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with stub._lock:
                    stub.requests.append(request)
                canned = answer(request)
                if canned is None:
                    canned = stub._forward(self.command, self.path, dict(self.headers), body)
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(canned.body)
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = server_context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Canned:
        host, port = self._upstream
        conn = http.client.HTTPSConnection(host, port, context=self._client_context, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() != "connection"}
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return Canned(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    @property
    def url(self) -> str:
        """The stub's ``https://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    def __enter__(self) -> StubEndpoint:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

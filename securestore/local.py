"""An embedded AWS endpoint (moto: S3, KMS, STS, Organizations...) over TLS on loopback.

It exists for trying securestore and for integration tests: it speaks the real
S3 and KMS HTTP APIs over HTTPS with a certificate issued by a private CA that
is generated on first use and kept in a state folder. Data lives in memory and
is gone when the endpoint stops.

moto is an optional dependency (``pip install 'securestore[local]'``); it is
imported only when an endpoint starts. The certificates are made in
:mod:`securestore.local_certificates`; what the endpoint corrects in moto is in
:mod:`securestore.local_moto`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from securestore.errors import ConfigurationError, StorageError
from securestore.local_certificates import LocalCertificates, ensure_certificates, issue_certificate
from securestore.local_moto import (
    check_assumed_roles,
    honour_transport_conditions,
    list_uploads_in_s3_order,
    report_default_encryption_on_create,
    report_dsse_key_ids,
    report_upload_initiation,
)

__all__ = [
    "LocalCertificates",
    "LocalEndpoint",
    "default_state_dir",
    "ensure_certificates",
    "issue_certificate",
]

#: Dummy credentials the embedded endpoint accepts (moto accepts any).
LOCAL_ACCESS_KEY = "securestore-local"
LOCAL_SECRET_KEY = "securestore-local-secret"  # noqa: S105 - not a secret: a local test endpoint


_log = logging.getLogger("securestore.local")

#: How a client that went away looks from here: a reset, a closed pipe, a TLS stream cut short.
_DISCONNECTS = (ConnectionError, socket.timeout, ssl.SSLEOFError, ssl.SSLZeroReturnError)

#: How long a client may take to finish its TLS handshake, in seconds.
HANDSHAKE_TIMEOUT = 30.0


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/securestore/local`` (``~/.local/state/...`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "securestore" / "local"


#: The oldest moto with everything :meth:`LocalEndpoint.start` uses (``MotoRequestHandler``
#: first appears in 5.2.5); keep in step with the ``local`` extra in pyproject.toml.
MOTO_FLOOR = "5.2.5"


def _moto_parts(module: Any) -> tuple[Any, Any, Any]:
    """The three names the endpoint needs from moto, or an error naming the missing one."""
    names = ("DomainDispatcherApplication", "MotoRequestHandler", "create_backend_app")
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("moto")
        except PackageNotFoundError:
            installed = "unknown"
        raise ConfigurationError(
            f"the installed moto {installed} lacks moto.moto_server.werkzeug_app."
            f"{missing[0]}: the embedded endpoint needs moto {MOTO_FLOOR} or newer",
            hint=f"pip install 'moto[server]>={MOTO_FLOOR}'",
        )
    dispatcher, handler, create_app = (getattr(module, name) for name in names)
    return dispatcher, handler, create_app


def _check_port_free(host: str, port: int) -> None:
    """Refuse a busy port with a typed error (werkzeug would print and ``sys.exit(1)``)."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise StorageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="stop the program using that port, or choose another with --port",
        ) from exc
    finally:
        probe.close()


class _WatchedBody:
    """A request body that remembers a failed read: the client went away mid-request.

    werkzeug reports a cut chunked body (boto3's aws-chunked uploads) as an
    ``OSError`` ("Missing chunk terminating newline"), which moto lets escape.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.failed: OSError | None = None

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, name)(*args)
        except OSError as exc:
            self.failed = exc
            raise

    def read(self, *args: Any) -> Any:
        return self._call("read", *args)

    def readline(self, *args: Any) -> Any:
        return self._call("readline", *args)

    def readlines(self, *args: Any) -> Any:
        return self._call("readlines", *args)

    def readinto(self, *args: Any) -> Any:
        return self._call("readinto", *args)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_disconnects(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app``, whose failures caused by a client that went away read as dropped connections.

    werkzeug drops a ``ConnectionError`` quietly (see :func:`_quiet_handler`) but prints
    the traceback of anything else the application raises: an error raised after the
    request body could not be read is turned into ``ConnectionAbortedError``. Every
    other error still surfaces, traceback and all.
    """

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _WatchedBody(environ["wsgi.input"])
        environ["wsgi.input"] = body
        try:
            return app(environ, start_response)
        except Exception as exc:
            if body.failed is None:
                raise
            raise ConnectionAbortedError(f"the client went away: {body.failed}") from exc

    return serve


def _quiet_handler(base: Any) -> Any:
    """moto's request handler, saying a dropped connection in one debug line."""

    class Handler(base):  # type: ignore[misc]
        def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
            _log.debug("securestore local: a client went away mid-request (%s)", error)

    return Handler


def _handle_error(server: Any) -> Callable[[Any, Any], None]:
    """The server's ``handle_error``, quiet for disconnects it sees outside a request
    (a reply flushed to a closed socket), loud for everything else."""
    original = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, _DISCONNECTS):
            _log.debug("securestore local: %s went away (%s)", client_address, error)
            return
        original(request, client_address)

    return handle_error


def _handshake_per_connection(server: Any, context: ssl.SSLContext) -> None:
    """Serve TLS on ``server`` with each handshake in its connection's own thread.

    werkzeug wraps the listening socket, so every handshake runs inside ``accept``
    on the one thread that accepts: a client that connects and sends nothing
    stalls every other client, and handshakes of concurrent clients queue behind
    each other. Here the listening socket stays plain and each accepted
    connection is wrapped in the thread that serves it, with a bounded wait.
    """
    # werkzeug reads this for the URL scheme of the requests it serves.
    server.ssl_context = context
    serve = server.finish_request

    def finish_request(request: socket.socket, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            connection = context.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:
            # A plain-HTTP client, a scanner, a client that went away: nothing to answer.
            _log.debug("securestore local: TLS handshake with %s failed (%s)", client_address, exc)
            return
        try:
            connection.settimeout(None)
            serve(connection, client_address)
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_WR)
            connection.close()

    server.finish_request = finish_request


class LocalEndpoint:
    """moto's S3 and KMS served over HTTPS on loopback, in a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        host: the address to listen on (loopback only by design).
        port: the port; 0 picks a free one.
        state_dir: where the CA and server certificate are kept.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, state_dir: Path | None = None
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ConfigurationError("the embedded endpoint only listens on loopback addresses")
        self._host = host
        self._port = port
        self._state_dir = state_dir or default_state_dir()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.certificates: LocalCertificates | None = None

    def start(self) -> LocalEndpoint:
        """Start serving; returns ``self`` once the socket is listening."""
        try:
            from moto.moto_server import werkzeug_app
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise ConfigurationError(
                "the embedded endpoint needs moto",
                hint="pip install 'securestore[local]'",
            ) from exc
        dispatcher, request_handler, create_backend_app = _moto_parts(werkzeug_app)
        report_dsse_key_ids()
        check_assumed_roles()
        list_uploads_in_s3_order()
        report_upload_initiation()
        report_default_encryption_on_create()
        self.certificates = ensure_certificates(self._state_dir, hosts=(self._host, "localhost"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificates.server_cert, self.certificates.server_key)
        app = quiet_disconnects(honour_transport_conditions(dispatcher(create_backend_app)))
        # One line per request on stderr would drown the CLI's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self._port:
            _check_port_free(self._host, self._port)
        try:
            self._server = make_server(
                self._host,
                self._port,
                app,
                threaded=True,
                request_handler=_quiet_handler(request_handler),
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        _handshake_per_connection(self._server, context)
        self._server.handle_error = _handle_error(self._server)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="securestore-local", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint's ``https://`` URL."""
        if self._server is None:
            raise ConfigurationError("the endpoint is not running")
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def environment(self, *, region: str = "us-east-1") -> dict[str, str]:
        """The environment variables that point boto3 and securestore at this endpoint."""
        assert self.certificates is not None
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CA_BUNDLE": str(self.certificates.ca_cert),
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_REGION": region,
            # aws-cli v1 and boto3.Session().region_name read only this one.
            "AWS_DEFAULT_REGION": region,
        }

"""A fault-injecting TLS proxy for reliability tests.

:class:`FaultProxy` listens on loopback with a certificate from the test CA, so
clients keep full certificate verification (point a ``Connection`` at
:attr:`FaultProxy.url` with the CA as ``ca_bundle``). Each accepted connection
carries exactly one HTTP/1.1 request: the proxy forces ``Connection: close`` on
both sides, which makes every request a separate, countable exchange. For each
request it consults its :class:`Rule` list; the first rule that matches and
still has budget decides what happens instead of plain forwarding:

* :class:`ErrorResponse` - answer with an S3 XML error (500 InternalError,
  503 SlowDown, ...) without forwarding;
* :class:`ResetRequest` - receive ``after`` bytes of the request body, then
  reset the connection (nothing reaches the upstream);
* :class:`ResetResponse` - forward, then reset the connection before the
  response (``after=None``: the upstream did the work but the client never
  hears of it) or after the head and ``after`` bytes of the response body;
* :class:`Truncate` - forward, then close cleanly after the head and ``after``
  bytes of the response body;
* :class:`Drop` - receive the request, then close without answering;
* :class:`Stall` - hold the connection silent for ``seconds`` (bounded), either
  instead of forwarding (``after=None``) or mid-body after ``after`` bytes of the
  forwarded response, then close.

The proxy handles ``Expect: 100-continue`` itself (it answers ``100 Continue``
and strips the header upstream) and relays bodies framed by ``Content-Length``
or ``Transfer-Encoding: chunked``. One thread serves each connection and
reads and writes its two TLS sockets in turn, never concurrently. Every socket
has a timeout, stalls are capped, and the accept loop ends when the proxy is
stopped or its lifetime runs out.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "INTERNAL_ERROR",
    "SLOW_DOWN",
    "Action",
    "CorruptingRelay",
    "Drop",
    "ErrorResponse",
    "Exchange",
    "FaultProxy",
    "ResetRequest",
    "ResetResponse",
    "Rule",
    "Stall",
    "Truncate",
]

_MAX_HEAD = 64 * 1024
_CHUNK = 256 * 1024


# -- actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorResponse:
    """Answer with an S3-style XML error instead of forwarding."""

    status: int = 500
    code: str = "InternalError"
    message: str = "We encountered an internal error. Please try again."

    @property
    def name(self) -> str:
        return f"{self.status} {self.code}"


INTERNAL_ERROR = ErrorResponse(500, "InternalError")
SLOW_DOWN = ErrorResponse(503, "SlowDown", "Please reduce your request rate.")


@dataclass(frozen=True)
class ResetRequest:
    """Reset the connection after receiving ``after`` bytes of the request body."""

    after: int = 0

    @property
    def name(self) -> str:
        return f"reset request after {self.after} B"


@dataclass(frozen=True)
class ResetResponse:
    """Forward, then reset before the response (``None``) or ``after`` body bytes into it."""

    after: int | None = None

    @property
    def name(self) -> str:
        if self.after is None:
            return "lose response"
        return f"reset response after {self.after} B"


@dataclass(frozen=True)
class Truncate:
    """Forward, then close cleanly (no reset) after the head and ``after`` body bytes.

    Unlike a reset, exactly ``after`` bytes reach the client, which then sees the
    body end early.
    """

    after: int = 0

    @property
    def name(self) -> str:
        return f"truncate response after {self.after} B"


@dataclass(frozen=True)
class Drop:
    """Receive the whole request, then close without answering."""

    @property
    def name(self) -> str:
        return "drop"


@dataclass(frozen=True)
class Stall:
    """Stay silent for ``seconds``, then close.

    With ``after=None`` the request is received but never forwarded; with an
    integer the response is forwarded up to ``after`` body bytes first.
    """

    seconds: float
    after: int | None = None

    @property
    def name(self) -> str:
        where = "before response" if self.after is None else f"after {self.after} B"
        return f"stall {self.seconds:g}s {where}"


Action = ErrorResponse | ResetRequest | ResetResponse | Truncate | Drop | Stall


# -- requests and rules -------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass
class Rule:
    """Which requests get which fault.

    Args:
        action: what to do instead of forwarding normally.
        method: the HTTP method (``GET``, ``PUT``, ...), any if ``None``.
        path: a regular expression searched in the (decoded) URL path.
        query: a query parameter that must be present, as ``name`` or ``name=value``
            (e.g. ``partNumber=2``, ``uploadId``, ``uploads``).
        header: the name of a request header that must be present (e.g. ``Range``).
        times: how many matching requests get the fault; ``None``: every one (persistent).
        skip: matching requests to let through before the first fault.
    """

    action: Action
    method: str | None = None
    path: str | None = None
    query: str | None = None
    header: str | None = None
    times: int | None = 1
    skip: int = 0
    matched: int = field(default=0, init=False)
    injected: int = field(default=0, init=False)

    def matches(self, request: _Request) -> bool:
        if self.method is not None and request.method != self.method.upper():
            return False
        if self.path is not None and not re.search(self.path, request.path):
            return False
        if self.header is not None and request.header(self.header) is None:
            return False
        if self.query is not None:
            name, eq, value = self.query.partition("=")
            if not any(k == name and (not eq or v == value) for k, v in request.query):
                return False
        return True


@dataclass(frozen=True)
class Exchange:
    """One request seen by the proxy and the fault it got (``None``: forwarded)."""

    method: str
    path: str
    query: str
    fault: str | None


# -- byte plumbing ------------------------------------------------------------------------


class _PeerClosedError(Exception):
    """The peer closed the connection early."""


class _Stream:
    """Buffered reads from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(_CHUNK)
        if not data:
            return False
        self.buffer += data
        return True

    def read_head(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[: end + 4])
                del self.buffer[: end + 4]
                return head
            if len(self.buffer) > _MAX_HEAD:
                raise _PeerClosedError("head too large")
            if not self._fill():
                raise _PeerClosedError("closed before a complete head")

    def read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[: end + 2])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > _MAX_HEAD or not self._fill():
                raise _PeerClosedError("closed inside a chunked body")

    def read_some(self, limit: int) -> bytes:
        if not self.buffer and not self._fill():
            return b""
        piece = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return piece

    def read_exactly(self, length: int) -> Iterator[bytes]:
        while length > 0:
            piece = self.read_some(min(length, _CHUNK))
            if not piece:
                raise _PeerClosedError("closed inside a body")
            length -= len(piece)
            yield piece


def _parse_headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _build_head(start: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "expect"}


def _closing(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
    return [*kept, ("Connection", "close")]


def _request_body(stream: _Stream, headers: list[tuple[str, str]]) -> Iterator[bytes]:
    """The raw bytes of a request body, framing included."""
    lowered = {k.lower(): v for k, v in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        while True:
            line = stream.read_line()
            yield line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = stream.read_line()
                    yield trailer
                    if trailer == b"\r\n":
                        return
            yield from stream.read_exactly(size + 2)
    else:
        yield from stream.read_exactly(int(lowered.get("content-length", "0") or "0"))


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of an orderly shutdown."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _error_body(action: ErrorResponse, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{action.code}</Code><Message>{action.message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()


_REASONS = {500: "Internal Server Error", 503: "Service Unavailable", 400: "Bad Request"}


# -- the proxy ----------------------------------------------------------------------------


class FaultProxy:
    """A TLS-terminating, fault-injecting proxy in front of one upstream TLS endpoint.

    Args:
        upstream: the upstream's ``https://host:port`` URL.
        ca_bundle: the CA that signed the upstream's certificate (verified).
        cert, key: the proxy's own certificate (from the same CA) and key.
        host: the loopback address to listen on.
        io_timeout: timeout of every socket operation, in seconds.
        max_stall: upper bound of any :class:`Stall`, in seconds.
        lifetime: the proxy stops accepting connections after this many seconds.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        upstream: str,
        *,
        ca_bundle: str | Path,
        cert: str | Path,
        key: str | Path,
        host: str = "127.0.0.1",
        io_timeout: float = 30.0,
        max_stall: float = 10.0,
        lifetime: float = 600.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "https" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be https://host:port, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port)
        self._client_context = ssl.create_default_context(cafile=str(ca_bundle))
        self._client_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server_context.load_cert_chain(str(cert), str(key))
        self._host = host
        self._io_timeout = io_timeout
        self._max_stall = max_stall
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._log: list[Exchange] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._errors: list[str] = []

    # -- configuration and statistics ---------------------------------------------------

    def add(self, rule: Rule) -> Rule:
        """Add a rule (rules are tried in the order they were added)."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule: from now on requests are forwarded untouched."""
        with self._lock:
            self._rules.clear()

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request seen so far, in arrival order."""
        with self._lock:
            return list(self._log)

    @property
    def faults(self) -> int:
        """How many requests got a fault."""
        with self._lock:
            return sum(1 for exchange in self._log if exchange.fault is not None)

    @property
    def internal_errors(self) -> list[str]:
        """Unexpected errors inside the proxy (a test should expect none)."""
        with self._lock:
            return list(self._errors)

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the proxy is not running")
        host, port = self._listener.getsockname()[:2]
        return f"https://{host}:{port}"

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="fault-proxy-accept", daemon=True
        )
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, interrupt stalls, close every socket and join every thread."""
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        with self._lock:
            sockets = list(self._sockets)
            workers = list(self._workers)
        for sock in sockets:
            # The plain socket's shutdown: it wakes a blocked reader without
            # touching the TLS object another thread is using.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        deadline = time.monotonic() + self._lifetime
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            worker = threading.Thread(
                target=self._serve, args=(raw,), name="fault-proxy-conn", daemon=True
            )
            with self._lock:
                self._workers.add(worker)
            worker.start()
        self._listener.close()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _untrack(self, *socks: socket.socket | None) -> None:
        with self._lock:
            for sock in socks:
                if sock is not None:
                    self._sockets.discard(sock)

    # -- one connection, one request ----------------------------------------------------

    def _choose(self, request: _Request) -> Action | None:
        action: Action | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.times is None or rule.injected < rule.times:
                    rule.injected += 1
                    action = rule.action
                    break
            self._log.append(
                Exchange(
                    request.method,
                    request.path,
                    "&".join(f"{k}={v}" if v else k for k, v in request.query),
                    None if action is None else action.name,
                )
            )
        return action

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(self._io_timeout)
        client: socket.socket | None = None
        upstream: socket.socket | None = None
        self._track(raw)
        try:
            client = self._track(self._server_context.wrap_socket(raw, server_side=True))
            stream = _Stream(client)
            head = stream.read_head()
            start, headers = _parse_headers(head)
            method, target, _version = start.split(" ", 2)
            split = urlsplit(target)
            request = _Request(
                method.upper(),
                split.path,
                tuple(parse_qsl(split.query, keep_blank_values=True)),
                tuple(headers),
            )
            action = self._choose(request)
            expects = (request.header("Expect") or "").lower() == "100-continue"
            if isinstance(action, ErrorResponse):
                self._answer_error(client, stream, request, headers, action, expects)
                return
            if expects:
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if isinstance(action, ResetRequest):
                received = 0
                for piece in _request_body(stream, headers):
                    received += len(piece)
                    if received >= action.after:
                        break
                _reset(client)
                return
            if isinstance(action, Drop) or (isinstance(action, Stall) and action.after is None):
                for _ in _request_body(stream, headers):
                    pass
                if isinstance(action, Stall):
                    self._stopping.wait(min(action.seconds, self._max_stall))
                client.close()
                return
            upstream = self._track(self._connect_upstream())
            upstream.sendall(_build_head(start, _closing(headers)))
            for piece in _request_body(stream, headers):
                upstream.sendall(piece)
            self._relay_response(upstream, client, request, action)
        except (OSError, _PeerClosedError):
            # Clients give up on purpose (timeouts, aborted transfers): not an error.
            pass
        except Exception as exc:
            # Anything else is a proxy bug: keep it visible to the tests.
            with self._lock:
                self._errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self._untrack(raw, client, upstream)
            for sock in (upstream, client, raw):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _connect_upstream(self) -> socket.socket:
        raw = socket.create_connection(self._upstream, timeout=self._io_timeout)
        try:
            return self._client_context.wrap_socket(raw, server_hostname=self._upstream[0])
        except BaseException:
            raw.close()
            raise

    def _answer_error(
        self,
        client: socket.socket,
        stream: _Stream,
        request: _Request,
        headers: list[tuple[str, str]],
        action: ErrorResponse,
        expects: bool,
    ) -> None:
        if not expects:
            # Read the body first: closing with unread data would turn the answer into a reset.
            for _ in _request_body(stream, headers):
                pass
        request_id = f"faultproxy-{id(request):x}"
        body = b"" if request.method == "HEAD" else _error_body(action, request_id)
        head = _build_head(
            f"HTTP/1.1 {action.status} {_REASONS.get(action.status, 'Error')}",
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", request_id),
                ("Connection", "close"),
            ],
        )
        client.sendall(head + body)

    def _relay_response(
        self,
        upstream: socket.socket,
        client: socket.socket,
        request: _Request,
        action: Action | None,
    ) -> None:
        stream = _Stream(upstream)
        while True:
            head = stream.read_head()
            start, headers = _parse_headers(head)
            status = int(start.split(" ", 2)[1])
            if not 100 <= status < 200:
                break
        if isinstance(action, ResetResponse) and action.after is None:
            _reset(client)
            return
        client.sendall(_build_head(start, _closing(headers)))
        limit = action.after if isinstance(action, ResetResponse | Truncate | Stall) else None
        sent = 0
        while True:
            want = _CHUNK if limit is None else min(_CHUNK, limit - sent)
            piece = stream.read_some(want) if want > 0 else b""
            if piece:
                client.sendall(piece)
                sent += len(piece)
                continue
            if limit is not None and sent >= limit:
                if isinstance(action, ResetResponse):
                    _reset(client)
                elif isinstance(action, Truncate):
                    client.close()
                else:
                    assert isinstance(action, Stall)
                    self._stopping.wait(min(action.seconds, self._max_stall))
                    client.close()
            return


# -- corrupting the TLS stream itself ---------------------------------------------------------


class CorruptingRelay:
    """A plain TCP relay that flips one bit of the TLS stream, below the encryption.

    Unlike :class:`FaultProxy` it does not terminate TLS: the client handshakes
    with the upstream itself (so the certificate is the upstream's) and the relay
    flips the lowest bit of the byte at ``offset`` of one direction of the first
    ``times`` connections that carry that many bytes, as a faulty network card
    or middlebox would. The receiving end then fails the record's MAC check
    ("bad record mac"). ``offset`` must lie past the handshake (a few KiB).

    Args:
        upstream: the upstream's ``https://host:port`` URL.
        direction: ``"download"`` (upstream to client) or ``"upload"``.
        offset: the byte of that direction's stream to corrupt.
        times: how many connections get a flipped bit (may be raised later).
    """

    def __init__(
        self,
        upstream: str,
        *,
        direction: str = "download",
        offset: int = 64 * 1024,
        times: int = 1,
        host: str = "127.0.0.1",
        io_timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(upstream)
        if not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be https://host:port, not {upstream!r}")
        if direction not in ("download", "upload"):
            raise ValueError("direction must be 'download' or 'upload'")
        self._upstream = (parts.hostname, parts.port)
        self._direction = direction
        self._offset = offset
        self.times = times
        self._host = host
        self._io_timeout = io_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        #: How many bits were flipped so far.
        self.corrupted = 0
        #: How many connections were relayed.
        self.connections = 0

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the relay is not running")
        host, port = self._listener.getsockname()[:2]
        return f"https://{host}:{port}"

    def start(self) -> CorruptingRelay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self._host, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> CorruptingRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=self._io_timeout)
            except OSError:
                client.close()
                continue
            client.settimeout(self._io_timeout)
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            down = self._direction == "download"
            self._spawn(self._pump, upstream, client, down)
            self._spawn(self._pump, client, upstream, not down)

    def _claim(self) -> bool:
        with self._lock:
            if self.corrupted >= self.times:
                return False
            self.corrupted += 1
            return True

    def _pump(self, source: socket.socket, sink: socket.socket, corrupt: bool) -> None:
        seen = 0
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                if corrupt and seen <= self._offset < seen + len(data) and self._claim():
                    flipped = bytearray(data)
                    flipped[self._offset - seen] ^= 0x01
                    data = bytes(flipped)
                seen += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (sink, source):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

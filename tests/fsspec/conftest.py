"""Fixtures for the fsspec filesystem: storage options for the TLS test endpoint.

Credentials reach the filesystem through the environment, as they would for a
user; endpoint, CA bundle and region through the options under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pytest

from securestore import Connection
from securestore.fs import SecureStoreFileSystem
from securestore.keyrings import generate_aes_key_file
from tests.conftest import Endpoint
from tests.support.endpoints import endpoint_connection, endpoint_session

#: Small frames, so that a few-MiB Parquet file has column chunks spanning frames.
FRAME = 64 * 1024


@pytest.fixture(autouse=True)
def _credentials(tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.setenv(name, tls_endpoint.env[name])
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    # Filesystems are cached by their options; a test must never get another's.
    SecureStoreFileSystem.clear_instance_cache()
    yield
    SecureStoreFileSystem.clear_instance_cache()


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "fs.key"
    generate_aes_key_file(path)
    return str(path)


@pytest.fixture
def endpoint_options(tls_endpoint: Endpoint) -> dict[str, Any]:
    """Where to connect, as storage options."""
    return {"endpoint_url": tls_endpoint.url, "ca_bundle": tls_endpoint.ca_bundle}


@pytest.fixture
def cs_options(endpoint_options: dict[str, Any], key_file: str) -> dict[str, Any]:
    """A client-side filesystem: a raw AES key file, small frames."""
    return {**endpoint_options, "key_file": key_file, "frame_length": FRAME}


@pytest.fixture
def cs_fs(cs_options: dict[str, Any]) -> SecureStoreFileSystem:
    fs: SecureStoreFileSystem = fsspec.filesystem("securestore", **cs_options)
    return fs


@dataclass
class GetCounter:
    """Counts GetObject requests and the body bytes S3 answered with."""

    requests: int = 0
    bytes: int = 0
    ranges: list[str] = field(default_factory=list)

    def __call__(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.requests += 1
        self.bytes += int(parsed.get("ContentLength", 0))
        self.ranges.append(str(parsed.get("ContentRange")))

    def reset(self) -> None:
        self.requests, self.bytes, self.ranges = 0, 0, []


@pytest.fixture
def counted(tls_endpoint: Endpoint) -> Callable[[], tuple[Connection, GetCounter]]:
    """A connection whose S3 clients report every GetObject to a counter."""

    def make() -> tuple[Connection, GetCounter]:
        session = endpoint_session(tls_endpoint.env)
        counter = GetCounter()
        session.events.register("after-call.s3.GetObject", counter)
        connection = endpoint_connection(tls_endpoint.env, session=session, max_attempts=2)
        return connection, counter

    return make

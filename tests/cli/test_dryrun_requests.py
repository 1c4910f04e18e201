"""A tree dry run sends listing requests only: no GetBucketEncryption, no writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.transport import Connection as TransportConnection
from tests.support.cli import Run
from tests.support.s3calls import count_calls
from tests.tree.conftest import make_tree


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, connection: Connection) -> Callable[[], Counter[str]]:
    """The S3 operations the CLI's clients send (not the test's own connection's)."""
    counters: list[Counter[str]] = []
    original = TransportConnection.client

    def client(self: TransportConnection, service: str, region_name: str | None = None) -> Any:
        made = original(self, service, region_name)
        if service == "s3" and self is not connection and not getattr(made, "_counted", False):
            made._counted = True
            counters.append(count_calls(made))
        return made

    monkeypatch.setattr(TransportConnection, "client", client)
    return lambda: sum(counters, Counter[str]())


@pytest.mark.parametrize("command", [["cp", "-r"], ["sync"]], ids=["cp-r", "sync"])
def test_tree_dry_run_sends_listings_only(
    run: Run, sent: Callable[[], Counter[str]], bucket: str, tmp_path: Path, command: list[str]
) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"alpha", "d/b.txt": b"beta"})
    url = f"s3://{bucket}/t/"
    result = run(command[0], str(tmp_path / "src"), url, *command[1:], "--dryrun")
    assert result.exit_code == 0, result.output
    assert "(dryrun) upload:" in result.stdout
    assert set(sent()) <= {"ListObjectsV2"}, sent()
    # The same command for real reads the bucket's default encryption (what is skipped).
    assert run(command[0], str(tmp_path / "src"), url, *command[1:]).exit_code == 0
    assert sent()["GetBucketEncryption"] == 1, sent()

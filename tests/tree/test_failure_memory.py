"""A tree job's failures take bounded memory: errors without tracebacks, and past a bound
only a count (with the first of each error type)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from securestore import Connection, SecureStore, SseKms
from securestore.errors import PolicyError, SecureStoreError, StorageError
from securestore.tree import Failure, TreeOptions, TreeResult, results, sync
from tests.support.cli import Run


def test_failures_keep_no_traceback(
    connection: Connection, bucket: str, tmp_path: Path, kms_key: str
) -> None:
    """A traceback keeps the failed call's frames alive: a job of a million failures would
    hold them all."""
    for key in ("s/a", "s/b"):
        connection.client("s3").put_object(
            Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256"
        )
    store = SecureStore(bucket, connection=connection)
    result = sync((store, "s/"), tmp_path / "o", options=TreeOptions(require=SseKms(kms_key)))
    assert len(result.failed) == 2
    for failure in result.failed:
        error: BaseException | None = failure.error
        while error is not None:
            assert error.__traceback__ is None
            error = error.__cause__ or error.__context__


def _refusing_tree(connection: Connection, bucket: str, count: int) -> None:
    for i in range(count):
        connection.client("s3").put_object(
            Bucket=bucket, Key=f"s/{i:02}", Body=b"x", ServerSideEncryption="AES256"
        )


def test_past_the_bound_failures_are_counted_not_kept(
    connection: Connection, bucket: str, tmp_path: Path, kms_key: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(results, "KEPT_FAILURES", 3)
    _refusing_tree(connection, bucket, 10)
    store = SecureStore(bucket, connection=connection)
    told: list[str] = []
    result = sync(
        (store, "s/"),
        tmp_path / "o",
        options=TreeOptions(require=SseKms(kms_key)),
        on_event=lambda task, outcome, _e: told.append(outcome),
    )
    assert told.count("failed") == 10
    assert len(result.failed) == 3 and result.failures_dropped == 7
    assert result.failure_count == 10 and not result.ok
    assert all(f.reported for f in result.failed)


def _failure(error: SecureStoreError, *, reported: bool = True) -> Failure:
    return Failure("s3://b/k", "k", error, reported=reported)


def test_past_the_bound_the_first_of_each_type_and_every_unreported_one_stay(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(results, "KEPT_FAILURES", 2)
    result = TreeResult()
    for error in (PolicyError("a"), PolicyError("b"), PolicyError("c"), StorageError("d")):
        result.add_failure(_failure(error))
    result.add_failure(_failure(PolicyError("walk"), reported=False))
    result.add_failure(_failure(StorageError("e")))
    assert [str(f.error) for f in result.failed] == ["a", "b", "d", "walk"]
    assert result.failures_dropped == 2 and result.failure_count == 6
    merged = TreeResult()
    merged.merge(result)
    assert merged.failure_count == 6


def test_the_cli_counts_every_failure_and_prints_each_once(
    run: Run, connection: Connection, bucket: str, tmp_path: Path, kms_key: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(results, "KEPT_FAILURES", 3)
    _refusing_tree(connection, bucket, 10)
    result = run("sync", f"s3://{bucket}/s/", str(tmp_path / "o"), "--require", "kms")
    assert result.exit_code != 0
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 10 == len(set(failed))
    assert "10 of 10 transfers failed" in result.stderr

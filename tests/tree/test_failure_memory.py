"""A tree job's failures keep their errors without tracebacks (bounded memory per failure)."""

from __future__ import annotations

from pathlib import Path

from securestore import Connection, SecureStore, SseKms
from securestore.tree import TreeOptions, sync


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

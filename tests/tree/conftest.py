"""Fixtures of the tree tests: a CLI-made key file, trees on disk, upload listings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from securestore import Connection
from tests.support.cli import Run, aes_key_file


@pytest.fixture
def key_file(tmp_path: Path, run: Run) -> Path:
    """An AES key file made by the CLI's ``keygen``."""
    return aes_key_file(run, tmp_path)


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def object_keys(connection: Connection, bucket: str) -> list[str]:
    s3 = connection.client("s3")
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def uploads(connection: Connection, bucket: str) -> list[Any]:
    """Incomplete multipart uploads: a failed or interrupted transfer must leave none."""
    response = connection.client("s3").list_multipart_uploads(Bucket=bucket)
    return list(response.get("Uploads", []))


def lines(result: Result, stream: str = "stdout") -> list[str]:
    return [line for line in getattr(result, stream).splitlines() if line]

"""Fixtures of the tree tests: the CLI through click's runner, trees on disk, upload listings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from securestore import Connection
from tests.conftest import Endpoint


@pytest.fixture
def run(tls_endpoint: Endpoint) -> Callable[..., Result]:
    env = dict(tls_endpoint.env)

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(main_group, list(args), env=env, input=input)

    return invoke


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

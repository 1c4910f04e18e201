"""Mistakes in the environment get a documented exit code and one error line, never
"internal error" or a traceback: bad regions, ports and endpoint paths, unusable CA
bundles, closed stdin/stdout, a reader that goes away, a listing of a missing bucket."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Endpoint
from tests.support.cli import cli_runner

DATA = os.urandom(3 * 1024 * 1024)


def cli(tls_endpoint: Endpoint, *args: str, extra_env: dict[str, str] | None = None) -> object:
    return cli_runner(tls_endpoint, **(extra_env or {}))(*args)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_REGION": "x y"}, "invalid AWS region"),
        ({"AWS_ENDPOINT_URL": "https://127.0.0.1:abc"}, "invalid port"),
        ({"AWS_ENDPOINT_URL": "https://127.0.0.1:99999"}, "invalid port"),
        ({"AWS_ENDPOINT_URL": "https://127.0.0.1:4566/prefix"}, "path, query or fragment"),
    ],
)
def test_bad_settings_are_usage_errors(
    tls_endpoint: Endpoint, env: dict[str, str], message: str
) -> None:
    result = cli(tls_endpoint, "ls", extra_env=env)
    assert result.exit_code == 2, result.stderr  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert stderr.startswith("error: ") and message in stderr
    assert "internal error" not in stderr


@pytest.mark.parametrize("content", [b"", b"not a certificate\n"])
def test_an_empty_or_garbage_ca_bundle_is_not_a_pem_bundle(
    tls_endpoint: Endpoint, tmp_path: Path, content: bytes
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(content)
    for args, env in (
        (["--ca-bundle", str(bundle), "ls"], {}),
        (["ls"], {"AWS_CA_BUNDLE": str(bundle)}),
    ):
        result = cli(tls_endpoint, *args, extra_env=env)
        assert result.exit_code == 2, result.stderr  # type: ignore[attr-defined]
        assert "is not a PEM bundle" in result.stderr  # type: ignore[attr-defined]


def test_ls_json_of_a_missing_bucket_prints_nothing(tls_endpoint: Endpoint) -> None:
    result = cli(tls_endpoint, "ls", "s3://no-such-bucket-edges-0001/", "--json")
    assert result.exit_code == 4  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]


def test_ls_json_of_an_empty_prefix_is_an_empty_array(tls_endpoint: Endpoint, bucket: str) -> None:
    import json

    result = cli(tls_endpoint, "ls", f"s3://{bucket}/nothing-here/", "--json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert json.loads(result.stdout) == []  # type: ignore[attr-defined]


def shell(tls_endpoint: Endpoint, command: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` with ``securestore`` meaning this checkout's CLI."""
    cli_cmd = f"{sys.executable} -m securestore_cli"
    return subprocess.run(
        ["bash", "-c", "set -o pipefail; " + command.replace("securestore", cli_cmd, 1)],
        cwd=ROOT,
        env={**os.environ, **tls_endpoint.env},
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def url(tls_endpoint: Endpoint, bucket: str, tmp_path: Path) -> str:
    src = tmp_path / "src"
    src.write_bytes(DATA)
    assert cli(tls_endpoint, "put", str(src), f"s3://{bucket}/obj").exit_code == 0  # type: ignore[attr-defined]
    return f"s3://{bucket}/obj"


def test_put_with_stdin_closed_is_a_usage_error(tls_endpoint: Endpoint, url: str) -> None:
    done = shell(tls_endpoint, f"securestore put - {url}-copy <&-")
    assert done.returncode == 2, done.stderr
    assert b"error: standard input is closed" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["get {url} -", "get {url}", "ls {url}", "head {url}"])
def test_output_with_stdout_closed_is_a_usage_error(
    tls_endpoint: Endpoint, url: str, command: str
) -> None:
    done = shell(tls_endpoint, "securestore " + command.format(url=url) + " >&-")
    assert done.returncode == 2, done.stderr
    assert b"error: standard output is closed" in done.stderr
    assert b"Traceback" not in done.stderr


def test_a_reader_that_goes_away_ends_get_quietly(tls_endpoint: Endpoint, url: str) -> None:
    # `| head -c 10` closes the pipe after 10 bytes: like cat, get stops without a message.
    done = shell(tls_endpoint, f"securestore get {url} - | head -c 10 | wc -c")
    assert done.stdout.strip() == b"10"
    assert done.stderr == b"", done.stderr
    assert done.returncode == 0  # pipefail: get's own status (click alone would exit 1)

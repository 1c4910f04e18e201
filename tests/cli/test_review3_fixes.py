"""Regression tests for the third review's findings (a new user and a reliability engineer)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from tests.conftest import Endpoint

Run = Callable[..., Result]


@pytest.fixture
def run(tls_endpoint: Endpoint) -> Run:
    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(main_group, list(args), env=dict(tls_endpoint.env), input=input)

    return invoke


@pytest.fixture
def aes_key(run: Run, tmp_path: Path) -> Path:
    key = tmp_path / "team.key"
    assert run("keygen", "--aes", str(key)).exit_code == 0
    return key


def lines(result: Result, kind: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(f"{kind}:")]


def test_encrypt_stdin_empty_never_replaces_an_existing_file(
    run: Run, aes_key: Path, tmp_path: Path
) -> None:
    out = tmp_path / "e.enc"
    first = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"payload")
    assert first.exit_code == 0, first.stderr
    before = out.read_bytes()
    empty = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"")
    assert empty.exit_code == 2, empty.stderr
    assert "standard input was empty" in lines(empty, "error")[0]
    assert "--allow-empty" in lines(empty, "hint")[0]
    assert out.read_bytes() == before
    # A non-empty stream still replaces it, its first byte included.
    again = run("encrypt", "-", "-o", str(out), "--key-file", str(aes_key), input=b"xyz")
    assert again.exit_code == 0, again.stderr
    back = run("decrypt", str(out), "-o", "-", "--key-file", str(aes_key))
    assert back.stdout_bytes == b"xyz"
    # The opt-in, and a new file, take an empty stream.
    allowed = run(
        "encrypt", "-", "-o", str(out), "--key-file", str(aes_key), "--allow-empty", input=b""
    )
    assert allowed.exit_code == 0, allowed.stderr
    fresh = tmp_path / "new.enc"
    new = run("encrypt", "-", "-o", str(fresh), "--key-file", str(aes_key), input=b"")
    assert new.exit_code == 0, new.stderr
    back = run("decrypt", str(fresh), "-o", "-", "--key-file", str(aes_key))
    assert back.exit_code == 0 and back.stdout_bytes == b""
    assert os.path.getsize(out) > 0


def _limited_file_size() -> None:  # in the child, before exec: `ulimit -f 64`
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
    )


def test_a_file_size_limit_is_not_called_a_full_disk(
    run: Run, tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/big.bin"
    assert run("put", "-", url, input=os.urandom(300_000)).exit_code == 0
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"old")
    done = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "get", url, str(dest)],
        env={**os.environ, **tls_endpoint.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        preexec_fn=_limited_file_size,
        timeout=300,
        check=False,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    hint = next(line for line in stderr.splitlines() if line.startswith("hint:"))
    assert "ulimit -f" in hint
    assert "free space" not in hint
    assert dest.read_bytes() == b"old"

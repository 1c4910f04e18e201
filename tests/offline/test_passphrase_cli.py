"""Passphrase-protected RSA keys from the CLI: keygen, --rsa-passphrase-file, the prompt.

``--rsa-passphrase-file`` belongs to the shared reading key options, so ``get`` (against
the TLS endpoint) takes it as ``decrypt`` does. A wrong or missing passphrase is a key
error: exit 4 with one ``error:`` line.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from securestore_cli.main import main_group

from tests.conftest import Endpoint

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run() -> Run:
    def invoke(*args: str, env: dict[str, str] | None = None, input: bytes | None = None) -> Result:
        return CliRunner().invoke(main_group, list(args), env=env or {}, input=input)

    return invoke


def secret(path: Path, text: bytes) -> Path:
    path.write_bytes(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def keys(run: Run, tmp_path: Path) -> dict[str, Path]:
    good = secret(tmp_path / "pass", b"correct horse\n")
    made = run("keygen", "--rsa", str(tmp_path / "backup"), "--passphrase-file", str(good))
    assert made.exit_code == 0, made.stderr
    assert "passphrase-protected" in made.stderr
    message = tmp_path / "ct"
    (tmp_path / "in").write_bytes(b"plaintext " * 1000)
    enc = run("encrypt", str(tmp_path / "in"), "-o", str(message),
              "--rsa-public-key", str(tmp_path / "backup.pub.pem"))  # fmt: skip
    assert enc.exit_code == 0, enc.stderr
    return {
        "pem": tmp_path / "backup.pem",
        "pub": tmp_path / "backup.pub.pem",
        "pass": good,
        "wrong": secret(tmp_path / "wrong", b"battery staple\n"),
        "ct": message,
    }


def error_line(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


def test_keygen_writes_an_encrypted_pkcs8_key(keys: dict[str, Path]) -> None:
    assert keys["pem"].read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert keys["pem"].stat().st_mode & 0o777 == 0o600


def test_decrypt_with_the_passphrase_file(run: Run, keys: dict[str, Path], tmp_path: Path) -> None:
    out = run("decrypt", str(keys["ct"]), "-o", "-", "--rsa-private-key", str(keys["pem"]),
              "--rsa-passphrase-file", str(keys["pass"]))  # fmt: skip
    assert out.exit_code == 0, out.stderr
    assert out.stdout_bytes == b"plaintext " * 1000


def test_the_environment_variable_names_the_file(run: Run, keys: dict[str, Path]) -> None:
    out = run("decrypt", str(keys["ct"]), "-o", "-", "--rsa-private-key", str(keys["pem"]),
              env={"SECURESTORE_RSA_PASSPHRASE_FILE": str(keys["pass"])})  # fmt: skip
    assert out.exit_code == 0, out.stderr


def test_wrong_passphrase_exit_4(run: Run, keys: dict[str, Path], tmp_path: Path) -> None:
    out = run("decrypt", str(keys["ct"]), "-o", str(tmp_path / "o"), "--rsa-private-key",
              str(keys["pem"]), "--rsa-passphrase-file", str(keys["wrong"]))  # fmt: skip
    assert out.exit_code == 4
    assert (
        error_line(out) == f"error: cannot unlock RSA private key {keys['pem']}: wrong passphrase"
    )
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists()


def test_no_passphrase_and_no_terminal_exit_4(run: Run, keys: dict[str, Path]) -> None:
    out = run("decrypt", str(keys["ct"]), "-o", "-", "--rsa-private-key", str(keys["pem"]))
    assert out.exit_code == 4
    assert "is encrypted and no passphrase was given" in error_line(out)
    assert "--rsa-passphrase-file" in out.stderr  # the hint
    assert out.stdout_bytes == b""


def test_a_passphrase_file_others_may_read_is_refused(run: Run, keys: dict[str, Path]) -> None:
    keys["pass"].chmod(0o644)
    out = run("decrypt", str(keys["ct"]), "-o", "-", "--rsa-private-key", str(keys["pem"]),
              "--rsa-passphrase-file", str(keys["pass"]))  # fmt: skip
    assert out.exit_code == 2
    assert "accessible by group or others" in error_line(out)


def test_keygen_public_from(run: Run, keys: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.pem"
    copy.write_bytes(keys["pem"].read_bytes())
    copy.chmod(0o600)
    made = run("keygen", "--public-from", str(copy), "--passphrase-file", str(keys["pass"]))
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / "copy.pub.pem").read_bytes() == keys["pub"].read_bytes()
    again = run("keygen", "--public-from", str(copy), "--passphrase-file", str(keys["pass"]))
    assert again.exit_code == 2
    assert "already exists" in error_line(again)
    wrong = run("keygen", "--public-from", str(copy), "-o", str(tmp_path / "x.pem"),
                "--passphrase-file", str(keys["wrong"]))  # fmt: skip
    assert wrong.exit_code == 4
    assert not (tmp_path / "x.pem").exists()


def test_keygen_public_from_to_stdout(
    run: Run, keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o -`` is standard output, as for encrypt and decrypt, not a file named ``-``."""
    monkeypatch.chdir(tmp_path)
    made = run("keygen", "--public-from", str(keys["pem"]), "--passphrase-file",
               str(keys["pass"]), "-o", "-")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert made.stdout_bytes == keys["pub"].read_bytes()
    assert not (tmp_path / "-").exists()


def test_get_takes_the_passphrase_file(
    run: Run, keys: dict[str, Path], tls_endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    env = dict(tls_endpoint.env)
    url = f"s3://{bucket}/backup"
    put = run("put", "-", url, "--rsa-public-key", str(keys["pub"]), env=env, input=b"x" * 5000)
    assert put.exit_code == 0, put.stderr
    got = run("get", url, str(tmp_path / "o"), "--rsa-private-key", str(keys["pem"]),
              "--rsa-passphrase-file", str(keys["pass"]), env=env)  # fmt: skip
    assert got.exit_code == 0, got.stderr
    assert (tmp_path / "o").read_bytes() == b"x" * 5000
    bad = run("get", url, str(tmp_path / "p"), "--rsa-private-key", str(keys["pem"]),
              "--rsa-passphrase-file", str(keys["wrong"]), env=env)  # fmt: skip
    assert bad.exit_code == 4
    assert "wrong passphrase" in error_line(bad)


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen


def test_a_terminal_is_asked(keys: dict[str, Path], tmp_path: Path) -> None:
    """On a real terminal (a pty), decrypt prompts without echo and uses the answer."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its stdin, stdout, stderr and controlling tty
        try:
            os.chdir(ROOT)
            os.execv(  # noqa: S606 (a fixed argv, no shell)
                sys.executable,
                [sys.executable, "-m", "securestore_cli", "decrypt", str(keys["ct"]), "-o",
                 str(tmp_path / "o"), "--rsa-private-key", str(keys["pem"])],
            )  # fmt: skip
        finally:
            os._exit(127)
    try:
        prompt = _read_until(fd, b"Passphrase for")
        assert b"Passphrase for" in prompt, prompt
        os.write(fd, b"correct horse\n")
        rest = _read_until(fd, b"decrypt:")
        assert b"correct horse" not in prompt + rest  # not echoed
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, rest
    assert (tmp_path / "o").read_bytes() == b"plaintext " * 1000


def test_subprocess_without_terminal_is_never_asked(keys: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "decrypt", str(keys["ct"]), "-o", "-",
         "--rsa-private-key", str(keys["pem"])],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 4
    assert b"Passphrase" not in proc.stderr

"""`securestore encrypt`/`decrypt` against the real ``aws-encryption-cli``, both directions.

Offline: raw AES keys (the CLI gets them through tests/interop/raw_aes_plugin.py),
no endpoint. The CLI's own virtual environment is the one tests/interop/esdk_cli.py
builds and reuses (SECURESTORE_ESDK_CLI_VENV overrides its place); like that check,
this runs only when SECURESTORE_ESDK_CLI=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.esdk_cli import DEFAULT_VENV, CliEnv, ensure_cli_venv
from tests.support.interop import child_env

pytestmark = pytest.mark.skipif(
    os.environ.get("SECURESTORE_ESDK_CLI") != "1",
    reason="set SECURESTORE_ESDK_CLI=1 to run the aws-encryption-cli checks "
    "(installs aws-encryption-sdk-cli into its own venv; see docs/interop.md)",
)

ROOT = Path(__file__).resolve().parents[2]
STRICT = ["--commitment-policy", "require-encrypt-require-decrypt"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CliEnv:
    venv = Path(os.environ.get("SECURESTORE_ESDK_CLI_VENV") or DEFAULT_VENV)
    return ensure_cli_venv(venv, tmp_path_factory.mktemp("plugin"), raw_aes=True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return child_env({}, tmp_path)


@pytest.fixture
def key(tmp_path: Path, env: dict[str, str]) -> Path:
    path = tmp_path / "team.key"
    securestore(env, "keygen", "--aes", str(path))
    return path


def securestore(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "securestore_cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def esdk(
    cli: CliEnv, env: dict[str, str], key: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    wrapping = [
        "--wrapping-keys",
        "provider=securestore-raw-aes",
        "key=default",
        f"key-file={key}",
        "namespace=securestore",
    ]
    proc = subprocess.run(
        [str(cli.cli), *args, *wrapping, *STRICT, "--suppress-metadata"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("size", [0, 4096, 300_001])
def test_aws_encryption_cli_decrypts_what_securestore_encrypts(
    cli: CliEnv, env: dict[str, str], key: Path, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "in").write_bytes(data)
    securestore(env, "encrypt", str(tmp_path / "in"), "-o", str(tmp_path / "ct"),
                "--key-file", str(key), "--context", "team=a")  # fmt: skip
    esdk(cli, env, key, "--decrypt", "--input", str(tmp_path / "ct"), "--output",
         str(tmp_path / "out"), "--encryption-context", "team=a")  # fmt: skip
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize(
    "options",
    [[], ["--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", "--frame-length", "1048576"]],
    ids=["default-signed-4KiB", "0x0478-1MiB"],
)
def test_securestore_decrypts_what_aws_encryption_cli_encrypts(
    cli: CliEnv, env: dict[str, str], key: Path, tmp_path: Path, options: list[str]
) -> None:
    data = os.urandom(1_500_000)
    (tmp_path / "in").write_bytes(data)
    esdk(cli, env, key, "--encrypt", "--input", str(tmp_path / "in"), "--output",
         str(tmp_path / "ct"), "--encryption-context", "team=a", *options)  # fmt: skip
    securestore(env, "decrypt", str(tmp_path / "ct"), "-o", str(tmp_path / "out"),
                "--key-file", str(key), "--context", "team=a")  # fmt: skip
    assert (tmp_path / "out").read_bytes() == data


def test_trees_both_ways(cli: CliEnv, env: dict[str, str], key: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(9000))
    # aws-encryption-cli's tree (NAME.encrypted, same layout) -> securestore decrypt -r
    (tmp_path / "theirs").mkdir()
    esdk(cli, env, key, "--encrypt", "--recursive", "--input", str(src), "--output",
         str(tmp_path / "theirs"))  # fmt: skip
    securestore(env, "decrypt", "-r", str(tmp_path / "theirs"), "-o", str(tmp_path / "back"),
                "--key-file", str(key))  # fmt: skip
    assert (tmp_path / "back" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "back" / "sub" / "b.bin").read_bytes() == (
        src / "sub" / "b.bin"
    ).read_bytes()
    # securestore encrypt -r -> aws-encryption-cli --decrypt --recursive
    securestore(env, "encrypt", "-r", str(src), "-o", str(tmp_path / "ours"),
                "--key-file", str(key))  # fmt: skip
    (tmp_path / "plain").mkdir()
    esdk(cli, env, key, "--decrypt", "--recursive", "--input", str(tmp_path / "ours"),
         "--output", str(tmp_path / "plain"))  # fmt: skip
    assert (tmp_path / "plain" / "a.txt.encrypted.decrypted").read_bytes() == b"alpha"

"""``securestore local``: prints a working environment, serves TLS, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from securestore_cli.main import main_group


def test_local_endpoint_serves_the_printed_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "securestore_cli",
            "local",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        exported: dict[str, str] = {}
        for line in proc.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exported[name] = value
            if line.startswith("# A KMS key to try"):
                assert "alias/securestore-local" in line
                break
        assert exported["AWS_ENDPOINT_URL"].startswith("https://127.0.0.1:")
        # aws-cli v1 and boto3.Session().region_name read only AWS_DEFAULT_REGION.
        assert exported["AWS_DEFAULT_REGION"] == exported["AWS_REGION"]
        assert Path(exported["AWS_CA_BUNDLE"]).is_file()
        key_file = tmp_path / "state" / "ca-key.pem"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"

        runner = CliRunner()
        made = runner.invoke(main_group, ["mb", "s3://local-test"], env=exported)
        assert made.exit_code == 0, made.stderr
        put = runner.invoke(
            main_group,
            ["put", "-", "s3://local-test/k", "--kms-key-id", "alias/securestore-local"],
            env=exported,
            input=b"hello",
        )
        assert put.exit_code == 0, put.stderr
        got = runner.invoke(
            main_group, ["get", "s3://local-test/k", "--require", "kms"], env=exported
        )
        assert got.stdout_bytes == b"hello"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0
    assert proc.stderr is not None
    assert "the data is gone" in proc.stderr.read()


def test_a_busy_port_is_one_error_line_and_exit_four(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "securestore_cli",
                "local",
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2

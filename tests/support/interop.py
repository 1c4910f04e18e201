"""Shared by the interop checks against other implementations in their own venvs.

``tests/interop/esdk_cli.py`` (aws-encryption-cli) and ``tests/s3ec/interop.py``
(the AWS S3 Encryption Client) each run as a script; :func:`run_check` runs one
from its on-demand test, and :func:`child_env` is the environment both give the
other implementation's processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(endpoint_env: dict[str, str], home: Path) -> dict[str, str]:
    """Both CLIs see only the endpoint: no user AWS config, profile or credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "BOTO", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(endpoint_env)
    env["HOME"] = str(home)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_check(module: str) -> tuple[int, str, str]:
    """Run ``python -m module`` from the repository root: (exit code, stdout, both outputs)."""
    proc = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stdout + proc.stderr

"""Runs the aws-encryption-cli interop check (tests/interop/esdk_cli.py) on demand.

It installs aws-encryption-sdk-cli into a virtual environment of its own (a
download on first use) and takes a minute or two, so it runs only when
SECURESTORE_ESDK_CLI=1; SECURESTORE_ESDK_CLI_VENV overrides the venv's place.
"""

from __future__ import annotations

import os

import pytest

from tests.support.interop import run_check

pytestmark = pytest.mark.skipif(
    os.environ.get("SECURESTORE_ESDK_CLI") != "1",
    reason="set SECURESTORE_ESDK_CLI=1 to run the aws-encryption-cli interop check "
    "(installs aws-encryption-sdk-cli into its own venv; see docs/interop.md)",
)


@pytest.mark.timeout(1800)
def test_aws_encryption_cli_interop() -> None:
    returncode, stdout, report = run_check("tests.interop.esdk_cli")
    assert returncode == 0, report[-8000:]
    assert "0 failed" in stdout, report[-8000:]

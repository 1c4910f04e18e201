"""Runs the real S3 Encryption Client interop check (tests/s3ec/interop.py) on demand.

It installs amazon-s3-encryption-client-python into a virtual environment of its
own (it pins cryptography<49; a download on first use), so it runs only when
SECURESTORE_S3EC=1; SECURESTORE_S3EC_VENV overrides the venv's place.
"""

from __future__ import annotations

import os

import pytest

from tests.support.interop import run_check

pytestmark = pytest.mark.skipif(
    os.environ.get("SECURESTORE_S3EC") != "1",
    reason="set SECURESTORE_S3EC=1 to run the AWS S3 Encryption Client interop check "
    "(installs amazon-s3-encryption-client-python into its own venv; see docs/interop.md)",
)


@pytest.mark.timeout(1800)
def test_s3_encryption_client_interop() -> None:
    returncode, stdout, report = run_check("tests.s3ec.interop")
    assert returncode == 0, report[-8000:]
    assert ", 0 failed" in stdout, report[-8000:]

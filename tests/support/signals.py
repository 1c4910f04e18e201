"""The CLI in a child process, stalled by a :class:`FaultProxy`, then signalled.

Shared by the interrupt tests (``tests/reliability/test_interrupts.py``,
``tests/tree/test_interrupts.py``): start the CLI against the proxy, wait until it
reaches the stalled request, send a signal and measure how long it takes to exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.proxy import FaultProxy

if TYPE_CHECKING:
    from tests.conftest import Endpoint

ROOT = Path(__file__).resolve().parents[2]


def start_cli(
    endpoint: Endpoint, proxy: FaultProxy, *args: str, cwd: Path
) -> subprocess.Popen[bytes]:
    """``securestore ARGS`` in a child process whose requests all go through ``proxy``."""
    env = {
        **os.environ,
        **endpoint.env,
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_CA_BUNDLE": endpoint.ca_bundle,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "securestore_cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(
    condition: Callable[[], object], proc: subprocess.Popen[bytes], timeout: float = 30
) -> None:
    """Wait until ``condition()`` holds; fail if the CLI ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the CLI ended early ({proc.returncode}): {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the CLI never reached the stalled request")
        time.sleep(0.05)


def signal_and_time(proc: subprocess.Popen[bytes], number: int) -> tuple[float, int, str]:
    """Send signal ``number``: (seconds until the CLI exited, its exit code, its stderr)."""
    time.sleep(0.5)  # let the stalled requests block
    sent = time.monotonic()
    proc.send_signal(number)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the CLI did not exit within 60 s of signal {number}")
    return time.monotonic() - sent, proc.returncode, err.decode()

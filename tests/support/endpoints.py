"""The test endpoints' plumbing: a child process serving one, and connections to it.

An endpoint server (``tests/support/endpoint_server.py`` or
``iam_endpoint_server.py``) prints one JSON line with its environment
(``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE``, credentials, region) and serves until its
stdin closes. :func:`endpoint_process` runs one; :func:`endpoint_connection` builds
a TLS-only connection from that environment, to the endpoint or to a proxy or stub
in front of it (which present a certificate of the same CA).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest

from securestore import Connection

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def endpoint_process(
    module: str, state_dir: Path, *, what: str = "the TLS endpoint"
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """Run ``python -m module state_dir``: yields the process and the environment it printed.

    The test fails when the server prints nothing; on exit its stdin is closed (which
    stops it) and it is killed if it has not ended within 10 s.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(state_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        pytest.fail(f"{what} did not start")
    try:
        yield proc, json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def endpoint_session(env: Mapping[str, str]) -> boto3.Session:
    """A boto3 session with the endpoint's credentials and region."""
    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


def endpoint_connection(
    env: Mapping[str, str],
    *,
    endpoint_url: str | None = None,
    ca_bundle: str | None = None,
    session: boto3.Session | None = None,
    **options: Any,
) -> Connection:
    """A TLS-only connection trusting the endpoint's CA, reading no environment.

    ``endpoint_url`` (default: the endpoint's) may name a proxy or stub in front of
    it, trusted through ``ca_bundle`` (default: the endpoint's CA); ``session`` defaults
    to :func:`endpoint_session`; ``options`` go to
    :class:`~securestore.Connection` (``max_attempts``, timeouts...).
    """
    return Connection(
        session=session or endpoint_session(env),
        endpoint_url=endpoint_url or env["AWS_ENDPOINT_URL"],
        ca_bundle=ca_bundle or env["AWS_CA_BUNDLE"],
        environ={},
        **options,
    )

"""``get --range`` streams: memory stays bounded whatever the size of the range.

Before, the whole range was held (and copied) before writing: a 1 GiB range peaked
at 3.1 GiB. Measured here with ``tracemalloc`` for a file destination (in process)
and with the peak resident size of a child process for stdout.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import SecureStore
from securestore.clientside import ClientSide
from securestore.keyrings import RawAesKeyring
from tests.conftest import ROOT, Endpoint

MiB = 1024 * 1024
TOTAL = 40 * MiB
START, END = 1000, 38 * MiB  # spans several parts, and frames on both sides


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(TOTAL)


def test_a_large_range_to_a_file_holds_bounded_memory(
    tls_endpoint: Endpoint,
    make_store: Callable[..., SecureStore],
    bucket: str,
    data: bytes,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "k.key"
    runner = CliRunner()
    env = dict(tls_endpoint.env)
    assert runner.invoke(main_group, ["keygen", "--aes", str(key_file)], env=env).exit_code == 0
    from securestore.keyrings import load_aes_key_file

    keyring = RawAesKeyring("securestore", "default", load_aes_key_file(key_file))
    store = make_store()
    store.put("sse", data)
    store.put("cs", data, encryption=ClientSide(keyring, frame_length=64 * 1024))
    expected = data[START : END + 1]

    def traced(key: str, span: str, dest: Path, extra: list[str]) -> int:
        args = ["get", f"s3://{bucket}/{key}", str(dest), "--range", span, *extra]
        tracemalloc.start()
        try:
            result = runner.invoke(main_group, args, env=env)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.exit_code == 0, result.stderr
        return peak

    for key, extra in (("sse", []), ("cs", ["--key-file", str(key_file)])):
        dest = tmp_path / f"range-{key}"
        # The baseline (a new boto3 session loads its service models) is the same for both.
        small = traced(key, "0-999", tmp_path / "small", extra)
        large = traced(key, f"{START}-{END}", dest, extra)
        assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(expected).digest()
        growth = (large - small) / MiB
        assert growth < 16, f"{key}: {growth:.1f} MiB more for a 38 MiB range"


CHILD = """
import resource, sys
from securestore_cli.main import main_group
try:
    main_group.main(prog_name="securestore")  # main() itself ends the process (os._exit)
finally:
    print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def child_peak_kib(tls_endpoint: Endpoint, *args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env={**os.environ, **tls_endpoint.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.decode().rsplit("maxrss", 1)[1].split()[0])


def test_a_large_range_to_stdout_holds_bounded_memory(
    tls_endpoint: Endpoint, make_store: Callable[..., SecureStore], bucket: str, data: bytes
) -> None:
    make_store().put("big", data)
    url = f"s3://{bucket}/big"
    small = child_peak_kib(tls_endpoint, "get", url, "-", "--range", "0-999")
    large = child_peak_kib(tls_endpoint, "get", url, "-", "--range", f"{START}-{END}")
    # Holding the 38 MiB range (and a copy) would add well over 38 MiB.
    assert large - small < 24 * 1024, (small, large)

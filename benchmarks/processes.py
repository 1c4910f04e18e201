"""Whole-process runs for the CLI benchmarks: securestore against ``aws s3`` on one endpoint.

Each run is a child process timed from spawn to exit, with its peak RSS taken
from the child's own ``VmHWM``: securestore runs in :mod:`benchmarks.cli_child`,
which writes its ``VmHWM`` at exit; every child (``aws`` too) is also polled in
``/proc/PID/status`` while it runs. ``wait4``'s ``ru_maxrss`` is not used: a
child inherits the high-water mark of the process it was forked from.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmarks.endpoints import RcloneS3, S3Endpoint

REGION = "us-east-1"


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, peak RSS (KiB), exit code, what cli_child reported.

    ``cpu_seconds`` is the child's user + system CPU time (``wait4``'s rusage: only
    that child's, load-independent unlike the wall time).
    """

    seconds: float
    peak_kib: int
    code: int
    report: dict[str, object]
    cpu_seconds: float = 0.0

    @property
    def peak_mib(self) -> float:
        """Peak RSS in MiB."""
        return self.peak_kib / 1024


def _vm_hwm(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0  # a zombie has no memory lines


def timed(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: Path,
    feed: Callable[[IO[bytes]], None] | None = None,
) -> Run:
    """Run ``args`` (``feed`` writes its standard input); stderr's tail is shown on failure."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        report_path = Path(scratch) / "report.json"
        child_env = {**env, "BENCH_REPORT": str(report_path)}
        with (Path(scratch) / "stderr").open("w+b") as errors:
            started = time.perf_counter()
            # stderr to a file, not a pipe: a pipe nobody reads blocks a chatty child.
            proc = subprocess.Popen(
                args,
                env=child_env,
                cwd=cwd,
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            peak = [0]
            done = threading.Event()

            def poll() -> None:
                while not done.wait(0.02):
                    peak[0] = max(peak[0], _vm_hwm(proc.pid))

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            if feed is not None:
                assert proc.stdin is not None
                try:
                    feed(proc.stdin)
                except BrokenPipeError:
                    pass
                finally:
                    with contextlib.suppress(BrokenPipeError):
                        proc.stdin.close()
            # wait4, not proc.wait(): it also returns the child's own CPU time.
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - started
            code = proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            done.set()
            poller.join()
            if code != 0:
                errors.seek(0)
                sys.stderr.write(errors.read()[-4000:].decode(errors="replace"))
        report: dict[str, object] = {}
        if report_path.exists():
            report = json.loads(report_path.read_text())
        reported = report.get("vmhwm_kib")
        if isinstance(reported, int):
            peak[0] = max(peak[0], reported)
    return Run(elapsed, peak[0], code, report, cpu)


def securestore_cli() -> list[str]:
    """The securestore CLI, run through :mod:`benchmarks.cli_child`."""
    return [sys.executable, "-m", "benchmarks.cli_child"]


def aws_cli() -> list[str] | None:
    """The ``aws`` executable itself (a pyenv shim resolved: its bash start-up is not aws's)."""
    found = shutil.which("aws")
    if found is None:
        return None
    if "/shims/" in found and shutil.which("pyenv"):
        resolved = subprocess.run(
            ["pyenv", "which", "aws"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if resolved:
            found = resolved
    return [found]


def environment(endpoint: S3Endpoint) -> dict[str, str]:
    """The environment that points securestore and aws-cli at ``endpoint``.

    Byte-code is written and precompiled for this source tree: with
    ``PYTHONDONTWRITEBYTECODE`` set, every securestore start would compile its
    modules again (seconds on a busy machine), while aws-cli's installed package
    comes compiled; an installed securestore is compiled too.
    """
    root = str(Path(__file__).resolve().parent.parent)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            *(f"{root}/{d}" for d in ("securestore", "cli")),
        ],
        env=base,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {
        **base,
        "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_CA_BUNDLE": str(endpoint.ca_bundle),
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # rclone refuses aws-chunked uploads (docs/NOTES): as securestore picks on its own.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }


def start_rclone(workdir: Path) -> tuple[RcloneS3, S3Endpoint]:
    """``rclone serve s3`` over TLS on 127.0.0.1 (a free port), with the bench bucket."""
    server = RcloneS3(workdir)
    try:
        return server, server.start()
    except BaseException:
        server.stop()
        raise


def keygen(env: dict[str, str], workdir: Path) -> list[str]:
    """A raw AES key file for client-side runs; returns securestore's key options."""
    folder = workdir / "keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    key = folder / "bench.key"
    if key.exists():
        return ["--key-file", str(key)]
    made = subprocess.run(
        [sys.executable, "-m", "securestore_cli", "keygen", "--aes", str(key)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise SystemExit(f"keygen failed: {made.stderr}")
    return ["--key-file", str(key)]


def ratio(baseline: float, ours: float) -> str:
    """``baseline / ours`` as ``1.23x`` (how many times faster securestore was)."""
    return f"{baseline / ours:.2f}x" if ours > 0 else "-"


def check(run: Run, what: str) -> Run:
    """Fail the benchmark when a measured run failed (a ratio of a failure means nothing)."""
    if run.code != 0:
        raise SystemExit(f"{what} failed with exit code {run.code}")
    return run

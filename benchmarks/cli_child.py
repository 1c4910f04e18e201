"""``python -m benchmarks.cli_child ARGS``: the securestore CLI, reporting on itself at exit.

Runs ``securestore ARGS`` in this process and, at exit, writes JSON to the file
named by ``BENCH_REPORT``: this process's peak RSS (``VmHWM``) and the body
size of every ``UploadPart`` it sent (counted by a botocore event on each S3
client), so that a benchmark sees the real part sizes of a ``put -`` stream,
and the number of HTTP requests sent per S3 operation (``before-send``: every
attempt, retries included), so that requests per file can be counted.

With ``BENCH_PROFILE=PATH`` every thread runs under its own :mod:`cProfile`
profiler timed by ``time.thread_time`` (CPU time, not wall time: waiting on a
socket or a lock costs nothing) and the merged statistics are written to PATH
(``python -m pstats PATH``).
"""

from __future__ import annotations

import atexit
import cProfile
import json
import os
import runpy
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

_parts: dict[int, int] = {}
_requests: dict[str, int] = {}
_lock = threading.Lock()
_profiles: list[cProfile.Profile] = []


def _note(params: dict[str, Any], **_: Any) -> None:
    size = len(params["Body"])
    with _lock:
        _parts[size] = _parts.get(size, 0) + 1


def _sent(event_name: str, **_: Any) -> None:
    operation = event_name.rsplit(".", 1)[-1]
    with _lock:
        _requests[operation] = _requests.get(operation, 0) + 1


def _hook_clients() -> None:
    from securestore.transport import Connection

    real = Connection.client

    def client(self: Connection, service: str, region_name: str | None = None) -> Any:
        made = real(self, service, region_name)
        # Once per client: the store asks its connection for the client on every call,
        # and registering (botocore inspects the handler's signature) costs CPU each time.
        if service == "s3" and not getattr(made, "_bench_hooked", False):
            made._bench_hooked = True
            made.meta.events.register(
                "provide-client-params.s3.UploadPart", _note, unique_id="bench-parts"
            )
            made.meta.events.register("before-send.s3", _sent, unique_id="bench-requests")
        return made

    Connection.client = client  # type: ignore[method-assign]


def _profile_threads() -> cProfile.Profile:
    """A CPU-time profiler in this thread and in every thread started from now on."""
    real = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            real(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile(time.thread_time)
    _profiles.append(main)
    main.enable()
    return main


def _write_profile(target: str, main: cProfile.Profile) -> None:
    import pstats

    main.disable()
    with _lock:
        profiles = list(_profiles)
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    stats.dump_stats(target)


def _report() -> None:
    target = os.environ.get("BENCH_REPORT")
    if not target:
        return
    hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    with _lock:
        parts = {str(size): count for size, count in sorted(_parts.items())}
        requests = dict(sorted(_requests.items()))
    Path(target).write_text(json.dumps({"vmhwm_kib": hwm, "parts": parts, "requests": requests}))


def main() -> None:
    """Hook, register the report, run the CLI as ``python -m securestore_cli`` would."""
    profiling = os.environ.get("BENCH_PROFILE")
    if profiling:
        main_profile = _profile_threads()
        atexit.register(_write_profile, profiling, main_profile)
    _hook_clients()
    atexit.register(_report)
    import sys

    sys.argv[0] = "securestore"
    # The CLI ends its process with os._exit (no interpreter shutdown, no atexit):
    # run the report and profile handlers just before, then leave as the CLI does.
    from securestore_cli import main as cli_main

    leave = cli_main._leave

    def report_then_leave(code: int) -> NoReturn:
        atexit._run_exitfuncs()
        leave(code)

    cli_main._leave = report_then_leave
    runpy.run_module("securestore_cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

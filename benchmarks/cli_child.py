"""``python -m benchmarks.cli_child ARGS``: the securestore CLI, reporting on itself at exit.

Runs ``securestore ARGS`` in this process and, at exit, writes JSON to the file
named by ``BENCH_REPORT``: this process's peak RSS (``VmHWM``) and the body
size of every ``UploadPart`` it sent (counted by a botocore event on each S3
client), so that a benchmark sees the real part sizes of a ``put -`` stream.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import threading
from pathlib import Path
from typing import Any

_parts: dict[int, int] = {}
_lock = threading.Lock()


def _note(params: dict[str, Any], **_: Any) -> None:
    size = len(params["Body"])
    with _lock:
        _parts[size] = _parts.get(size, 0) + 1


def _hook_clients() -> None:
    from securestore.transport import Connection

    real = Connection.client

    def client(self: Connection, service: str, region_name: str | None = None) -> Any:
        made = real(self, service, region_name)
        if service == "s3":
            made.meta.events.register(
                "provide-client-params.s3.UploadPart", _note, unique_id="bench-parts"
            )
        return made

    Connection.client = client  # type: ignore[method-assign]


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
    Path(target).write_text(json.dumps({"vmhwm_kib": hwm, "parts": parts}))


def main() -> None:
    """Hook, register the report, run the CLI as ``python -m securestore_cli`` would."""
    _hook_clients()
    atexit.register(_report)
    import sys

    sys.argv[0] = "securestore"
    runpy.run_module("securestore_cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

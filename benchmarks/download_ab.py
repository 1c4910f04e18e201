"""Interleaved A/B of single-object downloads: securestore trees against plain boto3.

``python -m benchmarks.download_ab --tree old=/path/to/checkout --tree new=. --size-mib 512``

Each round runs, in a rotating order, one download per tree (client-side, and with
``--sse`` the server-side path) and one plain boto3 ``download_file``, each in its own
process (:mod:`benchmarks.child`, taken from the tree it measures), all against one
``rclone serve s3`` over TLS. A tree's children import securestore from that tree
(``PYTHONPATH``), so two checkouts are compared in the same minute on the same objects.
Printed per run and summarised: wall seconds, seconds in ``fsync``, CPU seconds and the
load average, since on a shared machine only interleaved pairs and CPU seconds compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.endpoints import RcloneS3, S3Endpoint
from benchmarks.timing import MiB, mb_per_s
from benchmarks.transfer import source_file

SECURE_KEY = "ab/secure.bin"
PLAIN_KEY = "ab/plain.bin"
HERE = Path(__file__).resolve().parent.parent


def child(
    endpoint: S3Endpoint, root: Path, op: str, key: str, path: Path, wrapping: bytes
) -> dict[str, Any]:
    """One :mod:`benchmarks.child` run with securestore (and the child) from ``root``,
    started with no dirty pages left by the previous run (``os.sync``, not timed)."""
    os.sync()
    env = {
        **os.environ,
        **endpoint.env(),
        "BENCH_WRAPPING_KEY": wrapping.hex(),
        "PYTHONPATH": str(root),
    }
    done = subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "benchmarks.child", op, key, str(path)],
        env=env,
        cwd=root,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{op} in {root} failed: {done.stderr.decode()[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    report["load"] = os.getloadavg()[0]
    return report


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.download_ab")
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a checkout")
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sse", action="store_true", help="also the server-side read path")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    trees = dict(item.split("=", 1) for item in args.tree)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ab-"))
    workdir.mkdir(parents=True, exist_ok=True)
    wrapping = bytes(range(32))
    size = args.size_mib * MiB
    source = source_file(workdir, size)
    out = workdir / "download.bin"
    server = RcloneS3(workdir)
    endpoint = server.start()
    try:
        child(endpoint, HERE, "ss-put", SECURE_KEY, source, wrapping)
        child(endpoint, HERE, "boto-put", PLAIN_KEY, source, wrapping)
        cases = [("boto", HERE, "boto-get", PLAIN_KEY)]
        for name, root in trees.items():
            cases.append((f"{name} client-side", Path(root), "ss-get", SECURE_KEY))
            if args.sse:
                cases.append((f"{name} sse", Path(root), "sse-get", PLAIN_KEY))
        runs: dict[str, list[dict[str, Any]]] = {}
        for number in range(args.rounds):
            shift = number % len(cases)
            for label, root, op, key in cases[shift:] + cases[:shift]:
                report = child(endpoint, root, op, key, out, wrapping)
                out.unlink()
                runs.setdefault(label, []).append(report)
                print(
                    f"round {number + 1} {label:24} {report['seconds']:6.2f} s "
                    f"fsync {report['fsync_seconds']:5.2f} s cpu {report['cpu_seconds']:5.2f} s "
                    f"load {report['load']:.1f}",
                    flush=True,
                )
    finally:
        server.stop()
    boto = min(r["seconds"] - r["fsync_seconds"] for r in runs["boto"])
    print(f"\nbest of {args.rounds}, {args.size_mib} MiB; ratio against boto3 without its fsync")
    print("| download | best s | MB/s | ratio | best s without fsync | fsync s | CPU s (median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, reports in runs.items():
        best = min(r["seconds"] for r in reports)
        bare = min(r["seconds"] - r["fsync_seconds"] for r in reports)
        fsync = statistics.median(r["fsync_seconds"] for r in reports)
        cpu = statistics.median(r["cpu_seconds"] for r in reports)
        shown = bare if label == "boto" else best
        print(
            f"| {label} | {best:.2f} | {mb_per_s(size, shown):.0f} | {boto / shown:.2f}x "
            f"| {bare:.2f} | {fsync:.2f} | {cpu:.2f} |"
        )
    loads = [r["load"] for reports in runs.values() for r in reports]
    print(f"load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])

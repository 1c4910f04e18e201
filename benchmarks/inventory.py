"""Inventory benchmark: the DuckDB report over a generated S3 Inventory of N objects.

Run with ``python -m benchmarks.inventory`` from the repository root (``--rows``,
``--formats``; ``--help``). It writes a real inventory report (the published
layout and schema, by ``tests/audit/inventory_gen.py``) of N objects in each
format into a temporary folder, then times ``audit_inventory`` on it in a child
process, which reports its wall time and peak RSS (``VmHWM``), so the
generator's memory does not count. MD5 verification of the data files is
included in the time. Target: 1,000,000 rows in 5 s or less on the project's
machine. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    """This process's peak RSS. ``ru_maxrss`` would not do: Linux carries it across
    ``fork``/``exec``, so a child would report its parent's peak (here the generator's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(manifest: str, depth: int) -> None:
    from securestore.audit.inventory import audit_inventory
    from securestore.audit.options import AuditOptions, EncryptionRequirement

    start = time.perf_counter()
    report = audit_inventory(
        [manifest], options=AuditOptions(require=EncryptionRequirement.KMS), depth=depth
    )
    seconds = time.perf_counter() - start
    objects = sum(int(r.details.get("objects", 0)) for r in report.results)
    peak = _peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "objects": objects}))


def main(argv: list[str] | None = None) -> None:
    """Generate, then measure each format in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="Parquet,CSV")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.depth)
        return
    from tests.audit.inventory_gen import synthetic_rows, write_inventory

    root = Path(tempfile.mkdtemp(prefix="securestore-inventory-bench-"))
    try:
        start = time.perf_counter()
        rows = synthetic_rows(args.rows)
        print(f"generated {len(rows)} rows in {time.perf_counter() - start:.1f} s")
        for fmt in args.formats.split(","):
            start = time.perf_counter()
            manifest = write_inventory(root / fmt, rows, source_bucket="estate", file_format=fmt)
            size = sum(p.stat().st_size for p in (root / fmt).rglob("*") if p.is_file())
            print(f"{fmt}: wrote {size / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s")
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.inventory",
                    "--child",
                    str(manifest),
                    "--depth",
                    str(args.depth),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{fmt}: {result['objects']} objects, report in {result['seconds']:.2f} s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

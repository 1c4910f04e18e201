"""``python -m benchmarks``: run the benchmarks, print the table, write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import crypto, frames, fsspec_parquet, ranged, report, transfer
from benchmarks.endpoints import Fixture, RcloneS3, find_rclone
from benchmarks.report import Section
from benchmarks.timing import MiB

NAMES = ("crypto", "transfer", "ranged", "frames", "fsspec")
NEEDS_SERVER = {"transfer", "ranged", "frames", "fsspec"}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="securestore benchmarks against baselines measured in the same run. "
        "A full run writes docs/benchmarks.md; --quick/--only runs write only with --output.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(NAMES)}",
    )
    parser.add_argument(
        "--size-mib",
        type=int,
        help="size of the transferred file and ranged-read object (default 1024, --quick 64)",
    )
    parser.add_argument(
        "--crypto-mib", type=int, help="in-memory buffer size (default 64, --quick 8)"
    )
    parser.add_argument("--output", type=Path, help=f"markdown report path (default {DOCS})")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new one in /tmp)")
    args = parser.parse_args(argv)
    selected: list[str] = []
    for item in args.only or []:
        selected += [n.strip() for n in item.split(",") if n.strip()]
    unknown = set(selected) - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {NAMES}")
    args.selected = [n for n in NAMES if n in selected] if selected else list(NAMES)
    args.size_mib = args.size_mib or (64 if args.quick else 1024)
    args.crypto_mib = args.crypto_mib or (8 if args.quick else 64)
    if args.size_mib < 16 or args.crypto_mib < 1:
        parser.error("--size-mib must be at least 16 and --crypto-mib at least 1")
    return args


def _check_disk(workdir: Path, size_mib: int) -> None:
    # source, one download, and the server's copies (secure, plain, piped) at most.
    need = 6 * size_mib * MiB + 512 * MiB
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise SystemExit(
            f"not enough disk in {workdir}: {free / MiB:.0f} MiB free, {need / MiB:.0f} MiB needed"
        )


def run(args: argparse.Namespace, workdir: Path) -> list[Section]:
    quick = args.quick
    sections: list[Section] = []

    def done(section: Section) -> None:
        report.print_section(section)
        sections.append(section)

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    if "crypto" in args.selected:
        say(f"crypto: {args.crypto_mib} MiB in memory")
        done(crypto.run(args.crypto_mib, repeat=5 if quick else 9, esdk_repeat=1 if quick else 3))
    if not NEEDS_SERVER & set(args.selected):
        return sections
    _check_disk(workdir, args.size_mib)
    say("starting rclone serve s3 over TLS")
    with RcloneS3(workdir) as endpoint:
        fixture = Fixture(endpoint, workdir, os.urandom(32))
        if "transfer" in args.selected:
            say(f"transfer: {args.size_mib} MiB, each transfer in its own process")
            done(transfer.run(fixture, args.size_mib, rounds=1 if quick else 3))
        if "ranged" in args.selected:
            say("ranged: 1 MiB from the middle")
            done(ranged.run(fixture, args.size_mib, repeat=5 if quick else 9))
        if "frames" in args.selected:
            say("frames: sweep")
            done(
                frames.run(
                    fixture,
                    args.crypto_mib,
                    object_mib=8 if quick else 32,
                    repeat=5 if quick else 9,
                )
            )
        if "fsspec" in args.selected:
            parquet_mib = min(args.size_mib, 32 if quick else 512)
            say(f"fsspec: 2 of 20 columns of a {parquet_mib} MiB Parquet file vs s3fs")
            done(fsspec_parquet.run(fixture, parquet_mib, repeat=3 if quick else 5))
    return sections


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    own_workdir = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="securestore-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    load_at_start = report.load_average()
    try:
        sections = run(args, workdir)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report.render_text(report.targets_table(sections)))
    print(f"\n{time.monotonic() - start:.0f} s in all")
    full = not args.quick and args.selected == list(NAMES)
    output = args.output or (DOCS if full else None)
    if output is not None and not args.no_write:
        report.write_markdown(output, sections, report.machine_facts(find_rclone(), load_at_start))
        print(f"wrote {output}")
    elif not args.no_write:
        print("partial or quick run: docs/benchmarks.md left as is (use --output PATH to write)")
    return 0 if all(t.met for s in sections for t in s.targets) else 1


if __name__ == "__main__":
    sys.exit(main())

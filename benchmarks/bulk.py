"""Large files through the CLI: ``cp --recursive`` and one ``put -`` stream, against ``aws s3``.

Run with ``python -m benchmarks.bulk`` (``--help``; ``--files 3 --size-mib 8
--stream-gib 1`` for a smoke run). On ``rclone serve s3`` over TLS, each run a
whole child process with its peak RSS (``VmHWM``, :mod:`benchmarks.processes`):

* ``cp --recursive`` of ``--files`` files of ``--size-mib`` MiB (default 20 x 256
  MiB) up and down, ``securestore cp ... --recursive --key-file K`` (client-side)
  against ``aws s3 cp ... --recursive``; plain: the download of aws-cli's copy
  with ``securestore cp`` (rclone stores no SSE, and securestore refuses an
  upload whose encryption was not confirmed), against aws-cli's download;
* one ``--stream-gib`` GiB stream (default 20) piped into ``securestore put -
  --key-file K`` and into ``aws s3 cp -``: throughput, peak RSS and the part sizes
  sent (counted in the securestore child) against those planned by
  :mod:`securestore.parts` for a stream of unknown length.

Prints Markdown tables with the ratio securestore / aws of throughput (above 1x:
securestore is faster). Downloads are compared with the source files; a stream
of at most 1 GiB is read back and compared too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from benchmarks.processes import (
    Run,
    aws_cli,
    check,
    environment,
    keygen,
    securestore_cli,
    start_rclone,
    timed,
)
from benchmarks.timing import MiB

GiB = 1024 * MiB
_BLOCK = 4 * MiB + 17  # not a multiple of any part or frame size


def generate(root: Path, count: int, size: int) -> int:
    """``count`` files of ``size`` bytes, each from its own random block; return the bytes."""
    root.mkdir(parents=True)
    for index in range(count):
        block = os.urandom(_BLOCK)
        with (root / f"file{index:03}.bin").open("wb") as out:
            left = size
            while left:
                piece = block[: min(left, len(block))]
                out.write(piece)
                left -= len(piece)
    return count * size


def folder_digest(root: Path) -> str:
    """One digest of the names and contents of the files in ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.iterdir()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as source:
            while chunk := source.read(8 * MiB):
                digest.update(chunk)
    return digest.hexdigest()


def stream_feeder(total: int, digest: hashlib._Hash | None) -> Callable[[IO[bytes]], None]:
    """Writes ``total`` bytes (a random block repeated) to a child's stdin."""
    block = memoryview(os.urandom(_BLOCK))

    def feed(pipe: IO[bytes]) -> None:
        left = total
        while left:
            piece = block[: min(left, len(block))]
            pipe.write(piece)
            if digest is not None:
                digest.update(piece)
            left -= len(piece)

    return feed


def mb_s(size: int, run: Run) -> float:
    """Throughput in MB/s (10^6 bytes per second)."""
    return size / run.seconds / 1e6


def _row(what: str, size: int, ours: Run | None, theirs: Run | None) -> str:
    cells = [
        what,
        f"{mb_s(size, ours):.0f}" if ours else "n/a",
        f"{mb_s(size, theirs):.0f}" if theirs else "-",
        f"{theirs.seconds / ours.seconds:.2f}x" if ours and theirs else "-",
        f"{ours.peak_mib:.0f}" if ours else "-",
        f"{theirs.peak_mib:.0f}" if theirs else "-",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = [
    "| transfer | securestore, MB/s | aws, MB/s | securestore / aws | securestore peak RSS, MiB "
    "| aws peak RSS, MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
]


def copy_tree(options: argparse.Namespace, workdir: Path, env: dict[str, str]) -> list[str]:
    """The ``cp --recursive`` table."""
    ss, aws = securestore_cli(), aws_cli()
    bucket = env["BENCH_BUCKET"]
    total = generate(workdir / "src", options.files, options.size_mib * MiB)
    expected = folder_digest(workdir / "src")
    keys = keygen(env, workdir)

    def go(args: list[str] | None, what: str) -> Run | None:
        return check(timed(args, env, cwd=workdir), what) if args else None

    def same(folder: str, what: str) -> None:
        # Removed once checked: the disk holds at most the source, two copies and two downloads.
        if folder_digest(workdir / folder) != expected:
            raise SystemExit(f"{what}: the downloaded files differ from the source")
        shutil.rmtree(workdir / folder)

    up = [*ss, "cp", "src", f"s3://{bucket}/cs/", "--recursive", *keys, "--quiet"]
    aws_up = aws and [*aws, "s3", "cp", "src", f"s3://{bucket}/aws/", "--recursive", "--quiet"]
    down = [*ss, "cp", f"s3://{bucket}/cs/", "down-cs", "--recursive", *keys, "--quiet"]
    aws_down = aws and [*aws, "s3", "cp", f"s3://{bucket}/aws/", "down-aws", "--recursive"]
    rows = [_row("client-side up", total, go(up, "securestore cp up"), go(aws_up, "aws cp up"))]
    rows.append(_row("client-side down", total, go(down, "cp down"), go(aws_down, "aws down")))
    same("down-cs", "securestore client-side cp down")
    if aws:
        same("down-aws", "aws s3 cp down")
        plain = [*ss, "cp", f"s3://{bucket}/aws/", "down-plain", "--recursive", "--quiet"]
        again = [*aws, "s3", "cp", f"s3://{bucket}/aws/", "down-aws2", "--recursive", "--quiet"]
        rows.append(_row("plain down", total, go(plain, "plain down"), go(again, "aws down")))
        same("down-plain", "securestore plain cp down")
        same("down-aws2", "aws s3 cp down")
    return [
        f"### cp --recursive: {options.files} files of {options.size_mib} MiB "
        f"({total / 1e6:.0f} MB)",
        "",
        *HEADER,
        *rows,
        "",
        "plain up: n/a, rclone stores no SSE and securestore refuses an unconfirmed upload.",
        "",
    ]


def stream(options: argparse.Namespace, workdir: Path, env: dict[str, str]) -> list[str]:
    """The ``put -`` table: throughput, peak RSS, parts as planned."""
    from benchmarks.transfer import _describe_parts, planned_parts, sent_plaintext_parts

    ss, aws = securestore_cli(), aws_cli()
    bucket = env["BENCH_BUCKET"]
    total = int(options.stream_gib * GiB)
    keys = keygen(env, workdir)
    digest = hashlib.sha256() if total <= GiB else None
    ours = check(
        timed(
            [*ss, "put", "-", f"s3://{bucket}/stream.bin", *keys, "--quiet"],
            env,
            cwd=workdir,
            feed=stream_feeder(total, digest),
        ),
        "securestore put -",
    )
    theirs = None
    if aws:
        theirs = check(
            timed(
                [*aws, "s3", "cp", "-", f"s3://{bucket}/aws-stream.bin"],
                env,
                cwd=workdir,
                feed=stream_feeder(total, None),
            ),
            "aws s3 cp -",
        )
    raw = ours.report.get("parts")
    sent = sent_plaintext_parts(
        {int(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    )
    planned = planned_parts(total)
    lines = [
        f"### put - of a {options.stream_gib:g} GiB stream of unknown length (client-side)",
        "",
        *HEADER,
        _row("put - / aws s3 cp -", total, ours, theirs),
        "",
        f"- parts sent (plaintext, last left out): {_describe_parts(sent) or 'one part'}",
        f"- parts planned (securestore.parts): {_describe_parts(planned) or 'one part'}: "
        f"{'as planned' if sent == planned else 'DIFFERENT'}",
    ]
    if digest is not None:
        check(
            timed(
                [*ss, "get", f"s3://{bucket}/stream.bin", "stream.out", *keys, "--quiet"],
                env,
                cwd=workdir,
            ),
            "securestore get of the stream",
        )
        back = hashlib.sha256((workdir / "stream.out").read_bytes()).hexdigest()
        lines.append(f"- read back: {'identical' if back == digest.hexdigest() else 'DIFFERENT'}")
        (workdir / "stream.out").unlink()
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    """Parse, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="files copied recursively")
    parser.add_argument("--size-mib", type=int, default=256, help="size of each file")
    parser.add_argument("--stream-gib", type=float, default=20.0, help="size of the stream")
    parser.add_argument("--only", choices=["cp", "stream"], help="run one of the two")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new one)")
    options = parser.parse_args(argv)
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bulk-bench-", dir=options.workdir))
    need = 5 * options.files * options.size_mib * MiB if options.only != "stream" else 0
    need += 2 * int(options.stream_gib * GiB) if options.only != "cp" else 0
    free = shutil.disk_usage(workdir).free
    if free < need:
        shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(f"{free / GiB:.1f} GiB free in {workdir}, {need / GiB:.1f} GiB needed")
    server = None
    try:
        server, endpoint = start_rclone(workdir)
        env = {**environment(endpoint), "BENCH_BUCKET": endpoint.bucket}
        print(f"endpoint: rclone serve s3 over TLS; aws {aws_cli() or 'NOT found'}\n", flush=True)
        if options.only != "stream":
            print("\n".join(copy_tree(options, workdir, env)), flush=True)
        if options.only != "cp":
            print("\n".join(stream(options, workdir, env)), flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

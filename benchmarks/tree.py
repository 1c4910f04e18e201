"""Tree benchmark: ``securestore sync`` against ``aws s3 sync`` on ``rclone serve s3`` over TLS.

Run with ``python -m benchmarks.tree`` (``--help`` for options; ``--files 300``
for a smoke run). It generates a tree of small files (default 10,000 of 1-64
KiB in 100 folders), starts ``rclone serve s3`` over TLS and times, each as a
whole child process with its peak RSS (:mod:`benchmarks.processes`):

* client-side: ``securestore sync DIR s3://B/cs/ --key-file K`` up, the same
  again with nothing to do (for client-side objects the comparison reads one
  HEAD per file: S3's size is the ciphertext's, until one HEAD has shown the
  header length), down into a new folder, and down again with nothing to do;
  against ``aws s3 sync`` of the same tree up, no-op, down and no-op down
  (aws-cli moves the files as they are);
* plain: rclone stores no SSE, and securestore refuses an upload whose
  encryption the server did not confirm (fail closed), so its plain run is the
  download (and the no-op download) of the tree aws-cli uploaded, against
  ``aws s3 sync`` down. ``--endpoint local`` runs everything on the embedded
  moto endpoint instead, which does SSE-S3, for a plain upload too (moto is
  slower per request, which narrows the ratios).

Prints Markdown tables: seconds, CPU seconds (user + system of the child process,
which load on a shared machine inflates less than wall time), peak RSS, the
ratios aws / securestore (above 1x: securestore is faster) and securestore's S3
requests per file (counted by :mod:`benchmarks.cli_child`). Every download is
compared with the source tree.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.endpoints import S3Endpoint
from benchmarks.latency import start_relay
from benchmarks.processes import (
    Run,
    aws_cli,
    check,
    environment,
    keygen,
    ratio,
    securestore_cli,
    start_rclone,
    timed,
)
from securestore.tree.sync import SETTLE_SECONDS


def generate(root: Path, count: int, low: int, high: int, seed: int = 7) -> int:
    """Write ``count`` files of ``low``-``high`` bytes in 100 directories; return the bytes."""
    rng = random.Random(seed)
    total = 0
    for index in range(count):
        folder = root / f"d{index % 100:02}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(low, high)
        (folder / f"f{index:06}.bin").write_bytes(os.urandom(size))
        total += size
    return total


def tree_digest(root: Path) -> str:
    """One digest of every relative path and content below ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@contextmanager
def endpoint(kind: str, workdir: Path, pid: list[int | None]) -> Iterator[S3Endpoint]:
    """``rclone serve s3`` over TLS (its process id into ``pid``), or moto (``local``)."""
    if kind == "rclone":
        server, found = start_rclone(workdir)
        pid[0] = server.process.pid if server.process else None
        try:
            yield found
        finally:
            server.stop()
        return
    from securestore.local import LocalEndpoint

    local = LocalEndpoint(state_dir=workdir / "state").start()
    try:
        assert local.certificates is not None
        found = S3Endpoint(local.url, local.certificates.ca_cert, "testing", "testing")
        found.boto3_client().create_bucket(Bucket=found.bucket)
        yield found
    finally:
        stop = getattr(local, "stop", None)
        if callable(stop):
            stop()


def requests_per_file(run: Run, files: int) -> str:
    """securestore's S3 requests (every attempt) per file of the tree, from cli_child."""
    counted = run.report.get("requests")
    if not isinstance(counted, dict) or not files:
        return "-"
    return f"{sum(counted.values()) / files:.3f}"


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds a live process has used so far (``/proc/PID/stat``)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5); [0] here is field 3 (state).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server(run: Run | None) -> str:
    served = run.report.get("server_cpu") if run else None
    return f"{served:.2f}" if isinstance(served, float) else "-"


def _table(rows: list[tuple[str, Run | None, Run | None]], files: int) -> list[str]:
    out = [
        "| sync | securestore, s | aws, s | aws / securestore | securestore CPU, s | aws CPU, s "
        "| CPU aws / securestore | server CPU, s (ours / aws) | requests per file "
        "| securestore peak RSS, MiB | aws peak RSS, MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for what, ours, theirs in rows:
        out.append(
            f"| {what} | {f'{ours.seconds:.2f}' if ours else 'n/a'} "
            f"| {f'{theirs.seconds:.2f}' if theirs else '-'} "
            f"| {ratio(theirs.seconds, ours.seconds) if ours and theirs else '-'} "
            f"| {f'{ours.cpu_seconds:.2f}' if ours else '-'} "
            f"| {f'{theirs.cpu_seconds:.2f}' if theirs else '-'} "
            f"| {ratio(theirs.cpu_seconds, ours.cpu_seconds) if ours and theirs else '-'} "
            f"| {_server(ours)} / {_server(theirs)} "
            f"| {requests_per_file(ours, files) if ours else '-'} "
            f"| {f'{ours.peak_mib:.0f}' if ours else '-'} "
            f"| {f'{theirs.peak_mib:.0f}' if theirs else '-'} |"
        )
    return out


def run(options: argparse.Namespace, workdir: Path) -> list[str]:
    """Measure; return the Markdown lines."""
    src = workdir / "src"
    total = generate(src, options.files, options.min_size, options.max_size)
    expected = tree_digest(src)
    # A real tree's files are older than the clock margin a client-side no-op sync allows
    # (securestore.tree.sync.SETTLE_SECONDS): a file changed within it of its upload is
    # HEADed, which a tree generated right before the upload would make a third of them.
    time.sleep(SETTLE_SECONDS + 1)
    ss, aws = securestore_cli(), aws_cli()
    tuning = ["--concurrency", str(options.concurrency)] if options.concurrency else []
    lines = [
        f"{options.files} files, {total / 1e6:.1f} MB, endpoint {options.endpoint} over TLS, "
        f"aws {'found' if aws else 'NOT found'}"
        + (f", {options.delay_ms:g} ms added each way" if options.delay_ms else "")
        + (f", securestore --concurrency {options.concurrency}" if options.concurrency else ""),
        "",
    ]
    with contextlib.ExitStack() as stack:
        server_pid: list[int | None] = [None]
        found = stack.enter_context(endpoint(options.endpoint, workdir, server_pid))
        relay = None
        if options.delay_ms:
            relay = stack.enter_context(start_relay(found.url, options.delay_ms))
            found = dataclasses.replace(found, url=relay.url)
        env = environment(found)
        bucket = found.bucket

        def go(args: list[str], what: str) -> Run:
            # The server's CPU during this child: on loopback it shares the 2 cores.
            before = process_cpu(server_pid[0])
            done = check(timed(args, env, cwd=workdir), what)
            if server_pid[0] is not None:
                done.report["server_cpu"] = process_cpu(server_pid[0]) - before
            if options.show_requests and done.report.get("requests"):
                print(f"{what}: {done.report['requests']}", file=sys.stderr)
            return done

        def verify(folder: str, what: str) -> None:
            if tree_digest(workdir / folder) != expected:
                raise SystemExit(f"{what}: the downloaded tree differs from the source")

        if "client-side" in options.modes:
            keys = keygen(env, workdir)
            rows: list[tuple[str, Run | None, Run | None]] = []
            up = [*ss, "sync", "src", f"s3://{bucket}/cs/", *keys, *tuning, "--quiet"]
            down = [*ss, "sync", f"s3://{bucket}/cs/", "down-cs", *keys, *tuning, "--quiet"]
            aws_up = aws and [
                *aws, "s3", "sync", "src", f"s3://{bucket}/aws/", "--only-show-errors"
            ]  # fmt: skip
            aws_down = aws and [*aws, "s3", "sync", f"s3://{bucket}/aws/", "down-aws", "--quiet"]
            for what, ours, theirs in (
                ("up", up, aws_up),
                ("up, nothing to do", up, aws_up),
                ("down", down, aws_down),
                ("down, nothing to do", down, aws_down),
            ):
                # Interleaved: securestore, then aws, for each step.
                rows.append((what, go(ours, f"securestore {what}"), theirs and go(theirs, what)))
            verify("down-cs", "securestore client-side sync down")
            if aws:
                verify("down-aws", "aws s3 sync down")
            lines += [
                "### client-side (securestore: raw AES key file)",
                "",
                *_table(rows, options.files),
                "",
            ]
        if "plain" in options.modes:
            rows = []
            if options.endpoint == "local":
                up = [*ss, "sync", "src", f"s3://{bucket}/plain-ss/", *tuning, "--quiet"]
                aws_up = aws and [
                    *aws, "s3", "sync", "src", f"s3://{bucket}/plain/", "--only-show-errors"
                ]  # fmt: skip
                rows.append(("up (SSE-S3)", go(up, "securestore up"), aws_up and go(aws_up, "up")))
            elif aws:
                seed = [*aws, "s3", "sync", "src", f"s3://{bucket}/plain/", "--only-show-errors"]
                rows.append(("up (securestore refuses: no SSE on rclone)", None, go(seed, "up")))
            else:
                raise SystemExit("plain on rclone needs aws-cli to upload the tree")
            prefix = "plain-ss" if options.endpoint == "local" else "plain"
            down = [
                *ss, "sync", f"s3://{bucket}/{prefix}/", "down-plain-ss", *tuning, "--quiet"
            ]  # fmt: skip
            aws_down = aws and [
                *aws, "s3", "sync", f"s3://{bucket}/{prefix}/", "down-plain-aws", "--quiet"
            ]  # fmt: skip
            for what in ("down", "down, nothing to do"):
                rows.append((what, go(down, what), aws_down and go(aws_down, what)))
            verify("down-plain-ss", "securestore plain sync down")
            lines += ["### plain", "", *_table(rows, options.files), ""]
        if relay is not None:
            # It shares the machine's cores with both clients and the server.
            lines.append(f"The latency relay used {relay.cpu_seconds():.2f} s of CPU in all.")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Parse, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="files in the tree")
    parser.add_argument("--min-size", type=int, default=1024)
    parser.add_argument("--max-size", type=int, default=64 * 1024)
    parser.add_argument(
        "--modes",
        default="client-side,plain",
        help="comma-separated: client-side, plain (default both)",
    )
    parser.add_argument("--endpoint", choices=["rclone", "local"], default="rclone")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="add this delay each way through a relay (a distant endpoint; default none)",
    )
    parser.add_argument(
        "--concurrency", type=int, help="securestore's --concurrency (default: its own)"
    )
    parser.add_argument(
        "--show-requests",
        action="store_true",
        help="print securestore's requests by operation for each run to stderr",
    )
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new one)")
    options = parser.parse_args(argv)
    options.modes = {m.strip() for m in options.modes.split(",") if m.strip()}
    if not options.modes <= {"client-side", "plain"}:
        parser.error("--modes takes client-side and/or plain")
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tree-bench-", dir=options.workdir))
    try:
        print("\n".join(run(options, workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

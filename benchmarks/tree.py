"""Tree benchmark: ``securestore sync`` against ``aws s3 sync`` on one endpoint.

Run with ``python -m benchmarks.tree`` (``--help`` for options). It generates a
tree of small files (default 10,000 of 1-64 KiB), starts an endpoint (``rclone
serve s3`` over TLS when rclone is found, else the embedded moto endpoint in
this process), and times, each as a whole child process with its peak RSS:

* ``securestore sync DIR s3://B/ss/`` (plain, or ``--client-side`` with a key file),
  then the same again with nothing to do (the comparison cost: for client-side
  objects one HEAD per file), then ``securestore sync s3://B/ss/ DOWN``;
* the same three with ``aws s3 sync`` when the ``aws`` executable is found.

Results go to standard output as a Markdown table. Not part of the test suite;
moto's absolute times say little about AWS: compare the tools within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

REGION = "us-east-1"
BUCKET = "tree-bench"


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


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Run ``args``; return (seconds, peak RSS in KiB, exit code)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        # stderr to a file, not a pipe: a pipe nobody reads blocks a chatty child.
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            sys.stderr.write(errors.read()[-4000:].decode(errors="replace"))
    return elapsed, usage.ru_maxrss, code


def _endpoint(workdir: Path, rclone: bool) -> tuple[dict[str, str], object]:
    """Start an endpoint; return the AWS environment that reaches it and a handle to stop."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.endpoints import RcloneS3, find_rclone

    if rclone and find_rclone():
        server = RcloneS3(workdir)
        endpoint = server.start()
        env = {
            "AWS_ENDPOINT_URL": endpoint.url,
            "AWS_CA_BUNDLE": str(endpoint.ca_bundle),
            "AWS_ACCESS_KEY_ID": endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
        }
        return {**env, "BENCH_BUCKET": endpoint.bucket}, server
    from securestore.local import LocalEndpoint

    local = LocalEndpoint(state_dir=workdir / "state").start()
    assert local.certificates is not None
    env = {
        "AWS_ENDPOINT_URL": local.url,
        "AWS_CA_BUNDLE": str(local.certificates.ca_cert),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    boto3.client(
        "s3",
        endpoint_url=local.url,
        verify=env["AWS_CA_BUNDLE"],
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=BUCKET)
    return {**env, "BENCH_BUCKET": BUCKET}, local


def main(argv: list[str] | None = None) -> None:
    """Generate, start, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--min-size", type=int, default=1024)
    parser.add_argument("--max-size", type=int, default=64 * 1024)
    parser.add_argument("--client-side", action="store_true", help="securestore: AES key file")
    parser.add_argument(
        "--endpoint",
        choices=["auto", "rclone", "local"],
        default="auto",
        help="auto: rclone for --client-side (rclone has no SSE, which securestore "
        "refuses to do without), else the embedded moto endpoint",
    )
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tree-bench-"))
    try:
        total = generate(workdir / "src", options.files, options.min_size, options.max_size)
        use_rclone = options.endpoint == "rclone" or (
            options.endpoint == "auto" and options.client_side
        )
        aws_env, server = _endpoint(workdir, use_rclone)
        bucket = aws_env.pop("BENCH_BUCKET")
        env = {
            **os.environ,
            **aws_env,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # As the benchmark's boto3 clients do: rclone refuses aws-chunked uploads.
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }
        securestore = [sys.executable, "-m", "securestore_cli"]
        keys: list[str] = []
        if options.client_side:
            (workdir / "keys").mkdir(mode=0o700)
            key = workdir / "keys" / "bench.key"
            subprocess.run([*securestore, "keygen", "--aes", str(key)], env=env, check=True)
            keys = ["--key-file", str(key)]
        runs = [
            ("securestore", "up", [*securestore, "sync", "src", f"s3://{bucket}/ss/", *keys]),
            (
                "securestore",
                "up, no-op",
                [*securestore, "sync", "src", f"s3://{bucket}/ss/", *keys],
            ),
            ("securestore", "down", [*securestore, "sync", f"s3://{bucket}/ss/", "down-ss", *keys]),
        ]
        aws = shutil.which("aws")
        if aws:
            runs += [
                (
                    "aws",
                    "up",
                    [aws, "s3", "sync", "src", f"s3://{bucket}/aws/", "--only-show-errors"],
                ),
                ("aws", "up, no-op", [aws, "s3", "sync", "src", f"s3://{bucket}/aws/"]),
                ("aws", "down", [aws, "s3", "sync", f"s3://{bucket}/aws/", "down-aws"]),
            ]
        os.chdir(workdir)
        mode = "client-side (AES key file)" if options.client_side else "SSE-S3 / plain"
        print(f"{options.files} files, {total / 1e6:.1f} MB, securestore {mode}\n")
        print("| tool | sync | seconds | peak RSS MiB | exit |")
        print("| --- | --- | ---: | ---: | ---: |")
        for tool, what, args in runs:
            seconds, rss, code = timed(args, env)
            print(f"| {tool} | {what} | {seconds:.2f} | {rss / 1024:.0f} | {code} |")
        stop = getattr(server, "stop", None)
        if callable(stop):
            stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""One transfer in a fresh process, so that its peak memory is its own.

``python -m benchmarks.child OP KEY [PATH]`` with the endpoint in ``BENCH_S3_*``
variables and the hex wrapping key in ``BENCH_WRAPPING_KEY``. Prints one JSON
line: seconds of the transfer alone (imports and set-up excluded), its CPU seconds
(user + system, all threads: load-independent) and context switches, seconds spent
in ``fsync``, and the peak RSS (``VmHWM``) before and after the transfer.

OPs: ``ss-put``/``ss-get`` (securestore client-side ``upload_file``/``download_file``),
``ss-pipe-put`` (``put`` from stdin, a pipe of unknown length), ``sse-get`` (securestore's
server-side read path: ``download_file`` of a plain object by a store without a keyring),
``ss-stream-put`` (``put`` of a generated stream of PATH bytes, unknown length; also reports
the size of every part sent), ``boto-put``/``boto-get``
(plain boto3 ``upload_file``/``download_file``; the get is followed by an ``fsync``
so that both sides can be compared with and without durability).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.endpoints import S3Endpoint
from benchmarks.timing import MiB

PART_SIZE = 8 * MiB
CONCURRENCY = 4


def vm_hwm_kib() -> int:
    """Peak resident set size of this process, KiB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds() -> float:
    """User plus system CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _switches() -> int:
    """Context switches of this process so far (voluntary and not): thread hand-offs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


class _FsyncTimer:
    """Wraps ``os.fsync`` to add up the seconds it takes."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._real = os.fsync

    def __call__(self, fd: Any) -> None:
        start = time.perf_counter()
        self._real(fd)
        self.seconds += time.perf_counter() - start


def _securestore(endpoint: S3Endpoint, *, client_side: bool = True) -> Any:
    from securestore import SecureStore, TransferConfig
    from securestore.clientside import ClientSide
    from securestore.keyrings import RawAesKeyring

    key = bytes.fromhex(os.environ["BENCH_WRAPPING_KEY"])
    return SecureStore(
        endpoint.bucket,
        encryption=ClientSide(RawAesKeyring("bench", "key", key)) if client_side else None,
        connection=endpoint.connection(),
        transfer=TransferConfig(part_size=PART_SIZE, concurrency=CONCURRENCY),
    )


class GeneratedStream:
    """``total`` bytes of unknown length (only ``read``), cut from one random block.

    The block is made once, so generating costs a copy per read, not the time of
    ``os.urandom``; the bytes still differ from part to part at the block's period.
    """

    def __init__(self, total: int, block: int = 3 * MiB + 17) -> None:
        self.left = total
        self.block = os.urandom(block)
        self.offset = 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        block = memoryview(self.block)
        pieces, want = [], n
        while want:
            take = min(want, len(block) - self.offset)
            pieces.append(block[self.offset : self.offset + take])
            self.offset = (self.offset + take) % len(block)
            want -= take
        self.left -= n
        return b"".join(pieces)  # one allocation of n bytes


def _boto3(endpoint: S3Endpoint) -> tuple[Any, Any]:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
        max_concurrency=CONCURRENCY,
        use_threads=True,
    )
    return endpoint.boto3_client(), config


def main(argv: list[str]) -> None:
    op, key = argv[0], argv[1]
    path = argv[2] if len(argv) > 2 else ""
    endpoint = S3Endpoint.from_env(os.environ)
    timer = _FsyncTimer()
    os.fsync = timer
    parts: dict[int, int] = {}
    if op.startswith(("ss-", "sse-")):
        store = _securestore(endpoint, client_side=op.startswith("ss-"))
        client: Any = store.connection.client("s3")

        def note(params: dict[str, Any], **_: Any) -> None:
            size = len(params["Body"])
            parts[size] = parts.get(size, 0) + 1

        client.meta.events.register("provide-client-params.s3.UploadPart", note)
    else:
        client, config = _boto3(endpoint)
    client.list_objects_v2(Bucket=endpoint.bucket, MaxKeys=1)  # connect, warm the pool
    if op.endswith("-get"):
        # rclone computes an object's ETag (the MD5 of the whole file) at its first HEAD
        # or GET after an upload or a restart, and keeps it: 1.4-1.6 s per GiB that S3,
        # which stores the ETag, never spends. Paid here, untimed, by every side alike.
        client.head_object(Bucket=endpoint.bucket, Key=key)
    before = vm_hwm_kib()
    cpu_start, switches_start = _cpu_seconds(), _switches()
    start = time.perf_counter()
    if op == "ss-put":
        store.upload_file(path, key)
    elif op in ("ss-get", "sse-get"):
        store.download_file(key, path)
    elif op == "ss-stream-put":
        store.put(key, GeneratedStream(int(path)))
    elif op == "ss-pipe-put":
        store.put(key, sys.stdin.buffer)
    elif op == "boto-put":
        client.upload_file(path, endpoint.bucket, key, Config=config)
    elif op == "boto-get":
        client.download_file(endpoint.bucket, key, path, Config=config)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        raise SystemExit(f"unknown op {op}")
    seconds = time.perf_counter() - start
    cpu, switches = _cpu_seconds() - cpu_start, _switches() - switches_start
    print(
        json.dumps(
            {
                "op": op,
                "seconds": seconds,
                "fsync_seconds": timer.seconds,
                "cpu_seconds": cpu,
                "context_switches": switches,
                "vmhwm_before_kib": before,
                "vmhwm_kib": vm_hwm_kib(),
                "parts": {str(size): count for size, count in sorted(parts.items())},
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])

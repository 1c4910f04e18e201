"""Upload and download of one large file: securestore client-side vs plain boto3.

Each transfer runs in its own process (:mod:`benchmarks.child`) so that its peak
RSS is its own; rounds rotate which side goes first. Both sides use 8 MiB
parts and 4 in flight (securestore's default ``TransferConfig``; boto3's
``TransferConfig(multipart_chunksize=8 MiB, max_concurrency=4)``). Downloads
compare securestore's client-side path and its server-side path (a plain object
read by a store without a keyring: rclone stores no SSE) with plain boto3.

A generated stream of unknown length is then put once (``BENCH_STREAM_MIB``,
default 256; ``BENCH_STREAM_MIB=20480`` for the 20 GiB figure), reporting its
peak RSS and the parts sent, checked against the planned schedule.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.endpoints import Fixture
from benchmarks.report import Section, Table, Target
from benchmarks.timing import MiB, mb_per_s

SECURE_KEY = "transfer/secure.bin"
PLAIN_KEY = "transfer/plain.bin"
PIPE_KEY = "transfer/pipe.bin"
STREAM_KEY = "transfer/stream.bin"
STREAM_MIB_DEFAULT = 256
RATIO_GOAL = 0.9
RSS_GOAL_MIB = 150
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ChildResult:
    """What one child process reported, plus its rusage peak."""

    op: str
    seconds: float
    fsync_seconds: float
    vmhwm_before_kib: int
    vmhwm_kib: int
    parts: dict[int, int]
    #: User + system CPU seconds of the transfer (all threads): load-independent.
    cpu_seconds: float = 0.0

    @property
    def peak_mib(self) -> float:
        return self.vmhwm_kib / 1024


def source_file(workdir: Path, size: int) -> Path:
    """A file of ``size`` random bytes (created once per run)."""
    path = workdir / f"source-{size}.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    block = 64 * MiB
    with path.open("wb") as out:
        left = size
        while left:
            out.write(os.urandom(min(block, left)))
            left -= min(block, left)
    return path


def digest(path: Path) -> str:
    """SHA-256 of a file."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def run_child(
    fixture: Fixture,
    op: str,
    key: str,
    path: Path | str | None = None,
    stdin: IO[bytes] | None = None,
) -> ChildResult:
    """Run one transfer in a fresh interpreter and collect its numbers.

    Dirty pages are written out first (``os.sync``, not timed): a download timed right
    after a 1 GiB upload otherwise shares the disk with the kernel's writeback of the
    server's new object, which costs the side that fsyncs (securestore) and not the one
    that does not, depending only on which side comes first in the round.
    """
    os.sync()
    env = {
        **os.environ,
        **fixture.endpoint.env(),
        "BENCH_WRAPPING_KEY": fixture.wrapping_key.hex(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [sys.executable, "-m", "benchmarks.child", op, key]
    if path is not None:
        cmd.append(str(path))
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=ROOT
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{op} failed: {errors.read().decode(errors='replace')[-3000:]}")
    data: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return ChildResult(
        op=op,
        seconds=data["seconds"],
        fsync_seconds=data["fsync_seconds"],
        vmhwm_before_kib=data["vmhwm_before_kib"],
        vmhwm_kib=data["vmhwm_kib"],
        parts={int(size): count for size, count in data.get("parts", {}).items()},
        cpu_seconds=data.get("cpu_seconds", 0.0),
    )


def pipe_put(fixture: Fixture, source: Path) -> ChildResult:
    """``put`` of ``source`` read by the child from a pipe (``cat source |``)."""
    with subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        try:
            return run_child(fixture, "ss-pipe-put", PIPE_KEY, stdin=cat.stdout)
        finally:
            cat.stdout.close()


def _check_download(path: Path, expected: str, what: str) -> None:
    got = digest(path)
    path.unlink()
    if got != expected:
        raise AssertionError(f"{what}: downloaded file differs from the source")


def ensure_objects(fixture: Fixture, size: int) -> Path:
    """Make sure the secure and plain objects of ``size`` bytes exist; return the source."""
    source = source_file(fixture.workdir, size)
    client = fixture.endpoint.boto3_client()
    for key, op in ((SECURE_KEY, "ss-put"), (PLAIN_KEY, "boto-put")):
        try:
            client.head_object(Bucket=fixture.endpoint.bucket, Key=key)
        except client.exceptions.ClientError:
            run_child(fixture, op, key, source)
    return source


GET_KEYS = {"ss": SECURE_KEY, "sse": PLAIN_KEY, "boto": PLAIN_KEY}


def run(fixture: Fixture, size_mib: int, rounds: int) -> Section:
    """Measure and judge benchmark 2."""
    size = size_mib * MiB
    source = source_file(fixture.workdir, size)
    expected = digest(source)
    results: dict[str, list[ChildResult]] = {}
    out = fixture.workdir / "download.bin"
    for round_number in range(rounds):
        sides = ["boto", "ss"] if round_number % 2 == 0 else ["ss", "boto"]
        for side in sides:
            key = SECURE_KEY if side == "ss" else PLAIN_KEY
            results.setdefault(f"{side}-put", []).append(
                run_child(fixture, f"{side}-put", key, source)
            )
        getters = ["boto", "ss", "sse"]
        shift = round_number % len(getters)
        for side in getters[shift:] + getters[:shift]:
            results.setdefault(f"{side}-get", []).append(
                run_child(fixture, f"{side}-get", GET_KEYS[side], out)
            )
            if round_number == 0:
                _check_download(out, expected, f"{side}-get")
            else:
                out.unlink()
    pipe = pipe_put(fixture, source)
    reader = fixture.store().open(PIPE_KEY)
    with reader:
        if reader.size != size:
            raise AssertionError("the piped object has the wrong plaintext length")
        with source.open("rb") as handle:
            handle.seek(size // 2)
            if reader.read_range(size // 2, MiB) != handle.read(MiB):
                raise AssertionError("the piped object does not decrypt to the source")
    stream_mib = int(os.environ.get("BENCH_STREAM_MIB", STREAM_MIB_DEFAULT))
    stream = run_child(fixture, "ss-stream-put", STREAM_KEY, str(stream_mib * MiB))
    fixture.endpoint.boto3_client().delete_object(Bucket=fixture.endpoint.bucket, Key=STREAM_KEY)
    section = _section(size_mib, rounds, results, pipe)
    _stream_section(section, stream_mib, stream)
    return section


def planned_parts(total: int) -> collections.Counter[int]:
    """Plaintext part sizes the default client-side store plans for a ``total``-byte stream,
    the last part left out (it holds whatever remains)."""
    from securestore import TransferConfig
    from securestore.clientside import ClientSide
    from securestore.keyrings import RawAesKeyring
    from securestore.writing import part_schedule

    mode = ClientSide(RawAesKeyring("bench", "key", bytes(32)))
    schedule = part_schedule(TransferConfig(), mode, None, None)
    sizes: collections.Counter[int] = collections.Counter()
    number, offset = 1, 0
    while offset + schedule.size(number) < total:
        sizes[schedule.size(number)] += 1
        offset += schedule.size(number)
        number += 1
    return sizes


def sent_plaintext_parts(parts: dict[int, int]) -> collections.Counter[int]:
    """The plaintext sizes of the parts sent (ciphertext lengths in whole frames),
    the smallest (the last) left out."""
    from securestore.message import DEFAULT_FRAME_LENGTH
    from securestore.message.frames import REGULAR_FRAME_OVERHEAD

    frame_size = DEFAULT_FRAME_LENGTH + REGULAR_FRAME_OVERHEAD
    sizes: collections.Counter[int] = collections.Counter()
    for length, count in parts.items():
        # Part 1 also holds the header (far less than a frame).
        sizes[length // frame_size * DEFAULT_FRAME_LENGTH] += count
    smallest = min(sizes)
    sizes[smallest] -= 1
    return +sizes


def _describe_parts(sizes: collections.Counter[int]) -> str:
    return ", ".join(f"{count} x {size / MiB:g} MiB" for size, count in sorted(sizes.items()))


def _stream_section(section: Section, stream_mib: int, stream: ChildResult) -> None:
    planned = planned_parts(stream_mib * MiB)
    sent = sent_plaintext_parts(stream.parts)
    table = Table(
        f"put of a generated {stream_mib} MiB stream of unknown length (client-side)",
        ["MB/s", "peak RSS, MiB", "parts sent (plaintext, last part left out)", "as planned"],
    )
    table.rows.append(
        [
            f"{mb_per_s(stream_mib * MiB, stream.seconds):.0f}",
            f"{stream.peak_mib:.0f} ({stream.vmhwm_before_kib / 1024:.0f})",
            _describe_parts(sent) or "one part",
            "yes" if sent == planned else f"no: planned {_describe_parts(planned)}",
        ]
    )
    section.tables.append(table)
    section.targets.append(
        Target(
            f"{stream_mib} MiB put - stream: peak RSS, parts as planned",
            f"{stream.peak_mib:.0f} MiB; parts {'as planned' if sent == planned else 'differ'}",
            f"≤ {RSS_GOAL_MIB} MiB at 20 GiB",
            stream.peak_mib <= RSS_GOAL_MIB and sent == planned,
        )
    )
    section.notes.append(
        "The stream is generated in the child (a random 3 MiB block repeated), read only "
        "through read(); parts keep 8 MiB for the first 2,560 (20 GiB) and then grow "
        "(securestore.parts). Set BENCH_STREAM_MIB=20480 for the 20 GiB figure."
    )


def _best(results: list[ChildResult], *, with_fsync: bool = True) -> float:
    return min(r.seconds - (0 if with_fsync else r.fsync_seconds) for r in results)


def _cpu_table(size: int, results: dict[str, list[ChildResult]]) -> Table:
    """CPU seconds per GiB of each transfer process (median over rounds): the figure
    that does not move with the machine's load, unlike the throughput above."""
    table = Table(
        "CPU seconds per GiB of the transfer process (user + system, all threads; median)",
        ["transfer", "securestore", "plain boto3"],
    )

    def per_gib(op: str) -> str:
        runs = sorted(r.cpu_seconds for r in results[op])
        return f"{runs[len(runs) // 2] * (1024 * MiB) / size:.2f}"

    table.rows.append(["upload_file (client-side)", per_gib("ss-put"), per_gib("boto-put")])
    table.rows.append(["download_file (client-side)", per_gib("ss-get"), per_gib("boto-get")])
    table.rows.append(["download_file (server-side path)", per_gib("sse-get"), per_gib("boto-get")])
    return table


def _section(
    size_mib: int, rounds: int, results: dict[str, list[ChildResult]], pipe: ChildResult
) -> Section:
    size = size_mib * MiB
    section = Section(
        "transfer", f"2. Upload and download of {size_mib} MiB over TLS (rclone serve s3)"
    )
    up_ss, up_boto = (mb_per_s(size, _best(results[k])) for k in ("ss-put", "boto-put"))
    down = {
        (side, fsync): mb_per_s(size, _best(results[f"{side}-get"], with_fsync=fsync))
        for side in ("ss", "sse", "boto")
        for fsync in (True, False)
    }
    table = Table(
        f"Throughput, MB/s (best of {rounds}; ratio = securestore ÷ boto3)",
        ["transfer", "securestore client-side", "plain boto3", "ratio"],
    )
    table.rows.append(["upload_file", f"{up_ss:.0f}", f"{up_boto:.0f}", f"{up_ss / up_boto:.2f}x"])
    as_is = down[("ss", True)] / down[("boto", False)]
    table.rows.append(
        [
            "download_file as shipped (securestore fsyncs, boto3 does not)",
            f"{down[('ss', True)]:.0f}",
            f"{down[('boto', False)]:.0f}",
            f"{as_is:.2f}x",
        ]
    )
    for fsync, text in ((False, "both without fsync"), (True, "both with fsync")):
        ratio = down[("ss", fsync)] / down[("boto", fsync)]
        table.rows.append(
            [
                f"download_file, {text}",
                f"{down[('ss', fsync)]:.0f}",
                f"{down[('boto', fsync)]:.0f}",
                f"{ratio:.2f}x",
            ]
        )
    sse = down[("sse", False)] / down[("boto", False)]
    table.rows.append(
        [
            "download_file, server-side path (plain object, no keyring), both without fsync",
            f"{down[('sse', False)]:.0f}",
            f"{down[('boto', False)]:.0f}",
            f"{sse:.2f}x",
        ]
    )
    table.rows.append(
        ["put from a pipe (unknown length)", f"{mb_per_s(size, pipe.seconds):.0f}", "—", "—"]
    )
    section.tables.append(table)
    section.tables.append(_cpu_table(size, results))

    memory = Table(
        "Peak RSS of the transfer process, MiB (max over rounds; VmHWM after imports in brackets)",
        ["transfer", "securestore client-side", "plain boto3"],
    )
    peaks: dict[str, float] = {}
    for op in ("put", "get"):
        cells = []
        for side in ("ss", "boto"):
            runs = results[f"{side}-{op}"]
            peak = max(r.peak_mib for r in runs)
            peaks[f"{side}-{op}"] = peak
            cells.append(f"{peak:.0f} ({max(r.vmhwm_before_kib for r in runs) / 1024:.0f})")
        memory.rows.append([f"{op} ({'upload_file' if op == 'put' else 'download_file'})", *cells])
    peaks["ss-pipe"] = pipe.peak_mib
    memory.rows.append(
        [
            "put from a pipe (unknown length)",
            f"{pipe.peak_mib:.0f} ({pipe.vmhwm_before_kib / 1024:.0f})",
            "—",
        ]
    )
    section.tables.append(memory)

    fsync_s = min(r.fsync_seconds for r in results["ss-get"])
    fsync_note = f"securestore's fsync of the {size_mib} MiB download took at least {fsync_s:.2f} s"
    section.targets.append(
        Target(
            "upload_file throughput vs boto3",
            f"{up_ss / up_boto:.2f}x",
            f"≥ {RATIO_GOAL}x",
            up_ss / up_boto >= RATIO_GOAL,
        )
    )
    no_fsync = down[("ss", False)] / down[("boto", False)]
    section.targets.append(
        Target(
            "download_file throughput vs boto3",
            f"{as_is:.2f}x as shipped; {no_fsync:.2f}x both without fsync",
            f"≥ {RATIO_GOAL}x",
            as_is >= RATIO_GOAL,
            ""
            if as_is >= RATIO_GOAL
            else (
                "securestore fsyncs before renaming, boto3 does not"
                if no_fsync >= RATIO_GOAL
                else "slower even without fsync"
            ),
        )
    )
    section.targets.append(
        Target(
            "download_file throughput vs boto3, server-side path",
            f"{sse:.2f}x both without fsync",
            f"≥ {RATIO_GOAL}x",
            sse >= RATIO_GOAL,
        )
    )
    for key, text in (
        ("ss-put", "upload_file"),
        ("ss-get", "download_file"),
        ("ss-pipe", "put from a pipe"),
    ):
        section.targets.append(
            Target(
                f"peak RSS, client-side {text}",
                f"{peaks[key]:.0f} MiB",
                f"≤ {RSS_GOAL_MIB} MiB",
                peaks[key] <= RSS_GOAL_MIB,
            )
        )
    section.notes.append(
        "securestore: default TransferConfig (8 MiB parts, concurrency 4), "
        "ClientSide(RawAesKeyring), 256 KiB frames; boto3: TransferConfig(multipart_threshold="
        "8 MiB, multipart_chunksize=8 MiB, max_concurrency=4), verify=<local CA>, "
        "request_checksum_calculation and response_checksum_validation 'when_required'."
    )
    section.notes.append(
        "Times cover the transfer call only (process start and imports excluded); every "
        "download was checked against the source's SHA-256 in the first round; " + fsync_note + "."
    )
    section.notes.append(
        "Peak RSS is the child's own VmHWM (/proc/self/status). getrusage/wait4 ru_maxrss is "
        "not used: it carries over the parent's RSS at fork into the exec'd child; "
        "the bracketed figure is the same process after imports and connecting, before the "
        "transfer."
    )
    return section

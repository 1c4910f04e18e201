"""Ranged reads of a client-side object: bytes fetched from the server and time.

Bytes are counted on the wire side of botocore: an ``after-call.s3.GetObject``
hook adds up each response's ``ContentLength``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.endpoints import Fixture
from benchmarks.report import Section, Table, Target
from benchmarks.timing import MiB, best_of, fmt_bytes
from benchmarks.transfer import PLAIN_KEY, SECURE_KEY, ensure_objects
from securestore.message.frames import REGULAR_FRAME_OVERHEAD


class GetCounter:
    """Counts GetObject requests and their body bytes on one botocore client."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.bytes = 0
        client.meta.events.register("after-call.s3.GetObject", self._on_get)

    def _on_get(self, parsed: dict[str, Any], **_: Any) -> None:
        self.requests += 1
        self.bytes += int(parsed.get("ContentLength", 0))

    def take(self) -> tuple[int, int]:
        """(requests, bytes) since the last call."""
        counts = (self.requests, self.bytes)
        self.requests = self.bytes = 0
        return counts


def measure_read(
    store: Any, key: str, offset: int, length: int, repeat: int, baseline: Callable[[], bytes]
) -> dict[str, Any]:
    """Bytes fetched by ``open`` and by ``read_range``; best times, ``baseline`` interleaved."""
    counter = GetCounter(store.connection.client("s3"))
    counter.take()
    reader = store.open(key)
    open_requests, open_bytes = counter.take()
    data = reader.read_range(offset, length)
    read_requests, read_bytes = counter.take()

    def open_and_read() -> bytes:
        with store.open(key) as fresh:
            result: bytes = fresh.read_range(offset, length)
            return result

    times = best_of(
        {
            "open+read": open_and_read,
            "read": lambda: reader.read_range(offset, length),
            "plain": baseline,
        },
        repeat,
    )
    reader.close()
    return {
        "data": data,
        "frame": reader.header.frame_length,
        "header_length": reader.header.length,
        "open_requests": open_requests,
        "open_bytes": open_bytes,
        "read_requests": read_requests,
        "read_bytes": read_bytes,
        **times,
    }


def plain_read(fixture: Fixture, offset: int, length: int) -> Callable[[], bytes]:
    """A plain boto3 ranged GET of the same plaintext range of the plain object."""
    client = fixture.endpoint.boto3_client()

    def read() -> bytes:
        body = client.get_object(
            Bucket=fixture.endpoint.bucket,
            Key=PLAIN_KEY,
            Range=f"bytes={offset}-{offset + length - 1}",
        )["Body"]
        data: bytes = body.read()
        return data

    return read


def run(fixture: Fixture, size_mib: int, repeat: int) -> Section:
    """Measure and judge benchmark 3."""
    size = size_mib * MiB
    source = ensure_objects(fixture, size)
    length = MiB
    # The middle, shifted off every frame boundary: the worst case spans one frame more.
    offset = size // 2 + 4097
    plain = plain_read(fixture, offset, length)
    result = measure_read(fixture.store(), SECURE_KEY, offset, length, repeat, plain)
    with source.open("rb") as handle:
        handle.seek(offset)
        expected = handle.read(length)
    if result["data"] != expected or plain() != expected:
        raise AssertionError("ranged read returned the wrong bytes")
    plain_time = result["plain"]

    frame = result["frame"]
    frame_bytes = frame + REGULAR_FRAME_OVERHEAD
    budget = length + 2 * frame_bytes + result["header_length"]
    total = result["open_bytes"] + result["read_bytes"]
    section = Section(
        "ranged", f"3. Ranged read of 1 MiB at offset {offset} of the {size_mib} MiB object"
    )
    table = Table(
        f"Bytes fetched and time (best of {repeat})",
        ["read", "GET requests", "bytes fetched", "time, ms", "time ÷ plain GET"],
    )
    table.rows.append(
        [
            "securestore open() (one 4 KiB GET: metadata and header)",
            str(result["open_requests"]),
            fmt_bytes(result["open_bytes"]),
            "—",
            "—",
        ]
    )
    table.rows.append(
        [
            "securestore read_range(1 MiB) on an open reader",
            str(result["read_requests"]),
            fmt_bytes(result["read_bytes"]),
            f"{result['read'] * 1e3:.1f}",
            f"{result['read'] / plain_time:.2f}x",
        ]
    )
    table.rows.append(
        [
            "securestore open() + read_range(1 MiB)",
            str(result["open_requests"] + result["read_requests"]),
            fmt_bytes(total),
            f"{result['open+read'] * 1e3:.1f}",
            f"{result['open+read'] / plain_time:.2f}x",
        ]
    )
    table.rows.append(
        ["plain boto3 ranged GetObject", "1", fmt_bytes(length), f"{plain_time * 1e3:.1f}", "1.00x"]
    )
    section.tables.append(table)
    section.targets.append(
        Target(
            "bytes fetched for 1 MiB (open + read_range)",
            fmt_bytes(total),
            f"≤ 1 MiB + 2 frames + header = {budget} B",
            total <= budget,
        )
    )
    frames_read = -(-(result["read_bytes"]) // frame_bytes)
    section.notes.append(
        f"Frame length {frame // 1024} KiB: the read spans {frames_read} frames "
        f"({fmt_bytes(result['read_bytes'])}); the header is {result['header_length']} B, "
        f"fetched by open() with a {result['open_bytes']} B probe, the only request open() sends."
    )
    return section

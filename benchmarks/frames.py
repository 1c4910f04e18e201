"""The frame-length sweep behind the default (docs/format.md, "Default frame length").

For each frame length: in-memory encrypt/decrypt throughput (with the raw
AES-GCM baseline of the same chunking), and the bytes a 4 KiB ranged read
fetches from the server, inside one frame and across a frame boundary.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from benchmarks.crypto import engine_cases
from benchmarks.endpoints import Fixture
from benchmarks.ranged import GetCounter
from benchmarks.report import Section, Table
from benchmarks.timing import MiB, best_of, mb_per_s
from securestore.keyrings import RawAesKeyring
from securestore.message import DEFAULT_FRAME_LENGTH

FRAMES = (64 * 1024, 256 * 1024, MiB)
READ = 4096


def _label(frame: int) -> str:
    text = f"{frame // MiB} MiB" if frame >= MiB else f"{frame // 1024} KiB"
    return text + (" (default)" if frame == DEFAULT_FRAME_LENGTH else "")


def ranged_bytes(fixture: Fixture, frame: int, object_mib: int) -> dict[str, int]:
    """Bytes fetched by ``read_range`` of 4 KiB within one frame and across two."""
    store = fixture.store(frame_length=frame)
    data = os.urandom(object_mib * MiB)
    key = f"frames/{frame}.bin"
    store.put(key, data)
    counter = GetCounter(store.connection.client("s3"))
    counter.take()
    middle = (len(data) // frame // 2) * frame
    out: dict[str, int] = {}
    with store.open(key) as reader:
        _, out["open"] = counter.take()
        out["header"] = reader.header.length
        for name, offset in (("inside", middle + 1000), ("across", middle - READ // 2)):
            if reader.read_range(offset, READ) != data[offset : offset + READ]:
                raise AssertionError("ranged read returned the wrong bytes")
            _, out[name] = counter.take()
    store.delete(key)
    return out


def run(fixture: Fixture | None, size_mib: int, object_mib: int, repeat: int) -> Section:
    """Measure benchmark 4; ranged bytes need ``fixture`` (skipped when ``None``)."""
    size = size_mib * MiB
    data = os.urandom(size)
    key = os.urandom(32)
    keyring = RawAesKeyring("bench", "key", key)
    aead = AESGCM(key)
    rates: dict[int, dict[str, float]] = {}
    for frame in FRAMES:
        cases = engine_cases(data, keyring, aead, frame)
        cases = {k: v for k, v in cases.items() if "stream" not in k}
        rates[frame] = {k: mb_per_s(size, s) for k, s in best_of(cases, repeat).items()}
    fetched = {f: ranged_bytes(fixture, f, object_mib) for f in FRAMES} if fixture else {}

    section = Section("frames", f"4. Frame-length sweep ({size_mib} MiB in memory)")
    table = Table(
        f"Throughput MB/s (best of {repeat}; ratio to raw AESGCM with the same chunks) and bytes "
        "fetched by a 4 KiB read_range",
        [
            "frame length",
            "frame API enc, reused buffer",
            "frame API dec, reused buffer",
            "encrypt() / decrypt(), fresh buffer",
            "4 KiB read inside a frame",
            "4 KiB read across a boundary",
            "open(): header probe",
        ],
    )
    for frame in FRAMES:
        r = rates[frame]
        got = fetched.get(frame)
        table.rows.append(
            [
                _label(frame),
                f"{r['ours encrypt reused']:.0f} "
                f"({r['ours encrypt reused'] / r['raw encrypt reused']:.2f}x)",
                f"{r['ours decrypt reused']:.0f} "
                f"({r['ours decrypt reused'] / r['raw decrypt reused']:.2f}x)",
                f"{r['ours encrypt']:.0f} ({r['ours encrypt'] / r['raw encrypt']:.2f}x) / "
                f"{r['ours decrypt']:.0f} ({r['ours decrypt'] / r['raw decrypt']:.2f}x)",
                f"{got['inside']} B" if got else "-",
                f"{got['across']} B" if got else "-",
                f"{got['open']} B (header {got['header']} B)" if got else "-",
            ]
        )
    section.tables.append(table)

    default, small, large = DEFAULT_FRAME_LENGTH, FRAMES[0], FRAMES[-1]
    enc = {f: rates[f]["ours encrypt reused"] for f in FRAMES}
    dec = {f: rates[f]["ours decrypt reused"] for f in FRAMES}
    section.notes.append(
        "Frame API (no allocation noise), 256 KiB vs 1 MiB: encrypt "
        f"{enc[default] / enc[large]:.2f}x, decrypt "
        f"{dec[default] / dec[large]:.2f}x the throughput, for 4x less over-read on small "
        f"ranged reads; 64 KiB vs 256 KiB: encrypt {enc[small] / enc[default]:.2f}x, decrypt "
        f"{dec[small] / dec[default]:.2f}x, for 4x less over-read again."
    )
    section.notes.append(
        "Network time dominates either way: every frame length is far faster in memory than "
        "the ~100-250 MB/s the local TLS endpoint moves (section 2), so the choice is about "
        "ranged-read granularity and per-frame overhead (32 B per frame: 0.05 % at 64 KiB, "
        "0.012 % at 256 KiB) rather than throughput."
    )
    if fetched:
        section.notes.append(
            f"{object_mib} MiB objects were written with each frame length; bytes are GetObject "
            "ContentLength summed by an after-call hook (the HEAD of open() carries no body)."
        )
    return section

"""Best-of-N timing on a noisy machine: cases are interleaved so that a slow
spell hurts every case alike, and the minimum of each is kept."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping

MiB = 1024 * 1024


def best_of(cases: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Seconds of the fastest of ``repeat`` runs of each case (cases interleaved)."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, fn in cases.items():
            gc.collect()
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            del result
            best[name] = min(best[name], elapsed)
    return best


def mb_per_s(nbytes: int, seconds: float) -> float:
    """Throughput in MB/s (10^6 bytes per second)."""
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def fmt_bytes(n: int) -> str:
    """``1.25 MiB (1310880 B)`` style, exact bytes kept."""
    if n >= MiB:
        return f"{n / MiB:.3f} MiB ({n} B)"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB ({n} B)"
    return f"{n} B"

"""Client-side puts and downloads hold bounded memory, whatever the object size.

Peak memory is traced with ``tracemalloc`` while a 64 MiB non-seekable stream
of unknown length is put (5 MiB parts, 3 in flight) and downloaded again.
Measured on the 2-core test machine (one run): about 50-54 MiB for the put and
15-26 MiB for the download. The put holds, per part in flight, its plaintext,
its ciphertext and botocore's copy of the request (http.client joins headers
and a bytes body into one buffer), plus the part waiting for a free worker and
the one being read: a bound set by the transfer settings, not by the body size.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from securestore import SecureStore
from securestore.keyrings import RawAesKeyring
from tests.clientside.conftest import KiB, MiB

TOTAL = 64 * MiB


class RandomStream:
    """``total`` fresh random bytes made on demand (never held whole), hashed as read.

    Only ``read`` exists: no ``seek``, no ``tell``, no length.
    """

    def __init__(self, total: int) -> None:
        self.left = total
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        piece = os.urandom(n)
        self.digest.update(piece)
        return piece


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(MiB):
            digest.update(piece)
    return digest.hexdigest()


def traced_peak(action: Callable[[], object]) -> int:
    tracemalloc.reset_peak()
    action()
    return tracemalloc.get_traced_memory()[1]


def test_put_and_download_of_a_64_mib_stream_hold_bounded_memory(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, tmp_path: Path
) -> None:
    store = cs_store(aes_keyring, frame_length=64 * KiB)
    smaller, source = RandomStream(TOTAL // 3), RandomStream(TOTAL)
    target = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        smaller_peak = traced_peak(lambda: store.put("smaller", smaller))
        put_peak = traced_peak(lambda: store.put("big", source))
        download_peak = traced_peak(lambda: store.download_file("big", target))
    finally:
        tracemalloc.stop()
    assert file_digest(target) == source.digest.hexdigest()
    assert smaller.left == 0
    # Never the whole body, and no growth with the body size.
    assert put_peak < TOTAL, f"put peak {put_peak / MiB:.1f} MiB"
    assert put_peak < smaller_peak + 12 * MiB, (put_peak / MiB, smaller_peak / MiB)
    assert download_peak < 40 * MiB, f"download peak {download_peak / MiB:.1f} MiB"

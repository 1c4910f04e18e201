"""Many threads sharing one store: every byte is checked, versions are never mixed.

Each thread owns a key (whose content it always knows exactly) and all threads
write and read two shared keys. A read of a shared key must equal one of the
versions written to it, in full; an ``open`` reader that fetches its ranges with
separate requests must either return one version or refuse with
PreconditionFailedError when the object was replaced under it.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from securestore import (
    EncryptionMode,
    PreconditionFailedError,
    SecureStore,
    SseKms,
    SseS3,
    TransferConfig,
)

MiB = 1024 * 1024
THREADS = 8
OPS_PER_THREAD = 10
SHARED_KEYS = ("shared/a", "shared/b")
TRANSFER = TransferConfig(part_size=5 * MiB, concurrency=2)

MODES: dict[str, Callable[[str], EncryptionMode]] = {
    "sse-s3": lambda kms_key: SseS3(),
    "sse-kms": lambda kms_key: SseKms(kms_key),
}

#: The order every thread cycles through (each starting at its own offset).
SCHEDULE = ("put-own", "get-own", "put-shared", "get-shared", "open-own", "open-shared")


@dataclass
class Versions:
    """Every version ever written to each shared key (registered before the write starts)."""

    by_key: dict[str, list[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, data: bytes) -> None:
        with self.lock:
            self.by_key.setdefault(key, []).append(data)

    def candidates(self, key: str) -> list[bytes]:
        with self.lock:
            return list(self.by_key[key])


@dataclass
class Tally:
    ops: dict[str, int] = field(default_factory=dict)
    refused_changed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, op: str) -> None:
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1


def version(tag: str, size: int) -> bytes:
    """A version whose every 4 KiB block names it, so a mix of versions cannot match."""
    block = f"[{tag}]".encode().ljust(64, b".")
    body = os.urandom(size)
    out = bytearray(body)
    for offset in range(0, size, 4096):
        out[offset : offset + len(block)] = block[: max(0, min(len(block), size - offset))]
    return bytes(out)


def read_in_pieces(store: SecureStore, key: str) -> bytes:
    """Read the whole object through ``open`` in three seeks (three ranged requests)."""
    with store.open(key) as reader:
        size = reader.size
        cuts = [0, size // 3, 2 * size // 3, size]
        pieces = {}
        # Out of order, so every piece needs its own request.
        for index in (2, 0, 1):
            pieces[index] = reader.read_range(cuts[index], cuts[index + 1] - cuts[index])
        return b"".join(pieces[i] for i in range(3))


@pytest.mark.parametrize("mode_name", list(MODES))
def test_threads_share_a_store_without_mixing_versions(
    make_store: Callable[..., SecureStore], kms_key: str, mode_name: str
) -> None:
    store = make_store(encryption=MODES[mode_name](kms_key), transfer=TRANSFER)
    versions = Versions()
    tally = Tally()
    for key in SHARED_KEYS:
        seed = version(f"{key}-seed", 100_000)
        versions.add(key, seed)
        store.put(key, seed)

    def worker(thread: int) -> None:
        rng = random.Random(thread)
        own_key = f"own/{thread}"
        own = version(f"own-{thread}-0", 10_000 + thread)
        store.put(own_key, own)
        for step in range(OPS_PER_THREAD):
            op = SCHEDULE[(thread + step) % len(SCHEDULE)]
            shared = SHARED_KEYS[(thread + step) % len(SHARED_KEYS)]
            if op == "put-own":
                own = version(f"own-{thread}-{step}", rng.randrange(1_000, 300_000))
                store.put(own_key, own)
            elif op == "get-own":
                assert store.get(own_key) == own
            elif op == "open-own":
                assert read_in_pieces(store, own_key) == own
            elif op == "put-shared":
                # Two threads write a multipart version once; the rest are single puts.
                large = thread < 2 and step < len(SCHEDULE)
                size = 5 * MiB + 4096 * thread + 1 if large else rng.randrange(1_000, 400_000)
                data = version(f"{shared}-t{thread}-s{step}", size)
                versions.add(shared, data)
                store.put(shared, data)
            elif op == "get-shared":
                data = store.get(shared)
                assert data in versions.candidates(shared), f"mixed or unknown read of {shared}"
            else:
                try:
                    data = read_in_pieces(store, shared)
                except PreconditionFailedError:
                    with tally.lock:
                        tally.refused_changed += 1
                else:
                    assert data in versions.candidates(shared), f"mixed read of {shared}"
            tally.count(op)

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="concurrency") as pool:
        futures = [pool.submit(worker, thread) for thread in range(THREADS)]
        for future in futures:
            future.result(timeout=120)

    assert sum(tally.ops.values()) == THREADS * OPS_PER_THREAD
    assert set(tally.ops) == set(SCHEDULE)
    for key in SHARED_KEYS:
        assert store.get(key) in versions.candidates(key)
    assert sorted(s.key for s in store.list("own/")) == sorted(f"own/{t}" for t in range(THREADS))
    uploads = store.connection.client("s3").list_multipart_uploads(Bucket=store.bucket)
    assert uploads.get("Uploads", []) == []


def test_version_blocks_make_mixes_detectable() -> None:
    a, b = version("a", 10_000), version("b", 10_000)
    mixed = a[:5_000] + b[5_000:]
    assert mixed not in (a, b)
    assert all(x != y for x, y in itertools.combinations([a, b, mixed], 2))


def test_open_reader_refuses_a_replaced_object(make_store: Callable[..., SecureStore]) -> None:
    """A seek after the object was replaced must not return bytes of the new version."""
    store = make_store()
    v1, v2 = version("v1", 3 * MiB), version("v2", 3 * MiB)
    store.put("replaced", v1)
    with store.open("replaced") as reader:
        assert reader.read(1000) == v1[:1000]
        store.put("replaced", v2)
        reader.seek(2 * MiB)
        with pytest.raises(PreconditionFailedError):
            reader.read(1000)

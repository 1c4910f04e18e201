"""S3EC reads hold bounded memory whatever the object's size (tracemalloc, in process)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from securestore import SecureStore
from securestore.keyrings import RawAesKeyring
from securestore.transport import Connection
from tests.s3ec import encoder
from tests.s3ec.objects import AES_KEY, aes_v3

MiB = 1 << 20
SIZE = 24 * MiB
BOUND = 8 * MiB  # a few 1 MiB pieces and chunks, never the object


def test_download_open_and_iterate_hold_bounded_memory(
    connection: Connection, bucket: str, make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    body, metadata = aes_v3(data)
    s3: Any = connection.client("s3")
    encoder.put(s3, bucket, "big", body, metadata)
    digest = hashlib.sha256(data).hexdigest()
    del data, body
    store = make_store(keyring=RawAesKeyring("a", "b", AES_KEY))
    target = tmp_path / "out"

    tracemalloc.start()
    try:
        store.download_file("big", target, allow_s3ec=True)
        _, download_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = hashlib.sha256()
        with store.open("big", allow_s3ec=True) as reader:
            for chunk in reader:
                seen.update(chunk)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert seen.hexdigest() == digest
    assert download_peak < BOUND, download_peak
    assert open_peak < BOUND, open_peak

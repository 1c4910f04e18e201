"""``ClientSide(keyring, cache=...)`` through the store, with KMS calls counted on the wire.

The message context binds each object to its bucket and key (docs/format.md), and the
cache is keyed by context: so puts to *distinct* keys never share a data key (each
still costs one GenerateDataKey), while rewrites of one key and rereads of one object
do. The counts are real KMS requests (botocore ``before-call`` events) against moto.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from securestore import AwsKmsKeyring, ClientSide, Connection, SecureStore
from securestore.keyrings.caching import DataKeyCache


@pytest.fixture
def kms_calls(connection: Connection) -> tuple[Any, Counter[str]]:
    client = connection.client("kms")
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.kms.*", count)
    return client, calls


def test_cache_saves_kms_calls_for_rewrites_and_rereads(
    make_store: Callable[..., SecureStore], kms_key: str, kms_calls: tuple[Any, Counter[str]]
) -> None:
    client, calls = kms_calls
    keyring = AwsKmsKeyring(kms_key, client=client)
    cache = DataKeyCache(max_age=300, max_messages=100)
    store = make_store(encryption=ClientSide(keyring, cache=cache))
    for i in range(5):
        store.put("same", b"version %d" % i)
    assert calls["GenerateDataKey"] == 1
    for _ in range(5):
        assert store.get("same") == b"version 4"
    assert calls["Decrypt"] == 1
    # What the cache shared is an ordinary message: an uncached reader decrypts it.
    plain = make_store(encryption=ClientSide(AwsKmsKeyring(kms_key, client=client)))
    assert plain.get("same") == b"version 4"
    assert calls["Decrypt"] == 2


def test_distinct_keys_never_share_a_data_key(
    make_store: Callable[..., SecureStore], kms_key: str, kms_calls: tuple[Any, Counter[str]]
) -> None:
    client, calls = kms_calls
    cache = DataKeyCache(max_age=300)
    store = make_store(encryption=ClientSide(AwsKmsKeyring(kms_key, client=client), cache=cache))
    for i in range(4):
        store.put(f"k{i}", b"x")
    assert calls["GenerateDataKey"] == 4  # the location is in each message's context
    assert cache.stats.hits == 0
    for i in range(4):
        assert store.get(f"k{i}") == b"x"


def test_a_stream_of_unknown_length_bypasses_the_cache(
    make_store: Callable[..., SecureStore], kms_key: str, kms_calls: tuple[Any, Counter[str]]
) -> None:
    import io

    client, calls = kms_calls
    cache = DataKeyCache(max_age=300)
    store = make_store(encryption=ClientSide(AwsKmsKeyring(kms_key, client=client), cache=cache))

    class Stream(io.RawIOBase):  # no len(), no seek: the size is unknown up front
        def __init__(self) -> None:
            self.data = io.BytesIO(b"streamed")

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self.data.readinto(buffer)

    store.put("s", Stream())
    store.put("s", Stream())
    assert calls["GenerateDataKey"] == 2
    assert cache.stats.bypassed >= 2

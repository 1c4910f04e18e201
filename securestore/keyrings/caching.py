"""An opt-in cache of data keys, with the limits of the ESDK's caching CMM.

Each message normally costs one keyring call (one KMS ``GenerateDataKey`` on
encrypt, one ``Decrypt`` on decrypt). :class:`DataKeyCache` lets many messages
share one data key, each still with its own message id, so its own derived
content key and key commitment (docs/format.md, sections 4 and 13).

- **Encrypt** entries are keyed by (keyring, algorithm suite, encryption context)
  and bounded by ``max_age`` seconds, ``max_messages`` messages and ``max_bytes``
  plaintext bytes per data key. A message whose plaintext length is not known in
  advance bypasses the cache, as in the ESDK (the byte limit could not be kept).
- **Decrypt** entries are keyed by (keyring, suite, encryption context, every
  encrypted data key: provider id, provider info and ciphertext), never by the
  message id, and bounded by ``max_age``. The cache only saves the unwrap: the
  :class:`~securestore.message.Decryptor` still checks each message's key
  commitment and header tag with the message's own id, so a message that
  borrows another's data keys but not its commitment is refused.
- At most ``capacity`` entries (least recently used evicted). Evicted and expired
  data keys are overwritten with zeros (best effort: Python may hold copies);
  callers get copies, which the engine wipes after use.
- Thread-safe: one lock around the table; keyring calls run outside it.

Entries hold the keyring object itself, so a keyring collected and another
allocated at the same address never sees the first one's keys.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from securestore.errors import ConfigurationError
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
    wipe,
)

__all__ = ["CacheStats", "CachingKeyring", "DataKeyCache"]

#: The ESDK's bound on messages per cached data key.
MAX_MESSAGES_LIMIT = 2**32


@dataclass
class CacheStats:
    """Counters of a :class:`DataKeyCache` (read them for reports and benchmarks)."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    evicted: int = 0


@dataclass(eq=False)
class _Entry:
    keyring: Keyring
    created: float
    data_key: bytearray = field(repr=False)
    encrypted_data_keys: tuple[EncryptedDataKey, ...] = ()
    messages: int = 0
    bytes: int = 0


class DataKeyCache:
    """A bounded, thread-safe cache of data keys shared by :class:`CachingKeyring` views.

    Args:
        max_age: seconds a data key may be used after it was generated or unwrapped.
        max_messages: messages one data key may encrypt (1 to 2**32).
        max_bytes: plaintext bytes one data key may encrypt, in total.
        capacity: entries kept (encrypt and decrypt together); least recently used go.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        max_age: float,
        max_messages: int = MAX_MESSAGES_LIMIT,
        max_bytes: int = 2**63 - 1,
        capacity: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_age > 0:
            raise ConfigurationError("max_age must be a positive number of seconds")
        if not 1 <= max_messages <= MAX_MESSAGES_LIMIT:
            raise ConfigurationError(f"max_messages must be between 1 and {MAX_MESSAGES_LIMIT}")
        if max_bytes < 0:
            raise ConfigurationError("max_bytes must not be negative")
        if capacity < 1:
            raise ConfigurationError("capacity must be at least 1")
        self.max_age = max_age
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return (
            f"DataKeyCache(max_age={self.max_age}, max_messages={self.max_messages}, "
            f"max_bytes={self.max_bytes}, capacity={self.capacity}, entries={len(self)})"
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every entry, zeroing its data key."""
        with self._lock:
            for entry in self._entries.values():
                wipe(entry.data_key)
            self._entries.clear()

    def _expired(self, entry: _Entry) -> bool:
        return self._clock() - entry.created >= self.max_age

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            wipe(entry.data_key)
            self.stats.evicted += 1

    def _take_for_encrypt(
        self, key: Hashable, keyring: Keyring, length: int
    ) -> tuple[bytearray, tuple[EncryptedDataKey, ...]] | None:
        """A copy of a usable cached data key, with its use counted; None on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.keyring is not keyring:
                self.stats.misses += 1
                return None
            if (
                self._expired(entry)
                or entry.messages + 1 > self.max_messages
                or entry.bytes + length > self.max_bytes
            ):
                self._drop(key)
                self.stats.misses += 1
                return None
            entry.messages += 1
            entry.bytes += length
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return bytearray(entry.data_key), entry.encrypted_data_keys

    def _take_for_decrypt(self, key: Hashable, keyring: Keyring) -> bytearray | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.keyring is not keyring:
                self.stats.misses += 1
                return None
            if self._expired(entry):
                self._drop(key)
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return bytearray(entry.data_key)

    def _put(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            self._drop(key)  # a concurrent miss stored one first: replace it
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    def _bypass(self) -> None:
        with self._lock:
            self.stats.bypassed += 1


def _context_key(materials: EncryptionMaterials | DecryptionMaterials) -> Hashable:
    return tuple(sorted(materials.encryption_context.items()))


class CachingKeyring:
    """A keyring that takes data keys from a :class:`DataKeyCache` before asking ``keyring``.

    ``plaintext_length`` is the length of the one message this view encrypts (the
    cache's byte limit needs it); without it, encryption bypasses the cache.
    ``ClientSide(keyring, cache=...)`` makes one such view per message.
    """

    def __init__(
        self, keyring: Keyring, cache: DataKeyCache, *, plaintext_length: int | None = None
    ) -> None:
        self.keyring = keyring
        self.cache = cache
        self.plaintext_length = plaintext_length

    def __repr__(self) -> str:
        return f"CachingKeyring({self.keyring!r}, {self.cache!r})"

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """A cached data key and its encrypted copies, or a fresh one (then cached)."""
        length = self.plaintext_length
        if materials.data_key is not None or length is None or length > self.cache.max_bytes:
            # Already holding a key (a child of a multi-keyring), or a message the
            # limits cannot account for: straight to the keyring, nothing cached.
            self.cache._bypass()
            return self.keyring.wrap(materials)
        key = ("encrypt", id(self.keyring), materials.suite, _context_key(materials))
        cached = self.cache._take_for_encrypt(key, self.keyring, length)
        if cached is not None:
            data_key, edks = cached
            return EncryptionMaterials(
                materials.suite, materials.encryption_context, data_key, edks
            )
        fresh = self.keyring.wrap(materials)
        if fresh.data_key is not None:
            entry = _Entry(
                self.keyring,
                self.cache._clock(),
                bytearray(fresh.data_key),
                fresh.encrypted_data_keys,
                messages=1,
                bytes=length,
            )
            self.cache._put(key, entry)
        return fresh

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """A cached data key for exactly these EDKs, context and suite, else the keyring's."""
        edks = tuple((e.provider_id, e.provider_info, e.ciphertext) for e in encrypted_data_keys)
        key = ("decrypt", id(self.keyring), materials.suite, _context_key(materials), edks)
        cached = self.cache._take_for_decrypt(key, self.keyring)
        if cached is not None:
            return materials.with_data_key(cached)
        result = self.keyring.unwrap(materials, encrypted_data_keys)
        if result.data_key is not None:
            entry = _Entry(self.keyring, self.cache._clock(), bytearray(result.data_key))
            self.cache._put(key, entry)
        return result

"""The data key cache: ESDK caching-CMM limits, isolation, zeroing, and the commitment check.

The CVE-2026-6550 class (a cached decryption entry letting a message with another
commitment pass) is covered by building such messages by hand: same encrypted data
keys and context as a cached message, but another message id, commitment, data key
or suite. Each must be refused with the cache warm, as without it.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence

import pytest

from securestore import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    IntegrityError,
    NoMatchingKeyError,
)
from securestore.keyrings import RawAesKeyring
from securestore.keyrings.caching import CachingKeyring, DataKeyCache
from securestore.message import Encryptor, decrypt, encrypt, parse
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
)
from securestore.message.suites import AlgorithmSuite

F = 1024
CONTEXT = {"tenant": "a"}


class Counting:
    """A keyring that counts the calls reaching it (the KMS calls a cache saves)."""

    def __init__(self, inner: RawAesKeyring) -> None:
        self.inner = inner
        self.wraps = 0
        self.unwraps = 0
        self._lock = threading.Lock()

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        with self._lock:
            self.wraps += 1
        return self.inner.wrap(materials)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        with self._lock:
            self.unwraps += 1
        return self.inner.unwrap(materials, encrypted_data_keys)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counting() -> Counting:
    return Counting(RawAesKeyring("ns", "name", bytes(range(32))))


def seal(keyring: Counting, cache: DataKeyCache, data: bytes, context: dict[str, str]) -> bytes:
    view = CachingKeyring(keyring, cache, plaintext_length=len(data))  # type: ignore[arg-type]
    return bytes(encrypt(data, view, encryption_context=context, frame_length=F))


def open_(keyring: Counting, cache: DataKeyCache, message: bytes) -> bytes:
    return bytes(decrypt(message, CachingKeyring(keyring, cache)))  # type: ignore[arg-type]


def test_encrypt_shares_one_data_key_up_to_max_messages(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60, max_messages=3)
    messages = [seal(counting, cache, b"m%d" % i, CONTEXT) for i in range(7)]
    assert counting.wraps == 3  # 3 + 3 + 1
    headers = [parse(m) for m in messages]
    assert len({h.message_id for h in headers}) == 7  # fresh id (and content key) each
    assert headers[0].encrypted_data_keys == headers[2].encrypted_data_keys
    assert headers[0].encrypted_data_keys != headers[3].encrypted_data_keys
    for i, m in enumerate(messages):
        assert bytes(decrypt(m, counting.inner)) == b"m%d" % i


def test_max_bytes_and_too_large_messages(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60, max_bytes=100)
    seal(counting, cache, b"x" * 60, CONTEXT)
    seal(counting, cache, b"x" * 40, CONTEXT)  # 100 in all: still within
    assert counting.wraps == 1
    seal(counting, cache, b"x", CONTEXT)  # 101 would exceed: a new key
    assert counting.wraps == 2
    seal(counting, cache, b"x" * 101, CONTEXT)  # alone above the limit: never cached
    seal(counting, cache, b"x" * 101, CONTEXT)
    assert counting.wraps == 4
    assert cache.stats.bypassed == 2


def test_unknown_length_bypasses_the_cache(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60)
    for _ in range(3):
        Encryptor(CachingKeyring(counting, cache), encryption_context=CONTEXT)  # type: ignore[arg-type]
    assert counting.wraps == 3
    assert len(cache) == 0


def test_max_age(counting: Counting) -> None:
    clock = Clock()
    cache = DataKeyCache(max_age=10, clock=clock)
    message = seal(counting, cache, b"a", CONTEXT)
    clock.now = 9.9
    seal(counting, cache, b"b", CONTEXT)
    open_(counting, cache, message)
    open_(counting, cache, message)
    assert (counting.wraps, counting.unwraps) == (1, 1)
    clock.now = 10.0  # the encrypt entry (made at 0) expired; the decrypt one (9.9) not
    seal(counting, cache, b"c", CONTEXT)
    open_(counting, cache, message)
    assert (counting.wraps, counting.unwraps) == (2, 1)
    clock.now = 19.9
    open_(counting, cache, message)
    assert counting.unwraps == 1
    clock.now = 20.0
    open_(counting, cache, message)
    assert counting.unwraps == 2


def test_keyed_by_context_suite_and_keyring(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60)
    seal(counting, cache, b"a", {"tenant": "a"})
    seal(counting, cache, b"a", {"tenant": "b"})
    other = Counting(RawAesKeyring("ns", "name", bytes(32)))
    seal(other, cache, b"a", {"tenant": "a"})
    assert (counting.wraps, other.wraps) == (2, 1)
    view = CachingKeyring(counting, cache, plaintext_length=1)  # type: ignore[arg-type]
    signed = encrypt(
        b"a",
        view,
        encryption_context={"tenant": "a"},
        suite=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    )
    assert counting.wraps == 3  # another suite (and a signing key in the context)
    assert bytes(decrypt(signed, counting.inner)) == b"a"


def test_capacity_evicts_and_zeroes(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60, capacity=2)
    seal(counting, cache, b"a", {"n": "1"})
    first = next(iter(cache._entries.values())).data_key
    assert any(first)
    seal(counting, cache, b"a", {"n": "2"})
    seal(counting, cache, b"a", {"n": "3"})  # evicts n=1
    assert len(cache) == 2
    assert first == bytearray(len(first))  # zeroed
    seal(counting, cache, b"a", {"n": "1"})
    assert counting.wraps == 4
    kept = [entry.data_key for entry in cache._entries.values()]
    cache.clear()
    assert all(key == bytearray(len(key)) for key in kept)
    assert len(cache) == 0


def test_decrypt_cache_saves_unwraps_only_for_identical_edks(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60)
    shared = [seal(counting, cache, b"m%d" % i, CONTEXT) for i in range(5)]  # one data key
    alone = bytes(encrypt(b"z", counting.inner, encryption_context=CONTEXT))
    for _ in range(2):
        for i, message in enumerate(shared):
            assert open_(counting, cache, message) == b"m%d" % i
        assert open_(counting, cache, alone) == b"z"
    assert counting.unwraps == 2  # one per distinct set of encrypted data keys


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        DataKeyCache(max_age=0)
    with pytest.raises(ConfigurationError):
        DataKeyCache(max_age=1, max_messages=0)
    with pytest.raises(ConfigurationError):
        DataKeyCache(max_age=1, max_messages=2**32 + 1)
    with pytest.raises(ConfigurationError):
        DataKeyCache(max_age=1, capacity=0)


def test_threads_never_exceed_max_messages(counting: Counting) -> None:
    cache = DataKeyCache(max_age=60, max_messages=5)
    uses: dict[bytes, int] = {}
    lock = threading.Lock()

    def work() -> None:
        for _ in range(40):
            header = parse(seal(counting, cache, b"t", CONTEXT))
            with lock:
                edk = header.encrypted_data_keys[0].ciphertext
                uses[edk] = uses.get(edk, 0) + 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(uses.values()) == 320
    assert max(uses.values()) <= 5
    assert counting.wraps == len(uses) <= 320 // 5 + 8


# -- CVE-2026-6550 class: a warm decrypt cache never replaces the per-message checks ----------


@pytest.fixture
def warm(counting: Counting) -> tuple[DataKeyCache, bytes]:
    """A cache holding the data key of one message, which it decrypted once."""
    cache = DataKeyCache(max_age=60)
    message = seal(counting, cache, b"genuine " * 300, CONTEXT)
    assert open_(counting, cache, message) == b"genuine " * 300
    return cache, message


def _forge(message: bytes, *, data_key: bytes, message_id: bytes | None = None) -> bytes:
    """A well-formed message under ``data_key`` that carries ``message``'s EDKs and context."""
    header = parse(message)
    encryptor = Encryptor._from_parts(
        data_key=data_key,
        message_id=message_id or os.urandom(32),
        encryption_context=header.encryption_context,
        encrypted_data_keys=header.encrypted_data_keys,
        frame_length=header.frame_length,
    )
    return b"".join(encryptor.iter_message(io.BytesIO(b"forged " * 300)))


def test_borrowed_edks_with_another_commitment_are_refused(
    counting: Counting, warm: tuple[DataKeyCache, bytes]
) -> None:
    cache, message = warm
    forged = _forge(message, data_key=os.urandom(32))
    hits = cache.stats.hits
    with pytest.raises(AuthenticationError):
        open_(counting, cache, forged)
    assert cache.stats.hits == hits + 1  # the cached key was used, and still refused
    with pytest.raises(AuthenticationError):
        decrypt(forged, counting.inner)  # as without the cache


def test_another_message_id_with_the_cached_commitment_is_refused(
    counting: Counting, warm: tuple[DataKeyCache, bytes]
) -> None:
    cache, message = warm
    header = parse(message)
    start = message.index(header.message_id)
    tampered = bytearray(message)
    tampered[start] ^= 1  # same EDKs, context and commitment; another message id
    with pytest.raises(AuthenticationError):
        open_(counting, cache, bytes(tampered))


def test_another_commitment_value_is_refused(
    counting: Counting, warm: tuple[DataKeyCache, bytes]
) -> None:
    cache, message = warm
    header = parse(message)
    start = message.index(header.suite_data)
    tampered = bytearray(message)
    tampered[start + 5] ^= 1
    with pytest.raises(AuthenticationError):
        open_(counting, cache, bytes(tampered))


def test_another_suite_with_the_same_edks_misses_and_is_refused(
    counting: Counting, warm: tuple[DataKeyCache, bytes]
) -> None:
    cache, message = warm
    tampered = bytearray(message)
    tampered[1:3] = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384.value.to_bytes(
        2, "big"
    )
    hits = cache.stats.hits
    with pytest.raises((FormatError, IntegrityError)):
        open_(counting, cache, bytes(tampered))
    assert cache.stats.hits == hits  # never served from the 0x0478 entry


def test_another_context_with_the_same_edks_misses(
    counting: Counting, warm: tuple[DataKeyCache, bytes]
) -> None:
    cache, message = warm
    header = parse(message)
    forged = Encryptor._from_parts(
        data_key=os.urandom(32),
        message_id=os.urandom(32),
        encryption_context={"tenant": "b"},
        encrypted_data_keys=header.encrypted_data_keys,
        frame_length=header.frame_length,
    )
    data = b"".join(forged.iter_message(io.BytesIO(b"x")))
    hits = cache.stats.hits
    with pytest.raises(NoMatchingKeyError):  # the keyring itself refuses the other context
        open_(counting, cache, data)
    assert cache.stats.hits == hits

"""The AWS KMS Hierarchical keyring: data keys wrapped locally under a cached branch key.

Follows ``framework/aws-kms/aws-kms-hierarchical-keyring.md`` of the AWS
Encryption SDK specification (version 0.2.0), so messages it writes are read by
the MPL's hierarchical keyring and the other way round (docs/format.md,
"Hierarchical keyring"):

- a branch key (:mod:`securestore.keyrings.branch_keys`) costs one KMS
  ``Decrypt`` per TTL per version, however many messages and contexts use it;
- each data key is wrapped with AES-256-GCM under a key derived from the branch
  key and a fresh 16-byte salt with NIST SP 800-108 KDF in counter mode,
  HMAC-SHA256, label ``aws-kms-hierarchy`` ("Branch Key Wrapping"); the AAD is
  ``aws-kms-hierarchy`` + branch key id + version (16 bytes) + the serialized
  encryption context ("Branch Key Wrapping and Unwrapping AAD");
- the encrypted data key has provider id ``aws-kms-hierarchy``, the branch key
  id as provider info, and salt (16) + IV (12) + version (16) + wrapped key +
  tag (16) as ciphertext ("Ciphertext").

Branch key materials are cached by the spec's cache entry identifiers (Appendix
A: SHA-384 over resource, scope, partition id, logical key store name, branch
key id and, for decryption, the version), at most ``ttl_seconds`` each and at
most ``max_cache_entries`` entries (least recently used go first). Evicted
branch keys are overwritten with zeros (best effort: Python may hold copies);
each message works on its own copy, zeroed after use, so an eviction never
changes a key in use. Thread-safe: one lock around the table; key store calls
run outside it (two threads missing at once may both fetch).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from securestore.errors import (
    BranchKeyNotFoundError,
    ConfigurationError,
    KeyUnavailableError,
    NoMatchingKeyError,
)
from securestore.keyrings.branch_keys import BranchKeyMaterials, BranchKeyStore
from securestore.keyrings.kms_arn import quote
from securestore.message.context import serialize_context
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    wipe,
)

__all__ = ["PROVIDER_ID", "AwsKmsHierarchicalKeyring", "HierarchyCacheStats", "derive_wrapping_key"]

PROVIDER_ID = "aws-kms-hierarchy"
_PROVIDER_BYTES = PROVIDER_ID.encode("ascii")
_SALT = 16
_IV = 12
_VERSION = 16
_TAG = 16
_HEADER = _SALT + _IV + _VERSION
#: The MPL's default cache capacity (spec "Initialization").
DEFAULT_MAX_CACHE_ENTRIES = 1000
_RESOURCE_HIERARCHY = b"\x02"
_SCOPE_ENCRYPT = b"\x01"
_SCOPE_DECRYPT = b"\x02"


def derive_wrapping_key(branch_key: bytes | bytearray, salt: bytes) -> bytes:
    """The 32-byte key that wraps one data key (spec "Branch Key Wrapping").

    NIST SP 800-108r1 KDF in counter mode with HMAC-SHA256: one block,
    ``HMAC(branch key, [1]_4 || "aws-kms-hierarchy" || 0x00 || salt || [256]_4)``.
    """
    block = struct.pack(">I", 1) + _PROVIDER_BYTES + b"\x00" + salt + struct.pack(">I", 256)
    return hmac.new(bytes(branch_key), block, hashlib.sha256).digest()


def _aad(branch_key_id: bytes, version: bytes, context: bytes) -> bytes:
    return _PROVIDER_BYTES + branch_key_id + version + context


def _copy(materials: BranchKeyMaterials) -> BranchKeyMaterials:
    """A copy with its own key buffer: the cache may zero its own at any time."""
    return BranchKeyMaterials(
        materials.branch_key_id,
        materials.version,
        bytearray(materials.key),
        materials.encryption_context,
    )


@dataclass
class HierarchyCacheStats:
    """Counters of one keyring's branch key cache (for reports and benchmarks)."""

    hits: int = 0
    misses: int = 0
    evicted: int = 0


@dataclass(eq=False)
class _Entry:
    created: float
    materials: BranchKeyMaterials


class AwsKmsHierarchicalKeyring:
    """Wraps data keys under one branch key of a :class:`BranchKeyStore`.

    Args:
        branch_key_id: the branch key to encrypt with, and the only one it decrypts.
        key_store: where branch keys are read (DynamoDB + KMS).
        ttl_seconds: how long a fetched branch key may be used (spec "Cache Limit
            TTL"); after it the next message asks the key store, so KMS, again.
        max_cache_entries: branch key versions kept at once (default 1000).
        partition_id: cache partition (spec "Partition ID"); a random UUID by default.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        branch_key_id: str,
        key_store: BranchKeyStore,
        *,
        ttl_seconds: float,
        max_cache_entries: int = DEFAULT_MAX_CACHE_ENTRIES,
        partition_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not branch_key_id:
            raise ConfigurationError("a hierarchical keyring needs a branch key id")
        if not ttl_seconds > 0:
            raise ConfigurationError("ttl_seconds must be a positive number of seconds")
        if max_cache_entries < 1:
            raise ConfigurationError("max_cache_entries must be at least 1")
        self.branch_key_id = branch_key_id
        self.key_store = key_store
        self.ttl_seconds = ttl_seconds
        self.max_cache_entries = max_cache_entries
        self._id_bytes = branch_key_id.encode("utf-8")
        self._partition = (
            partition_id.encode("utf-8") if partition_id is not None else uuid.uuid4().bytes
        )
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = HierarchyCacheStats()

    def __repr__(self) -> str:
        return (
            f"AwsKmsHierarchicalKeyring(branch_key_id={self.branch_key_id!r}, "
            f"key_store={self.key_store!r}, ttl_seconds={self.ttl_seconds})"
        )

    def describe(self) -> str:
        """A secret-free description of the key, for error messages."""
        return f"{PROVIDER_ID} {quote(self.branch_key_id)} in {quote(self.key_store.table_name)}"

    # -- cache (spec Appendix A) --------------------------------------------------------

    def _cache_id(self, scope: bytes, version: str | None) -> bytes:
        parts = [
            _RESOURCE_HIERARCHY,
            scope,
            self._partition,
            self.key_store.logical_name.encode("utf-8"),
            self._id_bytes,
        ]
        if version is not None:
            parts.append(version.encode("utf-8"))
        return hashlib.sha384(b"\x00".join(parts)).digest()

    def _cached(self, cache_id: bytes) -> BranchKeyMaterials | None:
        with self._lock:
            entry = self._entries.get(cache_id)
            if entry is not None and self._clock() - entry.created < self.ttl_seconds:
                self._entries.move_to_end(cache_id)
                self.stats.hits += 1
                return _copy(entry.materials)
            if entry is not None:
                self._drop(cache_id)
            self.stats.misses += 1
            return None

    def _store(self, cache_id: bytes, materials: BranchKeyMaterials) -> None:
        with self._lock:
            now = self._clock()
            # Expired entries go now, not when looked up again (perhaps never): zeroed.
            stale = [k for k, e in self._entries.items() if now - e.created >= self.ttl_seconds]
            for key in stale:
                self._drop(key)
            if cache_id in self._entries:  # a concurrent miss stored one first: replace it
                self._drop(cache_id)
            self._entries[cache_id] = _Entry(now, materials)
            while len(self._entries) > self.max_cache_entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, cache_id: bytes) -> None:
        wipe(self._entries.pop(cache_id).materials.key)
        self.stats.evicted += 1

    def clear(self) -> None:
        """Drop every cached branch key, zeroing it."""
        with self._lock:
            for entry in self._entries.values():
                wipe(entry.materials.key)
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _active(self) -> BranchKeyMaterials:
        cache_id = self._cache_id(_SCOPE_ENCRYPT, None)
        found = self._cached(cache_id)
        if found is not None:
            return found
        # Spec "Query Branch Keystore OnEncrypt"; failures propagate (OnEncrypt MUST fail).
        materials = self.key_store.get_active_branch_key(self.branch_key_id)
        if materials.branch_key_id != self.branch_key_id:
            raise KeyUnavailableError(
                f"the key store answered for another branch key than {quote(self.branch_key_id)}"
            )
        self._store(cache_id, materials)
        return _copy(materials)

    def _version(self, version: str) -> BranchKeyMaterials:
        cache_id = self._cache_id(_SCOPE_DECRYPT, version)
        found = self._cached(cache_id)
        if found is not None:
            return found
        materials = self.key_store.get_branch_key_version(self.branch_key_id, version)
        if materials.branch_key_id != self.branch_key_id or materials.version != version:
            raise KeyUnavailableError(
                f"the key store answered for another branch key version than {quote(version)}"
            )
        self._store(cache_id, materials)
        return _copy(materials)

    # -- the keyring --------------------------------------------------------------------

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """Generate the data key if absent, then wrap it under the active branch key."""
        context = serialize_context(materials.encryption_context)  # fails before any call
        branch = self._active()
        data_key = materials.data_key
        if data_key is None:
            data_key = bytearray(os.urandom(materials.suite.key_length))
        salt = os.urandom(_SALT)
        iv = os.urandom(_IV)
        version = branch.version_bytes
        try:
            wrapping = derive_wrapping_key(branch.key, salt)
        finally:
            wipe(branch.key)
        sealed = AESGCM(wrapping).encrypt(
            iv, bytes(data_key), _aad(self._id_bytes, version, context)
        )
        edk = EncryptedDataKey(PROVIDER_ID, self._id_bytes, salt + iv + version + sealed)
        return materials.with_data_key(data_key, edk)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        """Unwrap the first data key wrapped under this keyring's branch key.

        Data keys of other providers or other branch keys are skipped. A data key
        naming a version the store does not hold, or failing authentication
        (tampered data key or context), is a miss; if nothing unwraps, the first
        key store failure (DynamoDB or KMS refused) is raised, else
        :class:`NoMatchingKeyError` (spec "OnDecrypt": errors collected, materials
        unchanged).
        """
        if materials.data_key is not None:
            return materials
        context = serialize_context(materials.encryption_context)
        expected = _HEADER + materials.suite.key_length + _TAG
        failure: KeyUnavailableError | None = None
        problems: list[str] = []
        for edk in encrypted_data_keys:
            if edk.provider_id != PROVIDER_ID or edk.provider_info != self._id_bytes:
                continue
            blob = edk.ciphertext
            if len(blob) != expected:
                problems.append("a data key of the wrong length")
                continue
            salt, iv = blob[:_SALT], blob[_SALT : _SALT + _IV]
            version_bytes = blob[_SALT + _IV : _HEADER]
            version = str(uuid.UUID(bytes=version_bytes))
            try:
                branch = self._version(version)
            except BranchKeyNotFoundError:
                problems.append(f"version {version} is not in the key store")
                continue
            except KeyUnavailableError as error:
                failure = failure or error
                continue
            try:
                wrapping = derive_wrapping_key(branch.key, salt)
            finally:
                wipe(branch.key)
            try:
                plain = AESGCM(wrapping).decrypt(
                    iv, blob[_HEADER:], _aad(self._id_bytes, version_bytes, context)
                )
            except InvalidTag:
                problems.append(f"version {version} did not authenticate the data key")
                continue
            return materials.with_data_key(bytearray(plain))
        if failure is not None:
            raise failure
        message = "no encrypted data key could be unwrapped with the branch key"
        if problems:
            message += " (" + "; ".join(problems[:4]) + ")"
        raise NoMatchingKeyError(message, tried=(self.describe(),))

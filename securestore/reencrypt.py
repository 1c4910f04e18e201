"""Change the server-side encryption of stored objects in place, without moving their data.

For each object: S3's ``UpdateObjectEncryption`` where the server has it (SSE-S3
or SSE-KMS to SSE-KMS; ETag, dates and storage class stay), otherwise a
``CopyObject`` (multipart ``UploadPartCopy`` above 5 GiB) over the same key
with the new mode, conditional on the source ETag (:mod:`securestore.copying`).
Never a download. Every object is checked afterwards with HEAD and reported.

Support for ``UpdateObjectEncryption`` is learned by asking, never from the
endpoint's name, and asked safely: servers that do not know the operation
(moto, ``rclone serve s3``) take ``PUT /key?encryption`` for a PutObject and
replace the object with the request's XML. So the first request goes to a key
that does not exist: a server that has the operation answers ``NoSuchKey``;
any other answer (an error, or a success that created the probe key, which is
deleted again) means the copy is used. Each update is then checked to have
kept the object's ETag and size.

Client-side objects (marked ``securestore-format``, or found to be messages
when copied) are skipped: their data keys are changed with ``rewrap``. Objects
already in the target mode are skipped. A failure on one object is reported and
the run goes on.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from securestore.clientside import FORMAT_METADATA
from securestore.copying import CopyMethod, copy_object
from securestore.errors import ConfigurationError, KeyringError, SecureStoreError
from securestore.kept import KEPT, keep
from securestore.modes import DsseKms, EncryptionMode, SseKms, SseS3, StoredEncryption
from securestore.objects import ObjectInfo
from securestore.store import SecureStore
from securestore.transport import translate_error

__all__ = [
    "KEPT",
    "Mechanism",
    "ObjectOutcome",
    "Outcome",
    "ReencryptReport",
    "Reencryptor",
    "keys_to_change",
    "reencrypt",
]

logger = logging.getLogger(__name__)

_UNSUPPORTED_SOURCES = {"none", "dsse-kms"}


class Outcome(enum.Enum):
    """What happened to one object."""

    REENCRYPTED = "reencrypted"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "planned"  # dry run


class Mechanism(enum.Enum):
    """How an object's encryption was changed."""

    UPDATE_OBJECT_ENCRYPTION = "update-object-encryption"
    COPY_OBJECT = "copy-object"
    MULTIPART_COPY = "multipart-copy"


@dataclass(frozen=True)
class ObjectOutcome:
    """One object's line of the report."""

    key: str
    outcome: Outcome
    old: str | None
    new: str | None = None
    mechanism: Mechanism | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "key": self.key,
            "outcome": self.outcome.value,
            "old": self.old,
            "new": self.new,
            "mechanism": self.mechanism.value if self.mechanism else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class ReencryptReport:
    """What a run did: a count of every outcome, and the first objects of it.

    ``objects`` holds the first :data:`KEPT` failures and the first :data:`KEPT`
    other outcomes, sorted by key (a prefix of millions of objects is counted, not
    held: ``on_object`` is told of every one as it happens). ``counts``: how many
    objects had each outcome (``None``: count ``objects``, for a report built by hand).
    """

    bucket: str
    prefix: str
    target: str
    objects: tuple[ObjectOutcome, ...]
    counts: Mapping[Outcome, int] | None = None

    def count(self, outcome: Outcome) -> int:
        """How many objects had ``outcome`` (kept in ``objects`` or not)."""
        if self.counts is not None:
            return self.counts.get(outcome, 0)
        return sum(1 for entry in self.objects if entry.outcome is outcome)

    @property
    def total(self) -> int:
        """How many objects the run looked at."""
        return sum(self.count(outcome) for outcome in Outcome)

    @property
    def ok(self) -> bool:
        """Whether no object failed."""
        return self.count(Outcome.FAILED) == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (the kept ``objects`` only; the summary counts all)."""
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "target": self.target,
            "summary": {outcome.value: self.count(outcome) for outcome in Outcome},
            "objects": [entry.to_dict() for entry in self.objects],
        }


class Reencryptor:
    """Re-encrypts the server-side objects of one store's bucket (see the module docstring).

    Args:
        store: a store without a keyring (client-side objects are skipped, not read).
        mode: the target mode (:class:`SseKms`, :class:`SseS3` or :class:`DsseKms`).
    """

    def __init__(self, store: SecureStore, mode: EncryptionMode, *, concurrency: int = 8) -> None:
        if not isinstance(mode, SseKms | SseS3 | DsseKms):
            raise ConfigurationError("reencrypt changes server-side encryption only; use rewrap")
        self.store = store
        self.mode = mode
        self.concurrency = concurrency
        self.s3 = store.connection.client("s3")  # S3's own calls: no encryption layer to bypass
        self._update_supported: bool | None = None
        self._probe_lock = threading.Lock()  # one capability probe, whatever the pool size

    def run(
        self,
        keys: Iterable[str],
        *,
        prefix: str = "",
        dry_run: bool = False,
        on_object: Callable[[ObjectOutcome], None] | None = None,
    ) -> ReencryptReport:
        """Re-encrypt each of ``keys``; report every one, go on after failures.

        Objects run ``concurrency`` at a time on the tree transfer pool, pulled from
        ``keys`` as slots free up (a streamed listing stays streamed); ``on_object``
        is called from the worker threads for every object; the report counts them
        all and keeps the first (see :class:`ReencryptReport`).
        """
        from securestore.tree.manager import run_per_object

        failed: list[ObjectOutcome] = []
        others: list[ObjectOutcome] = []
        counts = dict.fromkeys(Outcome, 0)
        lock = threading.Lock()

        def work(key: str, _size: int) -> int:
            outcome = self.one(key, dry_run=dry_run)
            with lock:
                counts[outcome.outcome] += 1
                keep(failed if outcome.outcome is Outcome.FAILED else others, outcome, KEPT)
            if on_object is not None:
                on_object(outcome)
            return 0

        run_per_object(self.store, ((key, 0) for key in keys), work, concurrency=self.concurrency)
        objects = sorted(failed + others, key=lambda outcome: outcome.key)
        return ReencryptReport(self.store.bucket, prefix, self.mode.name, tuple(objects), counts)

    def one(self, key: str, *, dry_run: bool = False) -> ObjectOutcome:
        """Re-encrypt one object (or, with ``dry_run``, say what would be done)."""
        try:
            before = self.store.head(key)
        except SecureStoreError as exc:
            return ObjectOutcome(key, Outcome.FAILED, None, note=str(exc))
        old = before.encryption.describe()
        if FORMAT_METADATA in before.metadata:
            return self._client_side(key, old)
        try:
            arn = self.store.kms_key_arn(self.mode)
        except SecureStoreError as exc:
            return ObjectOutcome(key, Outcome.FAILED, old, note=str(exc))
        if self.mode.check_write(before.encryption, resolved_key_arn=arn) is None:
            return ObjectOutcome(key, Outcome.SKIPPED, old, old, note=f"already {self.mode}")
        if dry_run:
            return ObjectOutcome(key, Outcome.PLANNED, old, self._describe_target(arn))
        try:
            mechanism = self._change(key, before, arn)
            after = self.store.head(key)
        except KeyringError:
            return self._client_side(key, old)
        except SecureStoreError as exc:
            return ObjectOutcome(key, Outcome.FAILED, old, note=str(exc))
        new = after.encryption.describe()
        reason = self.mode.check_write(after.encryption, resolved_key_arn=arn)
        if reason is not None:
            return ObjectOutcome(key, Outcome.FAILED, old, new, mechanism, note=reason)
        note = None
        if mechanism is Mechanism.UPDATE_OBJECT_ENCRYPTION and (
            after.etag != before.etag or after.size != before.size
        ):
            # Should never happen after the probe; say it loudly if it does.
            return ObjectOutcome(
                key,
                Outcome.FAILED,
                old,
                new,
                mechanism,
                note="the server changed the object's data (ETag or size) on "
                "UpdateObjectEncryption: check the object",
            )
        if mechanism is not Mechanism.UPDATE_OBJECT_ENCRYPTION:
            note = "rewritten by S3 over the same key: new ETag and last-modified date"
            if before.version_id and before.version_id != "null":
                note += f"; the previous version {before.version_id} keeps its old encryption"
        return ObjectOutcome(key, Outcome.REENCRYPTED, old, new, mechanism, note=note)

    def _client_side(self, key: str, old: str) -> ObjectOutcome:
        return ObjectOutcome(
            key,
            Outcome.SKIPPED,
            old,
            note="client-side encrypted: change its data keys with 'securestore rewrap'",
        )

    def _describe_target(self, arn: str | None) -> str:
        bucket_key = isinstance(self.mode, SseKms) and self.mode.bucket_key
        return StoredEncryption(
            {"sse-s3": "AES256", "sse-kms": "aws:kms", "dsse-kms": "aws:kms:dsse"}[self.mode.name],
            kms_key_id=arn or self.mode.kms_key_id,
            bucket_key_enabled=bucket_key or None,
        ).describe()

    # -- the two mechanisms --------------------------------------------------------------------

    def _change(self, key: str, before: ObjectInfo, arn: str | None) -> Mechanism:
        target_arn = arn or self.mode.kms_key_id
        if (
            isinstance(self.mode, SseKms)
            and not self.mode.context
            and target_arn is not None
            and target_arn.startswith("arn:")
            and before.encryption.sse_name not in _UNSUPPORTED_SOURCES
            and self._supports_update(target_arn)
            and self._update(key, before, target_arn)
        ):
            return Mechanism.UPDATE_OBJECT_ENCRYPTION
        result = copy_object(
            self.store._reads, self.store._writes, key, key, mode=self.mode, require=None
        )
        if result.method is CopyMethod.MULTIPART_COPY:
            return Mechanism.MULTIPART_COPY
        return Mechanism.COPY_OBJECT

    def _request(self, key: str, arn: str, **extra: Any) -> dict[str, Any]:
        assert isinstance(self.mode, SseKms)
        response: dict[str, Any] = self.s3.update_object_encryption(
            Bucket=self.store.bucket,
            Key=key,
            ObjectEncryption={
                "SSEKMS": {"KMSKeyArn": arn, "BucketKeyEnabled": self.mode.bucket_key}
            },
            **extra,
        )
        return response

    def _update(self, key: str, before: ObjectInfo, arn: str) -> bool:
        """UpdateObjectEncryption of the version seen; ``False``: not supported after all."""
        version = before.version_id
        extra = {"VersionId": version} if version and version != "null" else {}
        try:
            self._request(key, arn, **extra)
        except botocore.exceptions.ClientError as exc:
            if _unsupported(exc):
                self._update_supported = False
                return False
            raise translate_error(
                exc, bucket=self.store.bucket, key=key, action="update object encryption"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate_error(
                exc, bucket=self.store.bucket, key=key, action="update object encryption"
            ) from exc
        return True

    def _supports_update(self, arn: str) -> bool:
        """Whether the server has UpdateObjectEncryption, asked of a key that does not exist."""
        with self._probe_lock:
            return self._probe_update(arn)

    def _probe_update(self, arn: str) -> bool:
        if self._update_supported is not None:
            return self._update_supported
        probe = f"securestore-probe-{uuid.uuid4().hex}"
        bucket = self.store.bucket
        try:
            response = self._request(probe, arn)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            self._update_supported = code == "NoSuchKey"
        except botocore.exceptions.BotoCoreError:
            self._update_supported = False
        else:
            # A success on a missing key: the server stored the request as an object.
            self._update_supported = False
            version = response.get("VersionId")
            extra = {"VersionId": version} if version and version != "null" else {}
            try:
                self.s3.delete_object(Bucket=bucket, Key=probe, **extra)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                logger.warning("could not delete the probe object s3://%s/%s", bucket, probe)
        return self._update_supported


def _unsupported(exc: botocore.exceptions.ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in ("NotImplemented", "MethodNotAllowed") or status in (405, 501)


def keys_to_change(store: SecureStore, prefix: str, *, recursive: bool) -> Iterable[str]:
    """The object ``prefix`` itself, or with ``recursive`` every object under it (lazily)."""
    if not recursive:
        return [prefix]
    return (entry.key for entry in store.list(prefix))


def reencrypt(
    store: SecureStore,
    prefix: str,
    mode: EncryptionMode,
    *,
    recursive: bool = False,
    dry_run: bool = False,
    on_object: Callable[[ObjectOutcome], None] | None = None,
) -> ReencryptReport:
    """Re-encrypt the object ``prefix`` (or, ``recursive``, every object under it) to ``mode``.

    See the module docstring. ``on_object`` is told each outcome as it happens.

    Raises:
        ConfigurationError: ``mode`` is not a server-side mode.
        StorageError: the listing failed (per-object failures are in the report).
    """
    keys = keys_to_change(store, prefix, recursive=recursive)
    return Reencryptor(store, mode).run(keys, prefix=prefix, dry_run=dry_run, on_object=on_object)

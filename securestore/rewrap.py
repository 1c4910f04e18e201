"""Re-wrap and re-bind client-side objects without moving their body (docs/format.md).

A client-side object is re-written with a new message header in front of its
unchanged body (:mod:`securestore.message.rewrite`). The body is copied by S3
itself: a multipart upload whose part 1 is the new header plus the first 5 MiB
of the old body (the only bytes that pass through the client) and whose other
parts are ``UploadPartCopy`` ranges of the old object. An object whose body is
at most 5 MiB is re-written with one PUT. A server whose ``UploadPartCopy``
answers without the part's ETag (``rclone serve s3``) gets a streamed copy
instead, and the result says so.

Every step is conditional on the source version seen first (ETag, and the
version id on versioned buckets), so a concurrent writer is never overwritten
silently; see :meth:`Rewrapper.run` for the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from securestore.attributes import CONTENT_HEADERS
from securestore.bucket import BucketAccess
from securestore.clientside import (
    CONTEXT_BUCKET,
    CONTEXT_KEY,
    HEADER_PROBE,
    ClientSide,
    check_location,
    expected_context,
    read_header,
    starts_like_message,
)
from securestore.errors import (
    ConfigurationError,
    FormatError,
    NotAMessageError,
    PolicyError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
)
from securestore.keyrings import AwsKmsDiscoveryKeyring, AwsKmsKeyring, MultiKeyring
from securestore.keyrings.kms_arn import parse_key_arn
from securestore.location import validate_bucket_name, validate_key
from securestore.message import HeaderLimits, Keyring, Layout
from securestore.message.rewrite import KMS_PROVIDER_ID, ContextChange, HeaderRewrite, rewrap_header
from securestore.modes import EncryptionMode, StoredEncryption
from securestore.reader import range_answered, read_capped
from securestore.rewrap_copy import Method, write_rewrapped
from securestore.s3ec.metadata import S3EC_MAPKEYS
from securestore.transport import translate_error

__all__ = ["KeyChanges", "Method", "RewrapResult", "Rewrapper", "rewrap_object"]


@dataclass(frozen=True)
class KeyChanges:
    """What a re-wrap changes in the header.

    Args:
        add: keyrings that each wrap the data key once more.
        remove: the data keys each of these keyrings unwraps are removed.
        remove_kms_keys: the ``aws-kms`` data keys naming these key ARNs are removed.
        set_context: encryption-context pairs to add or change.
        remove_context: encryption-context keys to remove.
    """

    add: Sequence[Keyring] = ()
    remove: Sequence[Keyring] = ()
    remove_kms_keys: Sequence[str] = ()
    set_context: Mapping[str, str] | None = None
    remove_context: Sequence[str] = ()


@dataclass(frozen=True)
class RewrapResult:
    """What a re-wrap did (or, with ``dry_run``, would do).

    ``bytes_fetched`` counts object bytes downloaded by the client,
    ``bytes_uploaded`` the bytes it sent, ``bytes_copied`` those S3 copied itself.
    """

    bucket: str
    key: str
    source_bucket: str
    source_key: str
    method: Method | None
    dry_run: bool
    source_etag: str
    source_version_id: str | None
    etag: str | None = None
    version_id: str | None = None
    bytes_fetched: int = 0
    bytes_uploaded: int = 0
    bytes_copied: int = 0
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rewrapped: tuple[str, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)
    old_version_deleted: bool = False
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (``securestore rewrap --json``)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "source": f"s3://{self.source_bucket}/{self.source_key}",
            "method": self.method.value if self.method else None,
            "dry_run": self.dry_run,
            "source_etag": self.source_etag,
            "source_version_id": self.source_version_id,
            "etag": self.etag,
            "version_id": self.version_id,
            "bytes_fetched": self.bytes_fetched,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_copied": self.bytes_copied,
            "added": list(self.added),
            "removed": list(self.removed),
            "rewrapped": list(self.rewrapped),
            "context": dict(self.context),
            "old_version_deleted": self.old_version_deleted,
            "note": self.note,
        }


@dataclass
class SourceVersion:
    """The source object version and what was fetched of it."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    head: Mapping[str, Any]
    fetched: int = 0

    @property
    def versioned(self) -> bool:
        return bool(self.version_id) and self.version_id != "null"


def _flatten(keyring: Keyring) -> Iterator[Keyring]:
    if isinstance(keyring, MultiKeyring):
        if keyring.generator is not None:
            yield from _flatten(keyring.generator)
        for child in keyring.children:
            yield from _flatten(child)
    elif not isinstance(keyring, AwsKmsDiscoveryKeyring):  # cannot wrap
        yield keyring


class Rewrapper:
    """Re-wraps client-side objects of one bucket (see the module docstring).

    Args:
        access: the source bucket's client and helpers.
        keyring: unwraps the data key of the objects.
        limits: header parsing limits; also the cap on data keys of a new header.
    """

    def __init__(
        self, access: BucketAccess, keyring: Keyring, *, limits: HeaderLimits | None = None
    ) -> None:
        self.access = access
        self.bucket = access.bucket
        self.keyring = keyring
        self.limits = limits or HeaderLimits()

    # -- errors -----------------------------------------------------------------------------

    def call(self, action: str, bucket: str, key: str, fn: Callable[..., Any], **kw: Any) -> Any:
        """One S3 call, its botocore errors translated and named after ``bucket``/``key``."""
        try:
            return fn(**kw)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate_error(exc, bucket=bucket, key=key, action=action) from exc

    # -- reading the source -----------------------------------------------------------------

    def head_of(self, bucket: str, key: str) -> Mapping[str, Any]:
        response: Mapping[str, Any] = self.call(
            "head", bucket, key, self.access.s3.head_object, Bucket=bucket, Key=key
        )
        return response

    def fetch(self, src: SourceVersion, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of exactly the source version (checked by ETag)."""
        if start >= end:
            return b""
        extra = {"VersionId": src.version_id} if src.versioned else {}
        response = self.call(
            "read",
            src.bucket,
            src.key,
            self.access.s3.get_object,
            Bucket=src.bucket,
            Key=src.key,
            Range=f"bytes={start}-{end - 1}",
            IfMatch=src.etag,
            **extra,
        )
        if response.get("ETag") not in (None, src.etag):
            response["Body"].close()
            raise self.changed_error(src)
        if not range_answered(response.get("ContentRange"), start, end - 1):
            response["Body"].close()
            raise StorageError(
                f"the server did not answer the byte range {start}-{end - 1} it was asked for",
                bucket=src.bucket,
                key=src.key,
                code="RangeNotHonoured",
            )
        data = read_capped(response["Body"], end - start, bucket=src.bucket, key=src.key)
        if len(data) != end - start:
            raise StorageError(
                "short read from the server", bucket=src.bucket, key=src.key, code="ShortRead"
            )
        src.fetched += len(data)
        return data

    def changed_error(self, src: SourceVersion) -> PreconditionFailedError:
        return PreconditionFailedError(
            "the object changed during the re-wrap; nothing was replaced",
            bucket=src.bucket,
            key=src.key,
            code="PreconditionFailed",
            hint="run the re-wrap again",
        )

    # -- the header ---------------------------------------------------------------------------

    def _carriers(self, rewrite_edks: Sequence[Any]) -> list[Keyring]:
        """Keyrings that can re-wrap old data keys for a new context: one KMS keyring
        per KMS key the message names (KMS Encrypt with the new context; needs
        ``kms:Encrypt`` on that key), then the caller's own. KMS first, so that a
        discovery keyring of the caller (which cannot wrap) is never picked."""
        carriers: list[Keyring] = []
        seen: set[str] = set()
        for edk in rewrite_edks:
            if edk.provider_id != KMS_PROVIDER_ID:
                continue
            try:
                arn_text = edk.provider_info.decode("utf-8")
            except UnicodeDecodeError:
                continue
            arn = parse_key_arn(arn_text)
            if arn is None or arn_text in seen:
                continue
            seen.add(arn_text)
            client = self.access.connection.client("kms", region_name=arn.region)
            carriers.append(AwsKmsKeyring(arn_text, client=client))
        return carriers + list(_flatten(self.keyring))

    # -- the public operation -----------------------------------------------------------------

    def run(
        self,
        key: str,
        changes: KeyChanges,
        *,
        destination: tuple[str, str] | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        delete_old_versions: bool = False,
        dry_run: bool = False,
    ) -> RewrapResult:
        """Re-wrap ``key`` in place, or re-bind a copy of it to ``destination`` (bucket, key).

        The new message is bound to where it is written (``securestore:bucket`` /
        ``securestore:key``). ``context`` are pairs the old message must carry;
        ``relocated`` accepts an old message bound elsewhere (it is re-bound here).

        Concurrency: reads and copies are pinned to the source ETag (and version id
        on versioned buckets); before completing, the source is checked unchanged;
        the completion (or PUT) carries ``If-Match`` (in place) or
        ``If-None-Match: *`` (a new location), which S3 enforces. After the write,
        a versioned bucket's version list must show the new version directly on
        top of the source version; otherwise the new version is deleted again
        (the other writer's version becomes current) and the error says so.

        Raises:
            PreconditionFailedError: the source changed or a concurrent write was
                detected; nothing of the other writer was replaced.
            KeyringError: the data key cannot be unwrapped, or a key cannot be
                carried across a context change; nothing was written.
            ConfigurationError: removing the last key, too many keys, a removal
                that matches nothing.
            PolicyError: a signed message, or S3 stored the copy with another SSE mode.
            IntegrityError: the object is not a valid message, or fails authentication.
        """
        validate_key(key)
        dst_bucket, dst_key = destination or (self.bucket, key)
        validate_bucket_name(dst_bucket)
        validate_key(dst_key)
        in_place = (dst_bucket, dst_key) == (self.bucket, key)
        if delete_old_versions and not in_place:
            raise ConfigurationError("delete_old_versions applies to re-wraps in place only")
        head = self.head_of(self.bucket, key)
        src = SourceVersion(
            bucket=self.bucket,
            key=key,
            etag=str(head.get("ETag", "")),
            version_id=head.get("VersionId"),
            size=int(head.get("ContentLength", 0)),
            head=head,
        )
        try:
            rewrite, first = self._rewrite(src, changes, context, relocated, (dst_bucket, dst_key))
        except SecureStoreError as exc:
            if exc.bucket is None:
                exc.bucket, exc.key = self.bucket, key
            raise
        result = RewrapResult(
            bucket=dst_bucket,
            key=dst_key,
            source_bucket=self.bucket,
            source_key=key,
            method=None,
            dry_run=dry_run,
            source_etag=src.etag,
            source_version_id=src.version_id,
            added=tuple(e.describe() for e in rewrite.added),
            removed=tuple(e.describe() for e in rewrite.removed),
            rewrapped=tuple(e.describe() for e in rewrite.rewrapped),
            context=dict(rewrite.header.encryption_context),
            bytes_fetched=src.fetched,
        )
        if dry_run:
            return result
        return write_rewrapped(
            self, src, rewrite, first, result, in_place=in_place, delete_old=delete_old_versions
        )

    def _rewrite(
        self,
        src: SourceVersion,
        changes: KeyChanges,
        context: Mapping[str, str] | None,
        relocated: bool,
        destination: tuple[str, str],
    ) -> tuple[HeaderRewrite, bytes]:
        """Fetch and authenticate the old header, build the new one (nothing written)."""
        first = self.fetch(src, 0, min(src.size, HEADER_PROBE))
        try:
            header = read_header(
                lambda a, b: self.fetch(src, a, b), src.size, self.limits, first=first
            )
        except FormatError as exc:
            if starts_like_message(first):
                raise  # a damaged message is an error, never a skip
            raise NotAMessageError(
                f"not a client-side message ({exc.message})", hint=_not_a_message_hint(src.head)
            ) from exc
        if header.length > len(first):
            first = first + self.fetch(src, len(first), header.length)
        expected = expected_context(src.bucket, src.key, context, relocated=relocated)
        check_location(header, expected, src.bucket, src.key)
        if not header.suite.signed:
            # A body whose length fits no frame layout is refused before any key is used.
            Layout.from_ciphertext_length(src.size, header.frame_length, header.length)
        user = ContextChange(set=changes.set_context, remove=changes.remove_context)
        for name in [*(changes.set_context or {}), *changes.remove_context]:
            if name.startswith("securestore:"):
                raise ConfigurationError(
                    f"context key {name!r} is reserved: the location binding follows the object"
                )
        binding = {CONTEXT_BUCKET: destination[0], CONTEXT_KEY: destination[1]}
        change = ContextChange(
            set={**(user.set or {}), **binding}, remove=tuple(changes.remove_context)
        )
        rewrite = rewrap_header(
            header,
            self.keyring,
            expected_context=expected,
            add=changes.add,
            remove=changes.remove,
            remove_kms_keys=changes.remove_kms_keys,
            context=change,
            rewrap=self._carriers(header.encrypted_data_keys),
            max_encrypted_data_keys=self.limits.max_encrypted_data_keys,
        )
        return rewrite, first

    # -- used by the write step ----------------------------------------------------------------

    def request_params(self, src: SourceVersion, bucket: str, key: str) -> dict[str, Any]:
        """Bucket, key, user metadata, content headers and the SSE mode of the source."""
        head = src.head
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        metadata = head.get("Metadata") or {}
        if metadata:
            params["Metadata"] = dict(metadata)
        for name in CONTENT_HEADERS:
            if head.get(name):
                params[name] = head[name]
        storage = head.get("StorageClass")
        if storage and storage != "STANDARD":
            params["StorageClass"] = storage
        algorithm = head.get("ServerSideEncryption")
        if algorithm:
            params["ServerSideEncryption"] = algorithm
            if algorithm != "AES256" and head.get("SSEKMSKeyId"):
                params["SSEKMSKeyId"] = head["SSEKMSKeyId"]
            if head.get("BucketKeyEnabled"):
                params["BucketKeyEnabled"] = True
        return params

    def check_sse(
        self, src: SourceVersion, response: Mapping[str, Any], bucket: str, key: str
    ) -> None:
        """Refuse a copy that S3 stored with another SSE mode or KMS key than the source."""
        old = StoredEncryption.from_response(src.head)
        new = StoredEncryption.from_response(response)
        same_mode = old.algorithm is None or old.sse_name == new.sse_name
        same_key = not (old.kms_key_id and new.kms_key_id) or old.kms_key_id == new.kms_key_id
        if not (same_mode and same_key):
            raise PolicyError(
                f"S3 stored the re-wrapped object as {new.describe()}, "
                f"the source was {old.describe()}",
                bucket=bucket,
                key=key,
            )


def rewrap_object(
    access: BucketAccess,
    key: str,
    *,
    mode: EncryptionMode,
    keyring: Keyring | None,
    add: Iterable[Keyring] = (),
    remove: Iterable[Keyring] = (),
    remove_kms_keys: Iterable[str] = (),
    context: Mapping[str, str] | None = None,
    remove_context: Iterable[str] = (),
    expect_context: Mapping[str, str] | None = None,
    destination: tuple[str, str] | None = None,
    relocated: bool = False,
    delete_old_versions: bool = False,
    dry_run: bool = False,
) -> RewrapResult:
    """:meth:`Rewrapper.run` with a store's defaults: ``mode`` (the store's) gives the
    header limits and, when ``expect_context`` is ``None``, the context to expect.

    ``add``, ``remove``, ``remove_kms_keys``, ``context`` (pairs to set) and
    ``remove_context`` are the :class:`KeyChanges`; the rest is as for
    :meth:`securestore.store.SecureStore.rewrap`.

    Raises:
        ConfigurationError: no ``keyring`` to unwrap the object; else as for :meth:`Rewrapper.run`.
    """
    changes = KeyChanges(
        add=tuple(add),
        remove=tuple(remove),
        remove_kms_keys=tuple(remove_kms_keys),
        set_context=context,
        remove_context=tuple(remove_context),
    )
    if keyring is None:
        raise ConfigurationError("rewrap needs a keyring that unwraps the object")
    limits = mode.header_limits if isinstance(mode, ClientSide) else None
    if expect_context is None and isinstance(mode, ClientSide):
        expect_context = mode.context
    return Rewrapper(access, keyring, limits=limits).run(
        key,
        changes,
        destination=destination,
        context=expect_context,
        relocated=relocated,
        delete_old_versions=delete_old_versions,
        dry_run=dry_run,
    )


def _not_a_message_hint(head: Mapping[str, Any]) -> str:
    """What to do with an object rewrap cannot change; S3EC objects are named by metadata.

    The metadata only chooses the wording: the decision (skip, not error) was made from
    the object's bytes.
    """
    names = {name.lower() for name in head.get("Metadata") or {}}
    if names & S3EC_MAPKEYS:
        return (
            "it looks like an AWS S3 Encryption Client object: `securestore migrate` "
            "rewrites it as a client-side message"
        )
    return "rewrap changes client-side messages only; plaintext and SSE objects stay as they are"

"""The :class:`SecureStore` facade: encrypted put, get, open, transfer, list, head, delete."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import botocore.exceptions

from securestore.clientside import (
    FORMAT_METADATA,
    FORMAT_VALUE,
    HEADER_PROBE,
    LENGTH_METADATA,
    ClientSide,
    ClientSideReader,
    FetchRange,
    FramedParts,
    check_location,
    expected_context,
    message_context,
    read_header,
)
from securestore.errors import (
    AccessDeniedError,
    ConfigurationError,
    FormatError,
    KeyringError,
    KeyUnavailableError,
    LocalFileError,
    NoMatchingKeyError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransferError,
)
from securestore.location import validate_bucket_name, validate_key
from securestore.message import (
    DecryptingReader,
    Decryptor,
    Encryptor,
    Header,
    HeaderLimits,
    Keyring,
)
from securestore.message.frames import REGULAR_FRAME_OVERHEAD as _FRAME_OVERHEAD
from securestore.modes import EncryptionMode, SseS3, StoredEncryption
from securestore.reader import RETRYABLE_STREAM_ERRORS, ObjectReader
from securestore.transfer import (
    AtomicFile,
    MiB,
    Part,
    ProgressCallback,
    TransferConfig,
    chunk_stream,
    file_parts,
    pwrite_all,
    run_bounded,
)
from securestore.transport import Connection, translate_error

__all__ = ["Body", "ObjectInfo", "ObjectSummary", "SecureStore", "create_bucket", "list_buckets"]

logger = logging.getLogger(__name__)

#: What ``put`` accepts: bytes, a binary file object (seekable or not), or an iterable of bytes.
Body = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]

_STREAM_PIECE = 1 * MiB
_RESERVED_METADATA_PREFIX = "securestore-"


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 reports about a stored object."""

    bucket: str
    key: str
    size: int
    etag: str
    encryption: StoredEncryption
    last_modified: datetime.datetime | None = None
    content_type: str | None = None
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``securestore head --json``)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "content_type": self.content_type,
            "version_id": self.version_id,
            "encryption": {
                "mode": self.encryption.sse_name,
                "kms_key_id": self.encryption.kms_key_id,
                "bucket_key_enabled": self.encryption.bucket_key_enabled,
                "client_side": dict(self.encryption.client_side)
                if self.encryption.client_side is not None
                else None,
            },
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class ObjectSummary:
    """One entry of a listing."""

    key: str
    size: int
    etag: str
    last_modified: datetime.datetime | None
    storage_class: str | None = None


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if not metadata:
        return {}
    out = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("metadata names and values must be strings")
        if not name or not name.isascii() or not all(c.isalnum() or c in "-_." for c in name):
            raise ConfigurationError(
                f"invalid metadata name {name!r}: use ASCII letters, digits, '-', '_' and '.'"
            )
        if name.lower().startswith(_RESERVED_METADATA_PREFIX):
            raise ConfigurationError(
                f"metadata name {name!r} is reserved: names starting with "
                f"{_RESERVED_METADATA_PREFIX!r} describe how securestore wrote the object"
            )
        if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ConfigurationError(
                f"metadata value of {name!r} must be ASCII without control characters"
            )
        if name.lower() in out:
            raise ConfigurationError(
                f"metadata names {name!r} and another differ only in case (S3 keeps one)"
            )
        out[name.lower()] = value
    return out


class SecureStore:
    """Encrypted object storage in one S3 bucket.

    Every write is encrypted with a mode (the store's default or one given per
    call) and S3's answer is checked against it; every read can demand a mode.
    All traffic goes over TLS-only connections (:class:`~securestore.transport.Connection`).

    Args:
        bucket: the bucket name.
        encryption: the default mode for writes (:class:`~securestore.modes.SseS3` if omitted).
        require: a mode every read demands unless a call says otherwise.
        connection: where and how to connect (defaults follow boto3's
            environment and config files).
        transfer: part size and concurrency of multipart transfers.
        keyring: decrypts client-side objects read through a store whose own mode
            is server-side (a :class:`~securestore.clientside.ClientSide` mode
            brings its keyring).

    Raises:
        InvalidLocationError: the bucket name is invalid.
    """

    def __init__(
        self,
        bucket: str,
        *,
        encryption: EncryptionMode | None = None,
        require: EncryptionMode | None = None,
        connection: Connection | None = None,
        transfer: TransferConfig | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.bucket = validate_bucket_name(bucket)
        self.keyring = keyring or (
            encryption.keyring if isinstance(encryption, ClientSide) else None
        )
        self.encryption = encryption or SseS3()
        self.require = require
        self.transfer = transfer or TransferConfig()
        self.connection = connection or Connection()
        self._key_arns: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecureStore(bucket={self.bucket!r}, encryption={self.encryption!r})"

    @property
    def _s3(self) -> Any:
        return self.connection.client("s3")

    @contextlib.contextmanager
    def _boundary(self, action: str, key: str | None = None) -> Iterator[None]:
        """Translate botocore errors raised inside the block into securestore errors.

        Library errors raised inside (a failed authentication, say) are given the
        bucket and key, so every message names the object concerned.
        """
        try:
            yield
        except SecureStoreError as exc:
            if exc.bucket is None:
                exc.bucket, exc.key = self.bucket, key
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate_error(exc, bucket=self.bucket, key=key, action=action) from exc

    # -- KMS key checks -------------------------------------------------------------------

    def _resolve_key_arn(self, key_id: str) -> str | None:
        """Look up the ARN of a KMS key (cached); ``None`` if we may not ask KMS.

        An unknown, disabled or deleted key is reported before any data is sent.
        """
        with self._lock:
            if key_id in self._key_arns:
                return self._key_arns[key_id]
        region = _region_of_arn(key_id) or self.connection.region
        try:
            meta = self.connection.client("kms", region_name=region).describe_key(KeyId=key_id)[
                "KeyMetadata"
            ]
        except botocore.exceptions.ClientError as exc:
            err = translate_error(exc, bucket=self.bucket, action=f"looking up KMS key {key_id}")
            if isinstance(err, AccessDeniedError):
                # Not allowed to describe keys: S3 will still refuse an unusable key.
                arn = None
            else:
                raise KeyUnavailableError(
                    f"KMS key {key_id} is not usable: {exc.response.get('Error', {}).get('Code')}",
                    bucket=self.bucket,
                    hint="check the key id or alias, its region and that it is enabled",
                ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate_error(exc, bucket=self.bucket, action="looking up KMS key") from exc
        else:
            if meta.get("KeyState") not in (None, "Enabled"):
                raise KeyUnavailableError(
                    f"KMS key {key_id} is {meta.get('KeyState')}", bucket=self.bucket
                )
            arn = meta.get("Arn")
        with self._lock:
            self._key_arns[key_id] = arn
        return arn

    def _key_arn_for(self, mode: EncryptionMode) -> str | None:
        key_id = mode.kms_key_id
        return self._resolve_key_arn(key_id) if key_id else None

    def _verify_write(self, mode: EncryptionMode, response: Mapping[str, Any], key: str) -> None:
        stored = StoredEncryption.from_response(response)
        arn = self._key_arn_for(mode)
        reason = mode.check_write(stored, resolved_key_arn=arn)
        if reason is not None:
            raise PolicyError(
                f"S3 did not store the object as requested ({mode.name}): {reason}",
                bucket=self.bucket,
                key=key,
                hint="a proxy, bucket policy or S3-compatible server may ignore encryption "
                "headers; on a server without SSE, encrypt client-side (--client-side)",
            )

    def _required(self, require: EncryptionMode | None) -> EncryptionMode | None:
        """The mode a read demands: the call's, else the store's."""
        return require if require is not None else self.require

    def _check_read(
        self, require: EncryptionMode | None, stored: StoredEncryption, key: str
    ) -> None:
        mode = self._required(require)
        if mode is None:
            return
        reason = mode.check(stored)
        if reason is not None and mode.kms_key_id:
            reason = mode.check(stored, resolved_key_arn=self._key_arn_for(mode))
        if reason is not None:
            raise PolicyError(
                f"refusing to read: the object is {reason}", bucket=self.bucket, key=key
            )

    # -- writes ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        body: Body,
        *,
        encryption: EncryptionMode | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ObjectInfo:
        """Store ``body`` under ``key``, encrypted with ``encryption`` (or the store's mode).

        ``body`` may be bytes, a binary file object (seekable or not, of unknown
        length) or an iterable of bytes. Bodies larger than one part are sent as
        a multipart upload with bounded memory; a failed upload is aborted and
        leaves any existing object untouched.

        Raises:
            PolicyError: S3 reports a different encryption than requested.
            StorageError: S3 refused or failed the request (after retries).
        """
        validate_key(key)
        mode = encryption or self.encryption
        meta = _check_metadata(metadata)
        size = len(body) if isinstance(body, bytes | bytearray | memoryview) else None
        with self._boundary("put", key):
            plan = self._plan_write(key, mode, size, meta)
            return self._upload(
                key, chunk_stream(body, plan.part_size), mode, plan, content_type, progress
            )

    def upload_file(
        self,
        path: str | os.PathLike[str],
        key: str,
        *,
        encryption: EncryptionMode | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ObjectInfo:
        """Upload a local file, with a concurrent multipart upload when it is large.

        Raises:
            LocalFileError: the file cannot be read.
            PolicyError, StorageError: as for :meth:`put`.
        """
        validate_key(key)
        source = Path(path)
        try:
            handle = source.open("rb")
        except OSError as exc:
            raise LocalFileError(
                f"cannot read {source}: {exc.strerror or exc}", bucket=self.bucket, key=key
            ) from exc
        with handle:
            if not source.is_file():
                raise LocalFileError(f"not a regular file: {source}")
            size = os.fstat(handle.fileno()).st_size
            mode = encryption or self.encryption
            meta = _check_metadata(metadata)
            with self._boundary("upload", key):
                plan = self._plan_write(key, mode, size, meta)
                return self._upload(
                    key,
                    file_parts(handle.fileno(), size, plan.part_size),
                    mode,
                    plan,
                    content_type,
                    progress,
                )

    def _plan_write(
        self, key: str, mode: EncryptionMode, size: int | None, metadata: dict[str, str]
    ) -> _WritePlan:
        """Check the mode's KMS key, and decide part size, body transform and metadata."""
        self._key_arn_for(mode)
        part_size = (
            self.transfer.part_size_for(size) if size is not None else self.transfer.part_size
        )
        if not isinstance(mode, ClientSide):
            return _WritePlan(part_size, None, metadata)
        encryptor = Encryptor(
            mode.keyring,
            encryption_context=message_context(self.bucket, key, mode.context),
            frame_length=mode.frame_length,
            max_data_keys=mode.header_limits.max_encrypted_data_keys,
        )
        framing = FramedParts(
            encryptor, FramedParts.frames_per_part_for(part_size, mode.frame_length)
        )
        marked = {**metadata, FORMAT_METADATA: FORMAT_VALUE}
        if size is not None:
            marked[LENGTH_METADATA] = str(size)
        return _WritePlan(framing.plaintext_part_size, framing, marked)

    def _upload(
        self,
        key: str,
        parts: Iterator[Part],
        mode: EncryptionMode,
        plan: _WritePlan,
        content_type: str | None,
        progress: ProgressCallback | None,
    ) -> ObjectInfo:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, **mode.request_params()}
        if plan.metadata:
            params["Metadata"] = plan.metadata
        if content_type:
            params["ContentType"] = content_type
        first = next(parts)
        if first.last:
            data = plan.body(first)
            response = self._s3.put_object(Body=data, **params)
            if progress:
                progress(len(first.data))
            self._verify_or_undo(mode, response, key)
            return self._info_after_write(key, response, len(data), plan.metadata, content_type)
        return self._multipart(key, itertools.chain([first], parts), params, mode, plan, progress)

    def _verify_or_undo(self, mode: EncryptionMode, response: Mapping[str, Any], key: str) -> None:
        """Check a completed write; if S3 stored it otherwise than asked, remove it.

        Data the caller wanted encrypted one way must not stay stored another way:
        on a versioned bucket the new version is deleted (the previous one becomes
        current again); otherwise the object itself is deleted.
        """
        try:
            self._verify_write(mode, response, key)
        except PolicyError as exc:
            version = response.get("VersionId")
            versioned = bool(version) and version != "null"
            extra = {"VersionId": version} if versioned else {}
            try:
                self._s3.delete_object(Bucket=self.bucket, Key=key, **extra)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                exc.message += "; it could not be deleted: remove it by hand"
            else:
                exc.message += (
                    "; the new version was deleted"
                    if versioned
                    else "; the object as stored was deleted"
                )
            raise

    def _multipart(
        self,
        key: str,
        parts: Iterator[Part],
        params: dict[str, Any],
        mode: EncryptionMode,
        plan: _WritePlan,
        progress: ProgressCallback | None,
    ) -> ObjectInfo:
        created = self._s3.create_multipart_upload(**params)
        upload_id = created["UploadId"]
        try:
            # Checked before any data is sent: a refused mode costs nothing.
            self._verify_write(mode, created, key)

            def send(part: Part) -> tuple[dict[str, Any], int]:
                data = plan.body(part)
                number, plain_size = part.number, len(part.data)
                # Drop the plaintext while the ciphertext is sent (run_bounded keeps no
                # other reference), so a part is held once, not twice.
                del part
                response = self._s3.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                )
                if progress:
                    progress(plain_size)
                return {"PartNumber": number, "ETag": response["ETag"]}, len(data)

            sent = run_bounded(parts, send, concurrency=self.transfer.concurrency)
            done = [entry for entry, _ in sent]
            total = sum(size for _, size in sent)
            completed = self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            self._abort(key, upload_id)
            raise
        self._verify_or_undo(mode, completed, key)
        return self._info_after_write(
            key,
            completed,
            total,
            params.get("Metadata", {}),
            params.get("ContentType"),
            fallback=created,
        )

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            logger.warning(
                "could not abort multipart upload %s of s3://%s/%s; a lifecycle rule "
                "(AbortIncompleteMultipartUpload) will have to remove it",
                upload_id,
                self.bucket,
                key,
            )

    def _info_after_write(
        self,
        key: str,
        response: Mapping[str, Any],
        size: int,
        metadata: Mapping[str, str],
        content_type: str | None,
        fallback: Mapping[str, Any] | None = None,
    ) -> ObjectInfo:
        merged = {**(fallback or {}), **{k: v for k, v in response.items() if v is not None}}
        return ObjectInfo(
            bucket=self.bucket,
            key=key,
            size=size,
            etag=str(response.get("ETag", "")),
            encryption=_with_marker(StoredEncryption.from_response(merged), metadata),
            content_type=content_type,
            version_id=response.get("VersionId"),
            metadata=dict(metadata),
        )

    # -- reads ----------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        """Describe the object: size, encryption mode and key, ETag, metadata.

        Raises:
            NotFoundError: no such bucket or object.
        """
        validate_key(key)
        try:
            with self._boundary("head", key):
                response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except NotFoundError as exc:
            # A HEAD 404 has no body to tell a missing key from a missing bucket.
            raise self._which_missing(exc) from exc.__cause__
        return self._info(key, response)

    def _which_missing(self, exc: NotFoundError) -> NotFoundError:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError as probe:
            if str(probe.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket"):
                return NotFoundError(
                    f"{exc.message.split(':')[0]}: bucket does not exist",
                    bucket=self.bucket,
                    code="NoSuchBucket",
                    hint="check the bucket name and region",
                )
        except botocore.exceptions.BotoCoreError:
            pass
        return exc

    def _info(self, key: str, response: Mapping[str, Any]) -> ObjectInfo:
        # Metadata names travel as HTTP headers, whose case servers do not all keep.
        metadata = {name.lower(): value for name, value in (response.get("Metadata") or {}).items()}
        stored = _with_marker(StoredEncryption.from_response(response), metadata)
        return ObjectInfo(
            bucket=self.bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", "")),
            encryption=stored,
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
            version_id=response.get("VersionId"),
            metadata=metadata,
        )

    def _get_range(self, key: str, etag: str, first: int, last: int | None = None) -> Any:
        """GET bytes ``first..last`` (inclusive; to the end if ``None``) of version ``etag``.

        The request is conditional on the ETag, and the answer's ETag is checked
        as well, since not every S3-compatible server honours ``If-Match``.
        """
        span = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        with self._boundary("read", key):
            response: dict[str, Any] = self._s3.get_object(
                Bucket=self.bucket, Key=key, Range=span, IfMatch=etag
            )
        answered = response.get("ETag")
        if answered is not None and answered != etag:
            response["Body"].close()
            raise PreconditionFailedError(
                "the object changed while it was being read",
                bucket=self.bucket,
                key=key,
                code="PreconditionFailed",
                hint="read it again",
            )
        return response

    def _open_range(self, key: str, etag: str) -> Any:
        def open_range(start: int) -> dict[str, Any]:
            response: dict[str, Any] = self._get_range(key, etag, start)
            return response

        return open_range

    def _stream_range(
        self,
        key: str,
        etag: str,
        start: int,
        end: int,
        window: Callable[[int, int], memoryview],
        commit: Callable[[int, memoryview], None] | None = None,
    ) -> None:
        """Read bytes ``[start, end)`` of one object version straight into buffers.

        ``window(offset, remaining)`` gives the writable view the next read fills
        (a slice of the caller's output, or a reused scratch buffer), and
        ``commit(offset, filled)`` is told what arrived. Reading into place avoids
        the copies that dominated downloads. A body that breaks is resumed from where
        it stopped; ``read_retries`` consecutive failures without progress give up
        (the same rule as :class:`~securestore.reader.ObjectReader`).
        """
        attempts = 0
        while start < end:
            resumed_at = start
            try:
                body = self._get_range(key, etag, start, end - 1)["Body"]
                with contextlib.closing(body):
                    while start < end:
                        view = window(start, end - start)
                        count = body.readinto(view)
                        if not count:
                            raise botocore.exceptions.IncompleteReadError(
                                actual_bytes=start, expected_bytes=end
                            )
                        if commit is not None:
                            commit(start, view[:count])
                        start += count
            except RETRYABLE_STREAM_ERRORS as exc:
                attempts = 1 if start > resumed_at else attempts + 1
                if attempts > self.transfer.read_retries:
                    raise TransferError(
                        f"read failed after {attempts} attempts: {type(exc).__name__}",
                        bucket=self.bucket,
                        key=key,
                    ) from exc

    def _fetcher(self, key: str, etag: str) -> FetchRange:
        """Exact ranged GETs of one object version, read into one buffer of the exact size."""

        def fetch(start: int, end: int) -> bytearray:
            out = bytearray(end - start)
            view = memoryview(out)
            self._stream_range(
                key, etag, start, end, lambda at, _: view[at - start : at - start + _STREAM_PIECE]
            )
            return out

        return fetch

    def _client_side_for(
        self, require: EncryptionMode | None, info: ObjectInfo
    ) -> ClientSide | None:
        """The client-side mode a read must decrypt with, or ``None`` for a plain SSE read.

        A store whose mode is client-side decrypts every read, so an object
        replaced by an unencrypted one is refused rather than returned. The
        metadata marker only tells an SSE store that a keyring is needed.
        """
        mode = self._required(require)
        if isinstance(mode, ClientSide):
            return mode
        if isinstance(self.encryption, ClientSide):
            return self.encryption
        if info.encryption.client_side is not None:
            if self.keyring is None:
                raise KeyringError(
                    "the object is client-side encrypted and no keyring is configured",
                    bucket=self.bucket,
                    key=info.key,
                    hint="pass keyring= (CLI: --key-file, --rsa-private-key or --kms-key-id)",
                )
            return ClientSide(self.keyring)
        return None

    def _probe(self, key: str, require: EncryptionMode | None) -> tuple[ObjectInfo, bytes]:
        """What :meth:`head` tells, plus the object's first bytes, in one request.

        A ranged GET of the first :data:`HEADER_PROBE` bytes answers with the same
        headers as HEAD and brings the message header of a client-side object
        along, saving a round trip on every open. A read that demands a
        server-side mode uses HEAD, so that a refused object sends no byte at all;
        so does a probe whose body breaks (the header is then fetched with retries).
        """
        mode = self._required(require)
        if mode is not None and not isinstance(mode, ClientSide):
            return self.head(key), b""
        validate_key(key)
        try:
            with self._boundary("read", key):
                response = self._s3.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{HEADER_PROBE - 1}"
                )
        except StorageError as exc:
            if exc.code == "InvalidRange":  # an empty object has no byte 0
                return self.head(key), b""
            raise
        with self._boundary("read", key), contextlib.closing(response["Body"]) as body:
            try:
                first: bytes = body.read()
            except RETRYABLE_STREAM_ERRORS:
                return self.head(key), b""
        total = _range_total(response.get("ContentRange"))
        size = total if total is not None else int(response.get("ContentLength", len(first)))
        return self._info(key, {**response, "ContentLength": size}), first[:HEADER_PROBE]

    def _prepare_read(
        self, key: str, require: EncryptionMode | None
    ) -> tuple[ObjectInfo, bytes, ClientSide | None]:
        """Describe the object, enforce ``require``, and say how it must be decrypted."""
        info, first = self._probe(key, require)
        self._check_read(require, info.encryption, key)
        return info, first, self._client_side_for(require, info)

    def _open_client_side(
        self,
        key: str,
        info: ObjectInfo,
        mode: ClientSide,
        context: Mapping[str, str] | None,
        relocated: bool,
        first: bytes = b"",
    ) -> ClientSideReader:
        fetch = self._fetcher(key, info.etag)
        expected = expected_context(
            self.bucket, key, mode.context if context is None else context, relocated=relocated
        )
        with self._boundary("read", key):
            try:
                header = read_header(fetch, info.size, mode.header_limits, first=first)
            except FormatError as exc:
                if info.encryption.client_side is None:
                    exc.message += "; the object does not look client-side encrypted"
                raise
            check_location(header, expected, self.bucket, key)
            try:
                decryptor = Decryptor(
                    header, mode.keyring, expected_context=expected, policy=mode.policy
                )
            except NoMatchingKeyError as exc:
                exc.bucket, exc.key = self.bucket, key
                exc.hint = exc.hint or (
                    "give a key that the object was encrypted for "
                    "(CLI: --key-file, --rsa-private-key or --kms-key-id)"
                )
                raise

        def ciphertext() -> ObjectReader:
            return ObjectReader(
                self._open_range(key, info.etag),
                size=info.size,
                bucket=self.bucket,
                key=key,
                read_retries=self.transfer.read_retries,
            )

        if not header.suite.signed:
            return ClientSideReader(
                decryptor,
                ciphertext=ciphertext(),
                fetch=fetch,
                ciphertext_size=info.size,
                location=(self.bucket, key),
            )

        def restart() -> DecryptingReader:
            return DecryptingReader(
                io.BufferedReader(ciphertext(), _STREAM_PIECE),
                mode.keyring,
                expected_context=expected,
                policy=mode.policy,
                limits=mode.header_limits,
            )

        # Signed messages: the signature covers the whole message, so it is checked
        # in a full streaming pass before any plaintext is handed out.
        verified = 0
        with self._boundary("read", key), restart() as stream:
            for chunk in stream:
                verified += len(chunk)
        return ClientSideReader(
            decryptor,
            ciphertext=ciphertext(),
            fetch=fetch,
            ciphertext_size=info.size,
            restart=restart,
            plaintext_size=verified,
            location=(self.bucket, key),
        )

    def open(
        self,
        key: str,
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
    ) -> ObjectReader | ClientSideReader:
        """Open the object for streaming, seekable reads with constant memory.

        The encryption check (``require``) happens before any byte is returned.
        A client-side object is decrypted: a read fetches only the frames it
        needs and authenticates each before returning it.

        Args:
            require: the mode the object must be stored with.
            context: client-side only: encryption-context pairs the object must
                carry (default: the mode's context).
            relocated: client-side only: accept an object whose message is bound
                to another bucket or key (it was copied or moved knowingly).

        Raises:
            NotFoundError: no such bucket or object.
            PolicyError: the object is not stored with the required mode.
            IntegrityError: a client-side object is malformed or fails authentication.
            KeyringError: no configured key can decrypt a client-side object.
        """
        info, first, client_side = self._prepare_read(key, require)
        if client_side is not None:
            return self._open_client_side(key, info, client_side, context, relocated, first)
        return ObjectReader(
            self._open_range(key, info.etag),
            size=info.size,
            bucket=self.bucket,
            key=key,
            read_retries=self.transfer.read_retries,
        )

    def get(
        self,
        key: str,
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
    ) -> bytes:
        """Return the whole object as bytes (use :meth:`open` for large objects).

        For a client-side object nothing is returned unless the whole message
        (every frame, and the signature of a signed message) authenticated.

        Raises:
            NotFoundError, PolicyError, IntegrityError, KeyringError: as for :meth:`open`.
        """
        with self.open(key, require=require, context=context, relocated=relocated) as reader:
            return reader.read_range(0, reader.size)

    def inspect(self, key: str, *, limits: HeaderLimits | None = None) -> Header:
        """Parse a client-side object's message header without decrypting anything.

        ``limits`` bounds the header (default :class:`HeaderLimits`).

        Raises:
            FormatError: the object is not an Encryption SDK message.
        """
        info = self.head(key)
        with self._boundary("inspect", key):
            return read_header(self._fetcher(key, info.etag), info.size, limits or HeaderLimits())

    def download_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ObjectInfo:
        """Download the object to ``path``, in parallel ranges when it is large.

        Data goes to a temporary file beside ``path`` that is renamed over it
        only when complete (for a client-side object: when every frame, the
        final one included, has authenticated); on any failure it is removed
        and ``path`` is untouched.

        Raises:
            LocalFileError: the destination folder is missing or not writable.
            NotFoundError, PolicyError, IntegrityError, KeyringError, StorageError:
                as for :meth:`open`.
        """
        info, first, client_side = self._prepare_read(key, require)
        target = Path(path)
        if client_side is None:
            with AtomicFile(target) as out:
                self._fetch_into(key, info, out.fd, progress)
            return info
        reader = self._open_client_side(key, info, client_side, context, relocated, first)
        with self._boundary("download", key), reader, AtomicFile(target) as out:
            if reader.layout is None:
                for chunk in reader:
                    pwrite_all(out.fd, chunk, reader.tell() - len(chunk))
                    if progress:
                        progress(len(chunk))
            else:
                self._decrypt_into(key, info.etag, reader, out.fd, progress)
        return info

    def _fetch_into(
        self, key: str, info: ObjectInfo, fd: int, progress: ProgressCallback | None
    ) -> None:
        part_size = self.transfer.part_size_for(info.size)
        ranges = [
            (start, min(start + part_size, info.size)) for start in range(0, info.size, part_size)
        ]

        scratch = threading.local()

        def window(_: int, remaining: int) -> memoryview:
            # One reused buffer per worker thread: no allocation per piece.
            if not hasattr(scratch, "view"):
                scratch.view = memoryview(bytearray(_STREAM_PIECE))
            view: memoryview = scratch.view
            return view[: min(remaining, len(view))]

        def write(offset: int, piece: memoryview) -> None:
            pwrite_all(fd, piece, offset)
            if progress:
                progress(len(piece))

        def fetch(span: tuple[int, int]) -> None:
            self._stream_range(key, info.etag, span[0], span[1], window, write)

        run_bounded(ranges, fetch, concurrency=self.transfer.concurrency)

    def _decrypt_into(
        self,
        key: str,
        etag: str,
        reader: ClientSideReader,
        fd: int,
        progress: ProgressCallback | None,
    ) -> None:
        """Fetch frame-aligned ranges in parallel, authenticate and write each in place.

        Each worker thread reuses one ciphertext and one plaintext buffer: fresh
        multi-MiB buffers per range cost more (page faults) than the decryption.
        """
        layout = reader.layout
        assert layout is not None
        per_range = max(1, self.transfer.part_size // (layout.frame_length + _FRAME_OVERHEAD))
        spans = [
            (first, min(first + per_range - 1, layout.frame_count))
            for first in range(1, layout.frame_count + 1, per_range)
        ]
        buffers = threading.local()

        def fetch(span: tuple[int, int]) -> None:
            first, last = span
            lo, hi = layout.ciphertext_range(first, last)
            if getattr(buffers, "size", 0) < hi - lo:
                buffers.size = hi - lo
                buffers.cipher = memoryview(bytearray(hi - lo))
                buffers.plain = memoryview(bytearray(hi - lo))
            cipher: memoryview = buffers.cipher[: hi - lo]
            self._stream_range(
                key, etag, lo, hi, lambda at, _: cipher[at - lo : at - lo + _STREAM_PIECE]
            )
            plain: memoryview = buffers.plain
            count = reader.decryptor.decrypt_frames_into(
                first, cipher, plain, includes_final=last == layout.frame_count
            )
            pwrite_all(fd, plain[:count], (first - 1) * layout.frame_length)
            if progress:
                progress(count)

        run_bounded(spans, fetch, concurrency=self.transfer.concurrency)

    # -- listing and deletion ---------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectSummary]:
        """Yield the objects under ``prefix``, lazily, one page at a time."""
        paginator = self._s3.get_paginator("list_objects_v2")
        with self._boundary("list"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectSummary(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=str(item.get("ETag", "")),
                        last_modified=item.get("LastModified"),
                        storage_class=item.get("StorageClass"),
                    )

    def delete(self, key: str) -> None:
        """Delete the object (S3 semantics: deleting a missing key succeeds).

        Raises:
            NotFoundError: the bucket does not exist.
        """
        validate_key(key)
        with self._boundary("delete", key):
            self._s3.delete_object(Bucket=self.bucket, Key=key)


def _with_marker(stored: StoredEncryption, metadata: Mapping[str, str]) -> StoredEncryption:
    """Note the client-side marker (informational: never trusted for security decisions)."""
    if FORMAT_METADATA not in metadata:
        return stored
    marker = {k: v for k, v in metadata.items() if k.startswith("securestore-")}
    return dataclasses.replace(stored, client_side=marker)


@dataclass(frozen=True)
class _WritePlan:
    """How one write cuts and transforms its body, and the metadata it stores."""

    part_size: int
    transform: Callable[[Part], bytes | bytearray] | None
    metadata: dict[str, str]

    def body(self, part: Part) -> bytes | bytearray:
        """The bytes to send for ``part``."""
        return self.transform(part) if self.transform is not None else bytes(part.data)


def _range_total(content_range: str | None) -> int | None:
    """The object size from ``Content-Range: bytes 0-4095/12345``, if present."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _region_of_arn(key_id: str) -> str | None:
    parts = key_id.split(":")
    return parts[3] if key_id.startswith("arn:") and len(parts) > 3 and parts[3] else None


def create_bucket(connection: Connection, bucket: str, *, region: str | None = None) -> None:
    """Create ``bucket`` in ``region`` (the connection's region by default).

    Raises:
        InvalidLocationError: the name is invalid.
        StorageError: the bucket exists already or cannot be created.
    """
    validate_bucket_name(bucket)
    region = region or connection.region
    s3 = connection.client("s3", region_name=region)
    # us-east-1 answers 200 to re-creating one's own bucket; ask first so that
    # "already exists" is reported the same way in every region.
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise StorageError(
                "bucket name is taken by another account",
                bucket=bucket,
                code=code,
                hint="bucket names are global: choose another name",
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    else:
        raise StorageError("bucket already exists", bucket=bucket, code="BucketAlreadyOwnedByYou")
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except botocore.exceptions.ClientError as exc:
        error_code = exc.response.get("Error", {}).get("Code")
        if error_code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StorageError(
                f"bucket already exists ({error_code})", bucket=bucket, code=error_code
            ) from exc
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise translate_error(exc, bucket=bucket, action="create bucket") from exc


def list_buckets(connection: Connection) -> list[tuple[str, datetime.datetime | None]]:
    """The buckets the credentials can list, as (name, creation date) pairs.

    Raises:
        AccessDeniedError, StorageError, TransportSecurityError: as translated from S3.
    """
    try:
        response = connection.client("s3").list_buckets()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise translate_error(exc, action="list buckets") from exc
    return [(b["Name"], b.get("CreationDate")) for b in response.get("Buckets", [])]

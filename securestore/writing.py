"""The store's write path: plan a write, send it (one PUT or a multipart upload), verify it.

Every write is checked against what S3 reports having stored; a write stored
otherwise than asked is undone, and a failed multipart upload is aborted so
that it never replaces the existing object.

An undo may only remove what the command wrote. On a versioned bucket that is
the new version; on an unversioned bucket a PutObject has already replaced the
previous object by the time its answer can be checked, and a server that
ignores the mode (rclone, MinIO without KMS, an SSE-stripping proxy) has then
stored the data otherwise than asked. So no data is sent in a mode the server
has not confirmed (once per :class:`WritePath` and mode):

* A multipart upload is checked at its CreateMultipartUpload answer, before any
  part is sent; that answer confirms the mode.
* A small write of an SSE-KMS or DSSE-KMS mode that is not confirmed yet is sent
  as a one-part multipart upload, for the same check: the same three requests
  as probe plus PutObject, and a successful write leaves nothing behind.
* A small SSE-S3 write (and an empty body) keeps its single PutObject, because
  S3 gives such an object its MD5 as ETag, which tools compare. Before the first
  one, :meth:`WritePath.confirm_mode` asks the server how it would store the
  mode: it creates a multipart upload under the target key with the mode's
  headers, checks the answer and aborts the upload (two requests per store).
  That touches no object, but when the caller lacks
  ``s3:AbortMultipartUpload`` the probe's empty upload (no parts, nothing
  billed) stays until a lifecycle rule or ``securestore uploads abort``
  removes it; a warning says so. Skipping the probe for a key that does not
  exist yet would avoid that, but would send data to a server that may store
  it unencrypted before the answer shows it: refused (fail closed).
* A server-side copy (CopyObject) moves no data through the client, so its
  probe runs only when an existing destination could be replaced (HEAD); a
  re-bound copy to a new key is written with ``If-None-Match: *``.

What stays possible (a server that confirms the mode and then stores a write
otherwise) is undone by deleting the new object, and the error says exactly
what is left.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from securestore.aborting import abort_upload, create_upload, upload_closed
from securestore.attributes import ObjectAttributes
from securestore.bucket import BucketAccess, with_marker
from securestore.chunking import SLACK, Source
from securestore.clientside import (
    FORMAT_METADATA,
    FORMAT_VALUE,
    LENGTH_METADATA,
    ClientSide,
    FramedParts,
    message_context,
)
from securestore.errors import PolicyError
from securestore.location import refuse_folder_key
from securestore.message import Encryptor
from securestore.message.frames import REGULAR_FRAME_OVERHEAD
from securestore.modes import EncryptionMode, StoredEncryption, unconfirmed_alias
from securestore.objects import ObjectInfo
from securestore.parts import MAX_OBJECT, MAX_PART, PartSchedule
from securestore.transfer import Part, ProgressCallback, TransferConfig, chunk_stream, run_bounded
from securestore.user_metadata import check_metadata

__all__ = ["WritePath", "WritePlan", "part_schedule"]

#: Ciphertext a client-side part may hold beyond its frames (part 1's header).
_HEADER_ROOM = 16 * 1024 * 1024


@dataclass(frozen=True)
class WritePlan:
    """How one write cuts and transforms its body, and the metadata and attributes it stores.

    ``schedule`` gives every part's plaintext size; ``part_size`` is its first size.
    """

    part_size: int
    transform: Callable[[Part], bytes | bytearray] | None
    metadata: dict[str, str]
    schedule: PartSchedule
    attributes: ObjectAttributes = field(default_factory=ObjectAttributes)
    client_side: bool = False

    def request_params(self) -> dict[str, Any]:
        """The storage class and content headers of the request that creates the object."""
        return self.attributes.request_params(client_side=self.client_side)

    def body(self, part: Part, *, reuse: bool = False) -> bytes | bytearray:
        """The bytes to send for ``part``.

        With ``reuse`` the caller sends them and then calls ``part.done()``: a
        client-side part is encrypted into a buffer of the part's lease and its
        plaintext buffer given back at once, and a part read into a buffer of
        exactly its size is sent from that buffer (no copy).
        """
        lease = part.lease if reuse else None
        if lease is None:
            return self.transform(part) if self.transform is not None else bytes(part.data)
        plain = _whole_buffer(part.data)
        if not isinstance(self.transform, FramedParts):
            lease.settle()
            if self.transform is not None:
                return self.transform(part)
            if plain is not None and len(plain) == len(part.data):
                return plain
            return bytes(part.data)
        size = self.transform.encrypted_size(part)
        out = self.transform(part, lease.buffer(size, slack=size // SLACK))
        if plain is not None:
            lease.recycle(plain)  # encrypted: only the ciphertext is held while it is sent
        lease.settle()
        return out


def _whole_buffer(data: bytes | bytearray | memoryview) -> bytearray | None:
    """The bytearray a part's memoryview was cut from, if it was."""
    if isinstance(data, memoryview) and isinstance(data.obj, bytearray):
        return data.obj
    return None


def part_schedule(
    transfer: TransferConfig, mode: EncryptionMode, size: int | None, expected_size: int | None
) -> PartSchedule:
    """The plaintext part sizes of a write of ``size`` bytes (``None``: a stream).

    Client-side parts are whole frames, and their ciphertext stays within S3's
    5 GiB per part (with room for the header) and 5 TiB per object.
    """
    if not isinstance(mode, ClientSide):
        return transfer.schedule_for(size, expected_size=expected_size)
    frame_length = mode.frame_length
    frame_size = frame_length + REGULAR_FRAME_OVERHEAD
    return transfer.schedule_for(
        size,
        expected_size=expected_size,
        unit=frame_length,
        max_part=max(frame_length, (MAX_PART - _HEADER_ROOM) // frame_size * frame_length),
        target=MAX_OBJECT // frame_size * frame_length,
    )


class WritePath:
    """Writes of one bucket: planning, sending, verification and undo."""

    def __init__(self, access: BucketAccess) -> None:
        self.access = access
        self.bucket = access.bucket
        self._confirmed: set[str] = set()
        self._lock = threading.Lock()

    def plan(
        self,
        key: str,
        mode: EncryptionMode,
        size: int | None,
        metadata: dict[str, str],
        *,
        expected_size: int | None = None,
        attributes: ObjectAttributes | None = None,
    ) -> WritePlan:
        """Check the mode's KMS key, and decide part sizes, body transform and metadata.

        A body of unknown ``size`` gets parts that grow as it goes
        (:meth:`~securestore.transfer.TransferConfig.schedule_for`; ``expected_size``
        is a hint). Client-side parts are whole frames, and their ciphertext stays
        within S3's part and object limits. ``attributes`` are stored with the
        object; a client-side object keeps its Content-Encoding as metadata
        (:mod:`securestore.attributes`).
        """
        attributes = attributes or ObjectAttributes()
        self.access.key_arn_for(mode)
        schedule = part_schedule(self.access.transfer, mode, size, expected_size)
        if not isinstance(mode, ClientSide):
            return WritePlan(schedule.base, None, metadata, schedule, attributes)
        frame_length = mode.frame_length
        encryptor = Encryptor(
            mode.keyring_for(size),
            encryption_context=message_context(self.bucket, key, mode.context),
            frame_length=frame_length,
            max_data_keys=mode.header_limits.max_encrypted_data_keys,
        )
        framing = FramedParts(encryptor, schedule.base // frame_length, schedule)
        marked = {
            **metadata,
            **attributes.metadata(client_side=True),
            FORMAT_METADATA: FORMAT_VALUE,
        }
        if size is not None:
            marked[LENGTH_METADATA] = str(size)
        return WritePlan(
            framing.plaintext_part_size, framing, marked, schedule, attributes, client_side=True
        )

    def put(
        self,
        key: str,
        body: Source,
        mode: EncryptionMode,
        metadata: Mapping[str, str] | None,
        *,
        content_type: str | None,
        progress: ProgressCallback | None,
        expected_size: int | None,
        attributes: ObjectAttributes | None,
    ) -> ObjectInfo:
        """See :meth:`securestore.store.SecureStore.put`; ``mode`` is already resolved."""
        meta = check_metadata(metadata)
        size = len(body) if isinstance(body, bytes | bytearray | memoryview) else None
        refuse_folder_key(key, empty=size == 0)
        with self.access.boundary("put", key):
            plan = self.plan(
                key, mode, size, meta, expected_size=expected_size, attributes=attributes
            )
            return self.upload(
                key, chunk_stream(body, plan.schedule), mode, plan, content_type, progress
            )

    def upload(
        self,
        key: str,
        parts: Iterator[Part],
        mode: EncryptionMode,
        plan: WritePlan,
        content_type: str | None,
        progress: ProgressCallback | None,
        *,
        before_commit: Callable[[], None] | None = None,
    ) -> ObjectInfo:
        """Send ``parts`` under ``key`` (one PUT if there is only one), then verify.

        ``before_commit`` runs once every part has been read, before the object is
        committed (the PutObject sent, the multipart upload completed); what it
        raises abandons the write.
        """
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            **mode.request_params(),
            **plan.request_params(),
        }
        if plan.metadata:
            params["Metadata"] = plan.metadata
        if content_type:
            params["ContentType"] = content_type
        if getattr(parts, "count", 1) > 1:  # a file of many parts: none read before it is sent
            return self._multipart(key, parts, params, mode, plan, progress, before_commit)
        first = next(parts)
        if first.last and self.single_put(mode, first):
            try:
                if before_commit is not None:
                    before_commit()
                self.confirm_mode(key, mode)
                data = plan.body(first, reuse=True)
                size, plain_size = len(data), len(first.data)
                response = self.access.s3.put_object(Body=data, **params)
            finally:
                first.done()
            if progress:
                progress(plain_size)
            self._verify_or_undo(mode, response, key)
            return self._info_after_write(key, response, size, plan.metadata, content_type)
        return self._multipart(
            key, itertools.chain([first], parts), params, mode, plan, progress, before_commit
        )

    def _verify(
        self, mode: EncryptionMode, response: Mapping[str, Any], key: str, before: bool = False
    ) -> None:
        stored = StoredEncryption.from_response(response)
        arn = self.access.key_arn_for(mode)
        reason = mode.check_write(stored, resolved_key_arn=arn)
        if reason is None:
            return
        message = f"S3 did not store the object as requested ({mode.name}): {reason}"
        hint = (
            "a proxy, bucket policy or S3-compatible server may ignore encryption "
            "headers; on a server without SSE, encrypt client-side (--client-side)"
        )
        alias = unconfirmed_alias(mode, stored, arn)
        if alias is not None:  # DescribeKey denied; refused, as any write not confirmed
            message = f"cannot confirm that the object is stored with KMS key {alias}: {reason}"
            hint = (
                f"{alias} is an alias and this identity may not look it up (kms:DescribeKey "
                "denied): allow kms:DescribeKey on the key, or name the key by its ARN (for "
                "a bucket's default encryption: a key ARN as its KMSMasterKeyID)"
            )
        if before:
            message += "; refused before writing: any existing object is untouched"
        raise PolicyError(message, bucket=self.bucket, key=key, hint=hint)

    def needs_confirmation(self, mode: EncryptionMode) -> bool:
        """Whether the server has yet to confirm that it stores ``mode`` (module docstring)."""
        if mode.check_write(StoredEncryption(None)) is None:
            return False  # nothing the server reports can fail this mode's check
        with self._lock:
            return _mode_token(mode) not in self._confirmed

    def single_put(self, mode: EncryptionMode, part: Part) -> bool:
        """Whether a one-part write of ``mode`` goes as a PutObject, not a multipart upload.

        See the module docstring: an unconfirmed mode goes multipart, except SSE-S3
        (whose single-part ETag is the MD5) and an empty body.
        """
        if not part.data or not self.needs_confirmation(mode):
            return True
        return mode.request_params().get("ServerSideEncryption") == "AES256"

    def confirm_mode(self, key: str, mode: EncryptionMode, *, replacing_only: bool = False) -> None:
        """Before a write in one request to ``key``: check that the server stores ``mode``.

        Unless the mode is confirmed already (or, ``replacing_only``, HEAD reports
        ``key`` missing: nothing to replace), a multipart upload is created under
        ``key`` with the mode's headers, its answer checked, and the upload aborted.

        Raises:
            PolicyError: the server would not store the mode (nothing was written).
        """
        if not self.needs_confirmation(mode) or (replacing_only and self._missing(key)):
            return
        created = create_upload(
            self.access.s3.create_multipart_upload,
            {"Bucket": self.bucket, "Key": key, **mode.request_params()},
        )
        try:
            self._verify(mode, created, key, before=True)
        except BaseException as exc:
            self._abort(key, created["UploadId"], interrupted=not isinstance(exc, Exception))
            raise
        self._abort(key, created["UploadId"])
        self._remember(mode)

    def _missing(self, key: str) -> bool:
        """Whether HEAD reports ``key`` missing; ``False`` when that cannot be confirmed."""
        try:
            self.access.s3.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return code in ("404", "NoSuchKey", "NotFound")
        except botocore.exceptions.BotoCoreError:
            return False
        return False

    def _remember(self, mode: EncryptionMode) -> None:
        """Note that the server's answer to a CreateMultipartUpload confirmed ``mode``."""
        with self._lock:
            self._confirmed.add(_mode_token(mode))

    def _verify_or_undo(self, mode: EncryptionMode, response: Mapping[str, Any], key: str) -> None:
        """Check a completed write; if S3 stored it otherwise than asked, remove it.

        Data the caller wanted encrypted one way must not stay stored another way:
        on a versioned bucket the new version is deleted (the previous one becomes
        current again); otherwise the new object is deleted, and the message says
        that it had replaced any previous object.
        """
        try:
            self._verify(mode, response, key)
        except PolicyError as exc:
            version = response.get("VersionId")
            versioned = bool(version) and version != "null"
            extra = {"VersionId": version} if versioned else {}
            stored = StoredEncryption.from_response(response).describe()
            try:
                self.access.s3.delete_object(Bucket=self.bucket, Key=key, **extra)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                exc.message += (
                    f"; the new version is left in place, stored as {stored}: remove it by hand"
                    if versioned
                    else "; the previous object, if any, was replaced; the new object is "
                    f"left in place, stored as {stored}: remove it by hand"
                )
            else:
                exc.message += (
                    "; the new version was deleted (the previous version is current again)"
                    if versioned
                    else "; the previous object, if any, was replaced; the new object was deleted"
                )
            raise

    def _multipart(
        self,
        key: str,
        parts: Iterator[Part],
        params: dict[str, Any],
        mode: EncryptionMode,
        plan: WritePlan,
        progress: ProgressCallback | None,
        before_commit: Callable[[], None] | None = None,
    ) -> ObjectInfo:
        s3 = self.access.s3
        created = create_upload(s3.create_multipart_upload, params)
        upload_id = created["UploadId"]
        committing = False
        try:
            # Checked before any data is sent: a refused mode costs nothing.
            self._verify(mode, created, key, before=True)
            self._remember(mode)

            def prepared() -> Iterator[tuple[Part, bytes | bytearray]]:
                # Encrypted as it is read, while it holds its slot: the plaintext buffer
                # goes straight back for the next part, and only ciphertext waits for
                # the network (concurrency + 1 buffers, not twice that).
                for part in parts:
                    yield part, plan.body(part, reuse=True)

            def send(task: tuple[Part, bytes | bytearray]) -> tuple[dict[str, Any], int]:
                # The part's buffers go back to its budget once the request is over
                # (botocore keeps no reference), for the next part to reuse.
                part, data = task
                lease = part.lease
                number, plain_size, size = part.number, len(part.data), len(data)
                del task, part
                try:
                    response = s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                    )
                    del data
                finally:
                    if lease is not None:
                        lease.release()
                if progress:
                    progress(plain_size)
                return {"PartNumber": number, "ETag": response["ETag"]}, size

            sent = run_bounded(prepared(), send, concurrency=self.access.transfer.concurrency)
            done = [entry for entry, _ in sent]
            total = sum(size for _, size in sent)
            if before_commit is not None:
                before_commit()
            committing = True
            completed = s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException as exc:
            interrupted = not isinstance(exc, Exception)
            abort_upload(
                s3, self.bucket, key, upload_id, interrupted=interrupted, committing=committing
            )
            raise
        upload_closed(self.bucket, key, upload_id)
        self._verify_or_undo(mode, completed, key)
        return self._info_after_write(
            key,
            completed,
            total,
            params.get("Metadata", {}),
            params.get("ContentType"),
            fallback=created,
        )

    def _abort(self, key: str, upload_id: str, *, interrupted: bool = False) -> None:
        abort_upload(self.access.s3, self.bucket, key, upload_id, interrupted=interrupted)

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
            encryption=with_marker(StoredEncryption.from_response(merged), metadata),
            content_type=content_type,
            version_id=response.get("VersionId"),
            metadata=dict(metadata),
        )


def _mode_token(mode: EncryptionMode) -> str:
    """What identifies a mode's server-side demands (its request headers)."""
    return repr(sorted(mode.request_params().items()))

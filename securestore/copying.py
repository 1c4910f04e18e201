"""Copies of stored objects from S3 to S3: by S3 itself where possible, re-bound when client-side.

How a copy is made depends on what the source is (decided as a read decides:
by the keyring in play, never by the object's metadata), on the mode the copy
is written with, and on whether both stores share one
:class:`~securestore.transport.Connection` (S3 can only copy between buckets
it reaches with one set of credentials):

=====================  ===================  ==========================================
source                 copy written with    mechanism (:class:`CopyMethod`)
=====================  ===================  ==========================================
server-side object     server-side mode     ``CopyObject`` up to
                                            :attr:`CopyLimits.multipart_threshold`
                                            (5 GiB), multipart ``UploadPartCopy`` above
                                            (:mod:`securestore.servercopy`)
client-side message    client-side mode     re-bind: a new header (the new location in
                                            its context, the destination keyring's data
                                            keys) before the unchanged body, which S3
                                            copies (:mod:`securestore.rebind`)
client-side message    server-side mode     streamed: decrypted while copied
server-side object     client-side mode     streamed: encrypted while copied
either                 another connection   streamed
=====================  ===================  ==========================================

A client-side copy always decrypts at its new location with the destination's
keyring and context: it never needs ``relocated=True``. A signed message
(suite 0x0578, from other ESDK writers) cannot be re-headed and is streamed.
A server that answers ``UploadPartCopy`` without the part's ETag (``rclone
serve s3``) gets a streamed copy instead: chosen by what the server does,
never by its name.

Every copy is pinned to the source ETag seen first (``CopySourceIfMatch``, and
a check that the source is unchanged before anything replaces the destination,
for servers that ignore the condition). The copy is verified against the
requested mode as writes are (:class:`~securestore.writing.WritePath`); one
stored otherwise is removed again, a failed multipart upload is aborted. A copy
over the source itself (``reencrypt``) is never removed: its data is the
source's.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from securestore.attributes import CONTENT_ENCODING_METADATA, ObjectAttributes
from securestore.bucket import with_marker
from securestore.clientside import FORMAT_METADATA, ClientSide, looks_like_message
from securestore.decrypting import open_client_side
from securestore.errors import (
    ConfigurationError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
)
from securestore.location import refuse_folder_key, validate_key
from securestore.modes import EncryptionMode, StoredEncryption
from securestore.objects import ObjectInfo
from securestore.reading import ReadPath
from securestore.rebind import rebind_copy
from securestore.rewrap_copy import Method as RewrapMethod
from securestore.s3ec.metadata import has_s3ec_metadata
from securestore.servercopy import (
    MAX_COPY_OBJECT,
    CopyLimits,
    NoCopyPartEtagError,
    copy_in_parts,
    copy_whole,
)
from securestore.transfer import ProgressCallback, chunk_stream
from securestore.user_metadata import check_metadata
from securestore.writing import WritePath

__all__ = ["MAX_COPY_OBJECT", "CopyLimits", "CopyMethod", "CopyResult", "copy_object"]

_MARKER_PREFIX = "securestore-"


class CopyMethod(enum.Enum):
    """How the copy was made."""

    COPY_OBJECT = "copy-object"
    MULTIPART_COPY = "multipart-copy"
    #: New header, body copied by S3 (or, when small, written with one PUT).
    REBIND = "rebind"
    #: New header, ciphertext body streamed: the server lacks ``UploadPartCopy``.
    REBIND_STREAMED = "rebind-streamed"
    #: Read (decrypted if client-side) and written (encrypted) through the client.
    STREAMED = "streamed"


@dataclass(frozen=True)
class CopyResult:
    """The copy as written (``info``), how it was made, and the source version copied."""

    info: ObjectInfo
    method: CopyMethod
    source_etag: str
    note: str | None = None


def copy_object(
    source: ReadPath,
    destination: WritePath,
    key: str,
    dest_key: str,
    *,
    mode: EncryptionMode,
    require: EncryptionMode | None = None,
    metadata: Mapping[str, str] | None = None,
    content_type: str | None = None,
    attributes: ObjectAttributes | None = None,
    progress: ProgressCallback | None = None,
    limits: CopyLimits | None = None,
    allow_s3ec: bool = False,
) -> CopyResult:
    """Copy ``key`` (read by ``source``) to ``dest_key`` (written by ``destination``).

    See the module docstring for the mechanism. ``mode`` is the copy's
    encryption; ``require`` is checked on the source as a read checks it.
    User metadata, content type, content headers, ``Expires`` and a
    non-standard storage class are kept (as ``aws s3 cp`` does) unless given:
    each field set in ``attributes`` overrides the source's. A copy that
    decrypts a client-side object (or encrypts one) moves its Content-Encoding
    between header and metadata (:mod:`securestore.attributes`). ``allow_s3ec``
    (**weakens the read**) lets a copy that decrypts read an S3 Encryption Client
    object, as for :meth:`securestore.SecureStore.open`.

    Raises:
        InvalidLocationError: ``dest_key`` ends in ``/`` and the source holds bytes
            (:func:`~securestore.location.refuse_folder_key`; a folder marker, an empty
            object or a key ending in ``/``, may be copied there).
        PolicyError: the source is not stored as required, or S3 stored the copy
            otherwise than ``mode`` (the copy was removed again).
        PreconditionFailedError: the source changed during the copy, or the
            destination was written concurrently; nothing was replaced.
        KeyringError, IntegrityError: a client-side source cannot be decrypted.
        NotFoundError, StorageError: as for reads and writes.
    """
    validate_key(key)
    validate_key(dest_key)
    override = check_metadata(metadata) if metadata is not None else None
    job = _Copy(
        source,
        destination,
        key,
        dest_key,
        mode=mode,
        metadata=override,
        content_type=content_type,
        attributes=attributes or ObjectAttributes(),
        progress=progress,
        limits=limits or CopyLimits(),
        allow_s3ec=allow_s3ec,
    )
    return job.run(require)


class _Copy:
    """One copy: the decision, then one of the mechanisms."""

    def __init__(
        self,
        source: ReadPath,
        destination: WritePath,
        key: str,
        dest_key: str,
        *,
        mode: EncryptionMode,
        metadata: dict[str, str] | None,
        content_type: str | None,
        attributes: ObjectAttributes,
        progress: ProgressCallback | None,
        limits: CopyLimits,
        allow_s3ec: bool = False,
    ) -> None:
        self.src = source
        self.allow_s3ec = allow_s3ec
        self.dst = destination
        self.key = key
        self.dest_key = dest_key
        self.mode = mode
        self.metadata = metadata
        self.content_type = content_type
        self.attributes = attributes
        self.progress = progress
        self.limits = limits
        self.in_place = (source.bucket, key) == (destination.bucket, dest_key)
        self.s3 = destination.access.s3

    def run(self, require: EncryptionMode | None) -> CopyResult:
        with self.src.access.boundary("copy", self.key):
            info, first, client_side = self.src._prepare_read(self.key, require, False)
        # A key ending in / names a folder: only a folder marker goes there (an empty
        # object, or a marker of a tree copy, client-side ones being messages of nothing).
        refuse_folder_key(self.dest_key, empty=info.size == 0 or self.key.endswith("/"))
        same = self.src.access.connection is self.dst.access.connection
        if client_side is None and same and not isinstance(self.mode, ClientSide):
            with self.dst.access.boundary("copy", self.dest_key):
                # A KMS key that is unknown or disabled is reported before anything is sent.
                self.dst.access.key_arn_for(self.mode)
                result = self._server_side(info.etag)
            if result is not None:
                return result
        elif (
            client_side is not None
            and same
            and isinstance(self.mode, ClientSide)
            # An S3EC object is no message to re-bind: the read path refuses it, or
            # decrypts it with allow_s3ec, and the copy is streamed.
            and not (has_s3ec_metadata(info.metadata) and not looks_like_message(first, info.size))
        ):
            self._authenticate_body(info, client_side, first)
            rebound = self._rebind(info.etag, client_side, self.mode)
            if rebound is not None:
                return rebound
        return self._streamed(require, info.etag)

    # -- what every mechanism shares -----------------------------------------------------------

    def _head_source(self, etag: str) -> dict[str, Any]:
        """The source's HEAD answer, which must still show ``etag``."""
        with self.src.access.boundary("copy", self.key):
            head: dict[str, Any] = self.src.access.s3.head_object(
                Bucket=self.src.bucket, Key=self.key
            )
        if str(head.get("ETag", "")) != etag:
            raise self._changed()
        return head

    def _changed(self) -> PreconditionFailedError:
        return PreconditionFailedError(
            "the source changed during the copy; nothing was replaced",
            bucket=self.src.bucket,
            key=self.key,
            code="PreconditionFailed",
            hint="copy it again",
        )

    def _params(
        self, head: Mapping[str, Any], *, keep_marker: bool, message: bool
    ) -> dict[str, Any]:
        """Destination, mode, metadata, content headers and storage class of the copy.

        ``keep_marker``: the copy's bytes are still the source's (a server-side
        copy, a re-bind), so the ``securestore-`` entries that describe them stay;
        otherwise they go. ``message``: the copy's body is a client-side message,
        whose Content-Encoding is kept as metadata, never as the header.
        """
        stored = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        marker = {k: v for k, v in stored.items() if k.startswith(_MARKER_PREFIX)}
        user = {k: v for k, v in stored.items() if not k.startswith(_MARKER_PREFIX)}
        metadata = {**(self.metadata if self.metadata is not None else user)}
        if keep_marker:
            metadata.update(marker)
        attributes = self.attributes.over(ObjectAttributes.stored(head))
        metadata.pop(CONTENT_ENCODING_METADATA, None)
        metadata.update(attributes.metadata(client_side=message))
        params: dict[str, Any] = {
            "Bucket": self.dst.bucket,
            "Key": self.dest_key,
            **self.mode.request_params(),
        }
        if metadata:
            params["Metadata"] = metadata
        content_type = self.content_type or head.get("ContentType")
        if content_type:
            params["ContentType"] = content_type
        params.update(attributes.request_params(client_side=message))
        return params

    def _source_ref(self, head: Mapping[str, Any]) -> dict[str, str]:
        ref = {"Bucket": self.src.bucket, "Key": self.key}
        version = head.get("VersionId")
        if version and version != "null":
            ref["VersionId"] = str(version)
        return ref

    def _check_copy(self, response: Mapping[str, Any]) -> None:
        """Verify what S3 reports against the mode; undo unless the copy is in place."""
        if not self.in_place:
            self.dst._verify_or_undo(self.mode, response, self.dest_key)
            return
        try:
            self.dst._verify(self.mode, response, self.dest_key)
        except PolicyError as exc:
            exc.message += "; the object was rewritten in place, its data is unchanged"
            raise

    def _info(
        self, response: Mapping[str, Any], size: int, params: Mapping[str, Any]
    ) -> ObjectInfo:
        metadata = dict(params.get("Metadata") or {})
        return ObjectInfo(
            bucket=self.dst.bucket,
            key=self.dest_key,
            size=size,
            etag=str(response.get("ETag", "")),
            encryption=with_marker(StoredEncryption.from_response(response), metadata),
            last_modified=response.get("LastModified"),
            content_type=params.get("ContentType"),
            version_id=response.get("VersionId"),
            metadata=metadata,
        )

    # -- server-side objects, copied by S3 -----------------------------------------------------

    def _server_side(self, etag: str) -> CopyResult | None:
        """CopyObject or multipart UploadPartCopy; ``None``: the server cannot copy parts."""
        head = self._head_source(etag)
        size = int(head.get("ContentLength", 0))
        # The bytes are copied as they are: a message stays one, markers and all.
        message = FORMAT_METADATA in {k.lower() for k in head.get("Metadata") or {}}
        params = self._params(head, keep_marker=True, message=message)
        if size > self.limits.multipart_threshold:
            try:
                response = copy_in_parts(self, params, head, etag, size)
            except NoCopyPartEtagError:
                return None
            method = CopyMethod.MULTIPART_COPY
        else:
            response = copy_whole(self, params, head, etag)
            method = CopyMethod.COPY_OBJECT
            if self.progress:
                self.progress(size)
        return CopyResult(self._info(response, size, params), method, etag)

    def _undo(self, response: Mapping[str, Any]) -> str:
        """Remove a copy just written; what the error message should add."""
        version = response.get("VersionId")
        extra = {"VersionId": version} if version and version != "null" else {}
        try:
            self.s3.delete_object(Bucket=self.dst.bucket, Key=self.dest_key, **extra)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return "; the copy is left in place: remove it by hand"
        return "; the copy was deleted"

    # -- client-side messages, re-bound -----------------------------------------------------

    def _rebind(self, etag: str, source_mode: ClientSide, mode: ClientSide) -> CopyResult | None:
        """New header for the new location and keyring, body copied by S3.

        ``None``: the message cannot be re-headed (signed), so it is streamed.
        """
        done = rebind_copy(self, etag, source_mode, mode)
        if done is None:
            return None
        info = self.dst.access.head(self.dest_key)
        if self.progress:
            self.progress(info.size)
        method = (
            CopyMethod.REBIND_STREAMED
            if done.method is RewrapMethod.STREAMED_COPY
            else CopyMethod.REBIND
        )
        return CopyResult(info, method, etag, note=done.note)

    def _authenticate_body(self, info: ObjectInfo, source_mode: ClientSide, first: bytes) -> None:
        """Authenticate every frame of the source version ``info`` before a re-bind copies it.

        A re-bind authenticates only the header and lets S3 copy the body, so without
        this a damaged body would be copied (and ``mv`` would delete its source) with
        exit 0. The read is pinned to ``info``'s ETag, which the copy is pinned to too:
        the bytes S3 copies are the ones authenticated here. Plaintext is discarded.
        """
        ranges = self.src._ranges(self.key, info.etag)
        reader = open_client_side(ranges, info, source_mode, None, False, first)
        scratch = bytearray(1024 * 1024)
        with reader, self.src.access.boundary("copy", self.key):
            while reader.readinto(scratch):
                pass
        scratch[:] = bytes(len(scratch))  # plaintext, even discarded, is not left behind

    def _write_condition(self, etag: str) -> dict[str, str]:
        """``If-Match`` of the object being replaced, or ``If-None-Match: *`` if none is."""
        if self.in_place:
            return {"IfMatch": etag}
        try:
            current = self.dst.access.head(self.dest_key)
        except NotFoundError:
            return {"IfNoneMatch": "*"}
        return {"IfMatch": current.etag}

    # -- anything else, through the client ---------------------------------------------------

    def _streamed(self, require: EncryptionMode | None, etag: str) -> CopyResult:
        """Read the source (decrypting it if client-side) and write it with the mode."""
        if self.in_place:
            raise ConfigurationError(
                "a copy over its own source can only be made by S3 itself, and this one "
                "would have to pass through the client",
                bucket=self.src.bucket,
                key=self.key,
                hint="copy it to another key, or use rewrap for client-side objects",
            )
        head = self._head_source(etag)
        reader = self.src.open(
            self.key,
            require=require,
            context=None,
            relocated=False,
            allow_plaintext=False,
            allow_s3ec=self.allow_s3ec,
        )
        with reader, self.dst.access.boundary("copy", self.dest_key):
            params = self._params(
                head, keep_marker=False, message=isinstance(self.mode, ClientSide)
            )
            plan = self.dst.plan(self.dest_key, self.mode, reader.size, params.pop("Metadata", {}))
            if plan.metadata:
                params["Metadata"] = plan.metadata
            parts = chunk_stream(reader, plan.part_size)
            first = next(parts)
            # An unconfirmed mode goes multipart: checked before any data is sent.
            if not first.last or not self.dst.single_put(self.mode, first):
                info = self.dst._multipart(
                    self.dest_key,
                    itertools.chain([first], parts),
                    params,
                    self.mode,
                    plan,
                    self.progress,
                )
                return CopyResult(info, CopyMethod.STREAMED, etag)
            self.dst.confirm_mode(self.dest_key, self.mode)
            data = plan.body(first)
            response = self.s3.put_object(Body=data, **params)
            if self.progress:
                self.progress(len(first.data))
            self.dst._verify_or_undo(self.mode, response, self.dest_key)
        return CopyResult(self._info(response, len(data), params), CopyMethod.STREAMED, etag)

    def _verify_rebound(self, response: Mapping[str, Any]) -> None:
        self.dst._verify(self.mode, response, self.dest_key)

"""The :class:`SecureStore` facade: encrypted put, get, open, transfer, list, head, delete.

The facade validates arguments and applies the store's defaults; the work is
done by the write path (:mod:`securestore.writing`) and the read path
(:mod:`securestore.reading`) over one :class:`~securestore.bucket.BucketAccess`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import botocore.exceptions

from securestore.bucket import BucketAccess, ObjectInfo, ObjectSummary
from securestore.clientside import ClientSide, ClientSideReader
from securestore.errors import LocalFileError, StorageError
from securestore.location import validate_bucket_name, validate_key
from securestore.message import Header, Keyring
from securestore.modes import EncryptionMode, SseS3
from securestore.reader import ObjectReader
from securestore.reading import ReadPath
from securestore.transfer import ProgressCallback, TransferConfig, chunk_stream, file_parts
from securestore.transport import Connection, translate_error
from securestore.writing import WritePath, check_metadata

__all__ = ["Body", "ObjectInfo", "ObjectSummary", "SecureStore", "create_bucket", "list_buckets"]

#: What ``put`` accepts: bytes, a binary file object (seekable or not), or an iterable of bytes.
Body = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]


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
        self._access = BucketAccess(self.bucket, self.connection, self.transfer)
        self._writes = WritePath(self._access)
        self._reads = ReadPath(self._access, encryption=self.encryption, keyring=self.keyring)

    def __repr__(self) -> str:
        return f"SecureStore(bucket={self.bucket!r}, encryption={self.encryption!r})"

    def _required(self, require: EncryptionMode | None) -> EncryptionMode | None:
        """The mode a read demands: the call's, else the store's."""
        return require if require is not None else self.require

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
        meta = check_metadata(metadata)
        size = len(body) if isinstance(body, bytes | bytearray | memoryview) else None
        with self._access.boundary("put", key):
            plan = self._writes.plan(key, mode, size, meta)
            return self._writes.upload(
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
            meta = check_metadata(metadata)
            with self._access.boundary("upload", key):
                plan = self._writes.plan(key, mode, size, meta)
                return self._writes.upload(
                    key,
                    file_parts(handle.fileno(), size, plan.part_size),
                    mode,
                    plan,
                    content_type,
                    progress,
                )

    # -- reads ----------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        """Describe the object: size, encryption mode and key, ETag, metadata.

        Raises:
            NotFoundError: no such bucket or object.
        """
        return self._access.head(key)

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
        return self._reads.open(
            key, require=self._required(require), context=context, relocated=relocated
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

    def inspect(self, key: str) -> Header:
        """Parse a client-side object's message header without decrypting anything.

        Raises:
            FormatError: the object is not an Encryption SDK message.
        """
        return self._reads.inspect(key)

    def download_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        progress: ProgressCallback | None = None,
        mode: int | None = None,
        overwrite_readonly: bool = False,
    ) -> ObjectInfo:
        """Download the object to ``path``, in parallel ranges when it is large.

        Data goes to a temporary file beside ``path`` that is renamed over it
        only when complete (for a client-side object: when every frame, the
        final one included, has authenticated); on any failure it is removed
        and ``path`` is untouched. A symbolic link is followed (its target is
        replaced); a device or FIFO (``/dev/null``, ``/dev/stdout``) is written
        in order instead, and then receives a prefix on failure. See
        :mod:`securestore.localfile`.

        Args:
            mode: permission bits of a new file, minus the umask (default: 0o600
                for a client-side object, 0o666 otherwise). A replaced file
                keeps its own mode, and its owner and group where permitted.
            overwrite_readonly: replace a destination the caller has no write
                permission for (refused by default, as ``cp`` does).

        Raises:
            LocalFileError: the destination folder is missing or not writable, the
                destination is read-only, or the disk is full (``path`` untouched).
            NotFoundError, PolicyError, IntegrityError, KeyringError, StorageError:
                as for :meth:`open`.
        """
        return self._reads.download(
            key,
            path,
            require=self._required(require),
            context=context,
            relocated=relocated,
            progress=progress,
            mode=mode,
            overwrite_readonly=overwrite_readonly,
        )

    # -- listing and deletion ---------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectSummary]:
        """Yield the objects under ``prefix``, lazily, one page at a time."""
        paginator = self._access.s3.get_paginator("list_objects_v2")
        with self._access.boundary("list"):
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
        with self._access.boundary("delete", key):
            self._access.s3.delete_object(Bucket=self.bucket, Key=key)


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

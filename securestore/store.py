"""The :class:`SecureStore` facade: encrypted put, get, open, transfer, list, head, delete.

The facade validates arguments and applies the store's defaults; the work is
done by the write path (:mod:`securestore.writing`), the read path
(:mod:`securestore.reading`), copying (:mod:`securestore.copying`) and re-wrapping
(:mod:`securestore.rewrap`) over one :class:`~securestore.bucket.BucketAccess`;
local files by :mod:`securestore.localsource` and :mod:`securestore.localfile`. What
it returns is described by the values of :mod:`securestore.objects`.
Account-level calls (:func:`create_bucket`, :func:`list_buckets`) live in
:mod:`securestore.account` and are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

import securestore.arguments as args
from securestore.account import create_bucket, list_buckets
from securestore.attributes import ObjectAttributes
from securestore.bucket import DELETE_BATCH, BucketAccess
from securestore.clientside import ClientSide
from securestore.clientside_reader import ClientSideReader
from securestore.copying import copy_object
from securestore.errors import ConfigurationError, SecureStoreError
from securestore.localsource import upload_file
from securestore.location import validate_bucket_name
from securestore.message import Header, HeaderLimits, Keyring
from securestore.modes import EncryptionMode, SseS3
from securestore.objects import CommonPrefix, ObjectInfo, ObjectSummary, ObjectVersion
from securestore.reader import ObjectReader
from securestore.reading import ReadPath
from securestore.rewrap import RewrapResult, rewrap_object
from securestore.store_arguments import checked as _checked
from securestore.store_arguments import kms_key_arn_checked, rewrap_checked
from securestore.transfer import ProgressCallback, TransferConfig
from securestore.transport import Connection
from securestore.writing import WritePath

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
            brings its keyring). With a keyring in play every read must be a
            message that authenticates.

    Every method checks its arguments before anything is sent: a wrong type or
    value is a :class:`ConfigurationError` naming the argument
    (:mod:`securestore.arguments`), an invalid key an :class:`InvalidLocationError`.

    Raises:
        InvalidLocationError: the bucket name is invalid.
        ConfigurationError: an argument of the wrong type (a mode's name for a mode).
    """

    @_checked
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

    @_checked
    def put(
        self,
        key: str,
        body: Body,
        *,
        encryption: EncryptionMode | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        expected_size: int | None = None,
        attributes: ObjectAttributes | None = None,
    ) -> ObjectInfo:
        """Store ``body`` under ``key``, encrypted with ``encryption`` (or the store's mode).

        ``body`` may be bytes, a binary file object (seekable or not, of unknown
        length) or an iterable of bytes. Bodies larger than one part are sent as
        a multipart upload with bounded memory; a failed upload is aborted and
        leaves any existing object untouched. A body of unknown length is cut
        into parts that grow as it goes, up to S3's 5 TiB
        (:mod:`securestore.parts`); ``expected_size`` (bytes, a hint) picks the
        part size up front, and a body longer than that still fits. A key ending
        in ``/`` takes only an empty body, a folder marker
        (:func:`~securestore.location.refuse_folder_key`).
        ``attributes`` sets the storage class and content headers
        (:class:`~securestore.attributes.ObjectAttributes`).

        Raises:
            InvalidLocationError: ``key`` ends in ``/`` and ``body`` is not ``b""``.
            PolicyError: S3 reports a different encryption than requested.
            StorageError: S3 refused or failed the request (after retries).
        """
        return self._writes.put(
            key,
            body,
            encryption or self.encryption,
            metadata,
            content_type=content_type,
            progress=progress,
            expected_size=expected_size,
            attributes=attributes,
        )

    @_checked
    def upload_file(
        self,
        path: str | os.PathLike[str],
        key: str,
        *,
        encryption: EncryptionMode | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
        attributes: ObjectAttributes | None = None,
    ) -> ObjectInfo:
        """Upload a local file, with a concurrent multipart upload when it is large.

        ``attributes``: storage class and content headers, as for :meth:`put`.
        ``key`` is the object's whole key: one ending in ``/`` is refused (the CLI's
        ``put FILE s3://b/dir/`` names the object ``dir/FILE`` before it calls this).

        A file that changes while it is read (size, mtime or ctime) is not
        stored: the upload is abandoned before it is committed, so an existing
        object under ``key`` stays as it was.

        Raises:
            InvalidLocationError: ``key`` ends in ``/``.
            FileChangedError: the file changed while it was read (a LocalFileError).
            LocalFileError: the file cannot be read.
            PolicyError, StorageError: as for :meth:`put`.
        """
        return upload_file(
            self._writes,
            Path(path),
            key,
            encryption or self.encryption,
            metadata,
            content_type=content_type,
            progress=progress,
            attributes=attributes,
        )

    @_checked
    def copy(
        self,
        key: str,
        destination: SecureStore,
        dest_key: str,
        *,
        encryption: EncryptionMode | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        attributes: ObjectAttributes | None = None,
        require: EncryptionMode | None = None,
        progress: ProgressCallback | None = None,
        allow_s3ec: bool = False,
    ) -> ObjectInfo:
        """Copy ``key`` to ``dest_key`` in ``destination`` (this store or another).

        Written with ``encryption`` (or the destination's mode) and verified like
        a write; ``require`` is checked on the source as a read would. The
        source's metadata, content type, storage class and content headers are
        kept, except those given (``attributes``: only its set fields override).
        A ``dest_key`` ending in ``/`` takes only a folder marker (data there is refused,
        as :meth:`put` refuses it). See :func:`securestore.copying.copy_object` for the
        mechanisms and errors;
        ``allow_s3ec`` (**weakens the read**) is as for :meth:`open`.
        """
        return copy_object(
            self._reads,
            destination._writes,
            key,
            dest_key,
            mode=encryption or destination.encryption,
            require=self._required(require),
            metadata=metadata,
            content_type=content_type,
            attributes=attributes,
            progress=progress,
            allow_s3ec=allow_s3ec,
        ).info

    # -- reads ----------------------------------------------------------------------------

    @_checked
    def head(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """Describe the object (or ``version_id`` of it): size, encryption, ETag, metadata.

        Raises:
            NotFoundError: no such bucket, object or version.
        """
        return self._access.head(key, version_id=version_id)

    @_checked
    def read_raw_range(self, key: str, first: int, last: int, *, etag: str | None = None) -> bytes:
        """The object's bytes ``first..last`` (inclusive) as stored: **not decrypted**.

        For a client-side object these are ciphertext (message header, frames),
        unauthenticated: for looking at what an object is (its first bytes), never
        for its data (use :meth:`get` or :meth:`open`). ``etag`` pins the read to
        that version of the object.

        Raises:
            ConfigurationError: ``first`` or ``last`` is negative, or ``last < first``.
            PreconditionFailedError: the object is no longer version ``etag``.
            NotFoundError, StorageError: as for :meth:`head`.
        """
        return self._reads.read_raw_range(key, first, last, etag=etag)

    @kms_key_arn_checked
    def kms_key_arn(self, mode: EncryptionMode) -> str | None:
        """The ARN of ``mode``'s KMS key (looked up once, then cached).

        ``None`` when the mode names no KMS key, or when KMS may not be asked
        (DescribeKey denied: S3 still refuses an unusable key).

        Raises:
            KeyUnavailableError: the key is unknown, disabled or pending deletion.
        """
        return self._access.key_arn_for(mode)

    @_checked
    def open(
        self,
        key: str,
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        allow_plaintext: bool = False,
        version_id: str | None = None,
        allow_legacy_unauthenticated: bool = False,
        allow_s3ec: bool = False,
    ) -> ObjectReader | ClientSideReader:
        """Open the object for streaming, seekable reads with constant memory.

        The encryption check (``require``) happens before any byte is returned.
        Whether the object is decrypted depends only on what the caller set up,
        never on the object's metadata: with a keyring in play (a client-side
        ``require`` or store mode, or the store's ``keyring=``) the object must be
        a message; a read fetches only the frames it needs and authenticates each
        before returning it. Without a keyring, an object that begins like a
        client-side message is refused (:class:`KeyringError`) rather than
        returned as ciphertext.

        Args:
            require: the mode the object must be stored with.
            context: client-side only: encryption-context pairs the object must
                carry (default: the mode's context).
            relocated: client-side only: accept an object whose message is bound
                to another bucket or key (it was copied or moved knowingly).
            allow_plaintext: **weakens the read** (per call on purpose, so that it is
                visible where it is used): with a keyring in play, an object that
                does not begin like a message is returned as stored,
                unauthenticated, instead of raising :class:`FormatError`. An
                object that does begin like one is still decrypted and
                authenticated, never returned as ciphertext.
            version_id: read this version of the object (every request is pinned
                to it); default: the current version.
            allow_legacy_unauthenticated: **weakens the read**: objects the AWS S3
                Encryption Client wrote in a legacy mode without authentication
                (V1 AES-CBC, AESWrap, RSA-PKCS1 wraps) are decrypted instead of
                refused with :class:`PolicyError`; anyone who could write to the
                bucket could have altered them. Meant for migrating them.
            allow_s3ec: **weakens the read**: objects the AWS S3 Encryption Client
                wrote are decrypted instead of refused with :class:`PolicyError`.
                Their encryption does not bind them to a bucket and key, so a valid
                one for your key could have been written elsewhere and moved here
                (and with KMS discovery, written by anyone who may encrypt under
                any key of the account). Independent of
                ``allow_legacy_unauthenticated``, which legacy modes need as well.
                ``require=ClientSide(...)`` accepts an S3EC object given this.

        Raises:
            NotFoundError: no such bucket or object.
            PolicyError: the object is not stored with the required mode.
            IntegrityError: with a keyring in play, the object is not a message
                (:class:`FormatError`), or it fails authentication
                (:class:`AuthenticationError`), or its authenticated header lacks
                an expected context pair or location (the base class, whose
                message names the context keys, never their values).
            KeyringError: no configured key can decrypt a client-side object, or
                no keyring is in play and the object is client-side encrypted.
        """
        return self._reads.pinned(version_id).open(
            key,
            require=self._required(require),
            context=context,
            relocated=relocated,
            allow_plaintext=allow_plaintext,
            allow_legacy_unauthenticated=allow_legacy_unauthenticated,
            allow_s3ec=allow_s3ec,
        )

    @_checked
    def get(
        self,
        key: str,
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        allow_plaintext: bool = False,
        version_id: str | None = None,
        allow_legacy_unauthenticated: bool = False,
        allow_s3ec: bool = False,
    ) -> bytes:
        """Return the whole object as bytes (use :meth:`open` for large objects).

        For a client-side object nothing is returned unless the whole message
        (every frame, and the signature of a signed message) authenticated.
        ``allow_plaintext``, ``version_id``, ``allow_legacy_unauthenticated`` and
        ``allow_s3ec`` are as for :meth:`open`.

        Raises:
            NotFoundError, PolicyError, IntegrityError, KeyringError: as for :meth:`open`.
        """
        with self.open(
            key,
            require=require,
            context=context,
            relocated=relocated,
            allow_plaintext=allow_plaintext,
            version_id=version_id,
            allow_legacy_unauthenticated=allow_legacy_unauthenticated,
            allow_s3ec=allow_s3ec,
        ) as reader:
            return reader.read_range(0, reader.size)

    @_checked
    def inspect(self, key: str, *, limits: HeaderLimits | None = None) -> Header:
        """Parse a client-side object's message header without decrypting anything.

        ``limits`` bounds the header (default :class:`HeaderLimits`).

        Raises:
            FormatError: the object is not an Encryption SDK message.
        """
        return self._reads.inspect(key, limits=limits)

    @_checked
    def download_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None = None,
        context: Mapping[str, str] | None = None,
        relocated: bool = False,
        allow_plaintext: bool = False,
        progress: ProgressCallback | None = None,
        mode: int | None = None,
        overwrite_readonly: bool = False,
        version_id: str | None = None,
        allow_legacy_unauthenticated: bool = False,
        allow_s3ec: bool = False,
    ) -> ObjectInfo:
        """Download the object to ``path``, in parallel ranges when it is large.

        Data goes to a temporary file beside ``path`` that is renamed over it
        only when complete (for a client-side object: when every frame, the
        final one included, and the signature of a signed message, have
        authenticated); on any failure it is removed and ``path`` is untouched.
        ``allow_plaintext`` weakens the read as described for :meth:`open`.
        A symbolic link is followed (its target is replaced); a device or FIFO
        (``/dev/null``, ``/dev/stdout``) is written in order instead, and then
        receives a prefix on failure. See :mod:`securestore.localfile`.

        Args:
            mode: permission bits of a new file, minus the umask (default: 0o600
                for a client-side object, 0o666 otherwise). A replaced file
                keeps its own mode, and its owner and group where permitted.
            overwrite_readonly: replace a destination the caller has no write
                permission for (refused by default, as ``cp`` does).
            version_id: download this version of the object (as for :meth:`open`).
            allow_legacy_unauthenticated: as for :meth:`open` (**weakens the read**).
            allow_s3ec: as for :meth:`open` (**weakens the read**).

        Raises:
            LocalFileError: the destination folder is missing or not writable, the
                destination is read-only, or the disk is full (``path`` untouched).
            NotFoundError, PolicyError, IntegrityError, KeyringError, StorageError:
                as for :meth:`open`.
        """
        return self._reads.pinned(version_id).download(
            key,
            path,
            require=self._required(require),
            context=context,
            relocated=relocated,
            allow_plaintext=allow_plaintext,
            progress=progress,
            mode=mode,
            overwrite_readonly=overwrite_readonly,
            allow_legacy_unauthenticated=allow_legacy_unauthenticated,
            allow_s3ec=allow_s3ec,
        )

    @rewrap_checked
    def rewrap(
        self,
        key: str,
        *,
        add: Iterable[Keyring] = (),
        remove: Iterable[Keyring] = (),
        remove_kms_keys: Iterable[str] = (),
        context: Mapping[str, str] | None = None,
        remove_context: Iterable[str] = (),
        expect_context: Mapping[str, str] | None = None,
        keyring: Keyring | None = None,
        relocated: bool = False,
        destination: tuple[str, str] | None = None,
        delete_old_versions: bool = False,
        dry_run: bool = False,
    ) -> RewrapResult:
        """Re-wrap a client-side object server-side: new header, body copied by S3.

        Adds data keys (``add``: keyrings that wrap it), removes them (``remove``:
        those a keyring unwraps; ``remove_kms_keys``: those naming a KMS key ARN),
        sets or removes encryption-context pairs, and binds the message to where
        it is written: in place, or a copy at ``destination`` (bucket, key).
        ``keyring`` (default: the store's) unwraps the data key; the old message
        must carry ``expect_context`` (default: the mode's context). See
        :mod:`securestore.rewrap` and docs/format.md, "Re-wrapping".

        Raises:
            PreconditionFailedError: the object changed or a concurrent write was seen.
            KeyringError, IntegrityError, PolicyError, ConfigurationError, StorageError.
        """
        return rewrap_object(
            self._access,
            key,
            mode=self.encryption,
            keyring=keyring or self.keyring,
            add=add,
            remove=remove,
            remove_kms_keys=remove_kms_keys,
            context=context,
            remove_context=remove_context,
            expect_context=expect_context,
            destination=destination,
            relocated=relocated,
            delete_old_versions=delete_old_versions,
            dry_run=dry_run,
        )

    # -- listing and deletion ---------------------------------------------------------------

    @_checked
    def list(self, prefix: str = "") -> Iterator[ObjectSummary]:
        """Yield the objects under ``prefix``, lazily, one page at a time."""
        return self._access.summaries(prefix)

    @_checked
    def list_directory(
        self, prefix: str = "", *, prefixes_first: bool = False
    ) -> Iterator[ObjectSummary | CommonPrefix]:
        """Yield one level under ``prefix``: its objects and its "directories" (``/``).

        As ``aws s3 ls``: ``prefix`` is taken literally, so ``"tre"`` yields
        ``CommonPrefix("tree/")`` and objects named ``tre*``, not what is in ``tree/``.
        Entries come in key order; ``prefixes_first`` puts each page's directories
        before its objects, the order ``aws s3 ls`` prints.
        """
        return self._access.list_objects(prefix, delimiter="/", prefixes_first=prefixes_first)

    @_checked
    def list_versions(
        self, prefix: str = "", *, recursive: bool = True
    ) -> Iterator[ObjectVersion | CommonPrefix]:
        """Yield every version and delete marker under ``prefix`` (one level unless
        ``recursive``), keys in order, the versions of a key newest first."""
        return self._access.list_versions(prefix, delimiter=None if recursive else "/")

    @_checked
    def delete(self, key: str) -> None:
        """Delete the object (S3 semantics: deleting a missing key succeeds).

        Raises:
            NotFoundError: the bucket does not exist.
        """
        self._access.delete(key)

    @_checked
    def delete_many(self, keys: Iterable[str]) -> dict[str, SecureStoreError | None]:
        """Delete up to 1,000 objects in one request (DeleteObjects): each key's outcome.

        ``None`` for a key the server confirmed deleted, the error for one it refused;
        a key its answer does not mention is missing from the result (unconfirmed).

        Raises:
            ConfigurationError: more than 1,000 keys, or an invalid key.
            StorageError: the request as a whole failed (a server without DeleteObjects).
        """
        batch = list(keys)
        if len(batch) > DELETE_BATCH:
            raise ConfigurationError(f"at most {DELETE_BATCH} keys per request, not {len(batch)}")
        for key in batch:
            args.key("each of keys", key)
        return self._access.delete_many(batch) if batch else {}

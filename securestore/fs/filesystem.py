"""``securestore://bucket/key``: SecureStore objects as an fsspec filesystem.

Directories are key prefixes, as in s3fs: ``mkdir`` and ``rmdir`` of a prefix
do nothing and a prefix exists while an object lies under it.

Sizes: :meth:`SecureStoreFileSystem.info` reports the plaintext size of a
client-side object, computed from its message header and the stored length (a
HEAD and one small ranged GET, no key unwrapping; remembered per ETag). The
header is not authenticated yet, so the size is informational: reads
authenticate every frame. Listings (:meth:`ls`, ``find``, ``glob``) come from
S3's listing, one request per 1,000 keys, so their ``size`` is the stored
(ciphertext) size unless the filesystem was made with ``exact_sizes=True``,
which costs two requests per object version listed.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import botocore.exceptions
from fsspec.spec import AbstractFileSystem

from securestore.clientside import ClientSide, read_header
from securestore.clientside_reader import ClientSideReader
from securestore.errors import NotFoundError, StorageError
from securestore.keyrings.options import DEFAULT_KEY_NAME
from securestore.message import HeaderLimits, Keyring, Layout
from securestore.objects import ObjectInfo
from securestore.pagination import ListingCheck, order_key
from securestore.reader import ObjectReader, range_answered, read_capped
from securestore.store import SecureStore, create_bucket
from securestore.transfer import TransferConfig
from securestore.transport import Connection, translate_error

from .files import SecureStoreReadFile, SecureStoreWriteFile
from .options import StoreFactory, StoreOptions, names, pairs

__all__ = ["PROTOCOL", "ObjectFileNotFoundError", "SecureStoreFileSystem"]

PROTOCOL = "securestore"


class ObjectFileNotFoundError(NotFoundError, FileNotFoundError):
    """No object or bucket to read at a path.

    Both securestore's :class:`~securestore.errors.NotFoundError` and the
    :class:`FileNotFoundError` that fsspec's callers (pandas, pyarrow, dask) expect.
    """


@contextlib.contextmanager
def _missing_as_file_not_found() -> Iterator[None]:
    """Re-raise a :class:`NotFoundError` as :class:`ObjectFileNotFoundError` (same message)."""
    try:
        yield
    except ObjectFileNotFoundError:
        raise
    except NotFoundError as exc:
        raise ObjectFileNotFoundError(
            exc.message, bucket=exc.bucket, key=exc.key, hint=exc.hint, code=exc.code
        ) from exc


#: Plaintext sizes remembered per object version (bucket, key, ETag).
_SIZE_CACHE = 4096


class SecureStoreFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Encrypted objects in S3 buckets as an fsspec filesystem (``securestore://``).

    The options are the CLI's, in Python form; each key option takes one value
    or a list. Key options (``key_file``, ``rsa_public_key``, ``rsa_private_key``,
    or ``client_side=True`` with ``kms_key_id``) make the filesystem client-side:
    writes are encrypted here, and every read must decrypt and authenticate (an
    object that is not a message for this location is refused). Without them,
    writes use ``sse`` (``s3``, ``kms``, ``dsse-kms``; ``kms`` when a
    ``kms_key_id`` or ``context`` is given) and reads are plain server-side
    reads, which refuse a client-side object rather than return its ciphertext
    (``require="client-side"`` decrypts with KMS discovery in your own account).

    Args:
        store: a ready factory ``bucket -> SecureStore`` (then no other key, mode or
            connection option may be given).
        keyring: a ready keyring (client-side reads and writes).
        connection: a ready :class:`~securestore.transport.Connection`.
        key_file, rsa_public_key, rsa_private_key, kms_key_id, key_name: keys, as
            the CLI's ``--key-file`` etc.
        context: encryption context (a mapping or ``K=V`` strings).
        sse, sse_kms_key_id: the server-side mode (with ``client_side``: the layer
            under the message).
        client_side: encrypt here even with only ``kms_key_id``.
        require: what reads demand (``s3``, ``kms``, ``dsse-kms``, ``client-side``).
        max_data_keys, frame_length: client-side message limits and frame size.
        relocated: accept messages copied from another location.
        endpoint_url, ca_bundle, region, profile: where and how to connect.
        transfer: part size and concurrency of uploads.
        exact_sizes: listings report plaintext sizes (two requests per object).

    Reading a missing object or bucket (``open``, ``cat``, ``get``, ``cp_file``, and
    so pandas and pyarrow) raises :class:`ObjectFileNotFoundError`, both the
    :class:`FileNotFoundError` of fsspec's contract and a
    :class:`~securestore.errors.NotFoundError`.

    Raises:
        ConfigurationError: contradictory options, unreadable key files.
    """

    protocol = (PROTOCOL,)
    root_marker = ""

    def __init__(
        self,
        *,
        store: StoreFactory | None = None,
        keyring: Keyring | None = None,
        connection: Connection | None = None,
        key_file: str | Iterable[str] | None = None,
        rsa_public_key: str | Iterable[str] | None = None,
        rsa_private_key: str | Iterable[str] | None = None,
        kms_key_id: str | Iterable[str] | None = None,
        key_name: str = DEFAULT_KEY_NAME,
        context: Mapping[str, str] | Iterable[str] | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        client_side: bool = False,
        require: str | None = None,
        max_data_keys: int | None = None,
        frame_length: int | None = None,
        relocated: bool = False,
        endpoint_url: str | None = None,
        ca_bundle: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        transfer: TransferConfig | None = None,
        exact_sizes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.options = StoreOptions.build(
            store=store,
            keyring=keyring,
            connection=connection,
            key_file=names(key_file),
            rsa_public_key=names(rsa_public_key),
            rsa_private_key=names(rsa_private_key),
            kms_key_id=names(kms_key_id),
            key_name=key_name,
            context=pairs(context),
            sse=sse,
            sse_kms_key_id=sse_kms_key_id,
            client_side=client_side,
            require=require,
            max_data_keys=max_data_keys,
            frame_length=frame_length,
            relocated=relocated,
            transfer=transfer,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            region=region,
            profile=profile,
        )
        self.exact_sizes = exact_sizes
        self._stores: dict[str, SecureStore] = {}
        self._clients: dict[str, Any] = {}
        self._sizes: dict[tuple[str, str, str], int] = {}

    # -- paths and stores --------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        for prefix in (f"{PROTOCOL}://", f"{PROTOCOL}::"):
            text = text.removeprefix(prefix)
        return text.strip("/")

    def split_path(self, path: str) -> tuple[str, str]:
        """``bucket/some/key`` -> (``bucket``, ``some/key``)."""
        bucket, _, key = self._strip_protocol(path).partition("/")
        return bucket, key

    def store(self, bucket: str) -> SecureStore:
        """The store of ``bucket`` (built once per bucket)."""
        if bucket not in self._stores:
            self._stores[bucket] = self.options.factory(bucket)
        return self._stores[bucket]

    def _s3(self, bucket: str) -> Any:
        """A plain S3 client of the bucket's connection, for listings only."""
        if bucket not in self._clients:
            self._clients[bucket] = self.store(bucket).connection.client("s3")
        return self._clients[bucket]

    def _client_side(self, store: SecureStore, info: ObjectInfo) -> bool:
        return (
            self.options.client_side
            or isinstance(store.encryption, ClientSide)
            or info.encryption.client_side is not None
        )

    # -- reading -----------------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SecureStoreReadFile | SecureStoreWriteFile:
        bucket, key = self.split_path(path)
        if not autocommit:
            raise NotImplementedError("securestore writes are atomic; transactions are not needed")
        store = self.store(bucket)
        if mode == "rb":
            with _missing_as_file_not_found():
                reader = self._reader(store, key)
            return SecureStoreReadFile(
                self,
                f"{bucket}/{key}",
                reader,
                block_size=block_size,
                cache_type=kwargs.get("cache_type", "readahead"),
                cache_options=cache_options,
            )
        if mode in ("wb", "xb"):
            if mode == "xb" and self.exists(path):
                raise FileExistsError(path)
            # open(path, "wb", attributes=ObjectAttributes(...)): storage class, headers.
            return SecureStoreWriteFile(
                store, key, f"{bucket}/{key}", attributes=kwargs.get("attributes")
            )
        raise ValueError(f"unsupported mode {mode!r}: use rb or wb")

    def _plaintext_size(self, store: SecureStore, info: ObjectInfo) -> int:
        """The size a read returns: from the header and stored length for a message."""
        if not self._client_side(store, info):
            return info.size
        # One header fetch per object version: pyarrow and DuckDB ask info() often.
        version = (store.bucket, info.key, info.etag)
        if version in self._sizes:
            return self._sizes[version]
        size = self._measure(store, info)
        if len(self._sizes) >= _SIZE_CACHE:
            self._sizes.pop(next(iter(self._sizes)))
        self._sizes[version] = size
        return size

    def _measure(self, store: SecureStore, info: ObjectInfo) -> int:
        s3 = self._s3(store.bucket)

        def fetch(start: int, end: int) -> bytes:
            # Pinned to the version HEAD described, so size and header belong together.
            try:
                response = s3.get_object(
                    Bucket=store.bucket,
                    Key=info.key,
                    Range=f"bytes={start}-{end - 1}",
                    IfMatch=info.etag,
                )
                body = response["Body"]
                # The range answered, and no more than it: the header's bytes are
                # the server's to choose, their length is not (review rev2 B, L4).
                if not range_answered(response.get("ContentRange"), start, end - 1):
                    body.close()
                    raise StorageError(
                        f"the server did not answer the byte range {start}-{end - 1} it was "
                        f"asked for (Content-Range: {response.get('ContentRange')!r})",
                        bucket=store.bucket,
                        key=info.key,
                        code="RangeNotHonoured",
                    )
                return read_capped(body, end - start, bucket=store.bucket, key=info.key)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise translate_error(
                    exc, bucket=store.bucket, key=info.key, action="read"
                ) from exc

        limits = (
            self.options.require.header_limits
            if isinstance(self.options.require, ClientSide)
            else HeaderLimits()
        )
        header = read_header(fetch, info.size, limits)
        if not header.suite.signed:
            return Layout.from_ciphertext_length(
                info.size, header.frame_length, header.length
            ).plaintext_length
        # A signed message (another writer) has a footer of variable length: only a
        # verified read tells its plaintext size.
        with self._reader(store, info.key) as reader:
            return reader.size

    def _reader(self, store: SecureStore, key: str) -> ObjectReader | ClientSideReader:
        """A reader of ``key`` with this filesystem's read options (require, context)."""
        return store.open(
            key,
            require=self.options.require,
            context=self.options.context,
            relocated=self.options.relocated,
        )

    def _file_entry(self, bucket: str, key: str, size: int, stored: int, **extra: Any) -> Any:
        return {
            "name": f"{bucket}/{key}",
            "type": "file",
            "size": size,
            "stored_size": stored,
            **extra,
        }

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Describe a file (plaintext ``size``), a prefix or a bucket.

        Raises:
            FileNotFoundError: nothing at ``path``.
            IntegrityError: a client-side filesystem met an object that is not a message.
        """
        bucket, key = self.split_path(path)
        if not bucket:
            return {"name": "", "type": "directory", "size": 0}
        store = self.store(bucket)
        if key:
            try:
                head = store.head(key)
            except NotFoundError:
                pass
            else:
                return self._file_entry(  # type: ignore[no-any-return]
                    bucket,
                    key,
                    self._plaintext_size(store, head),
                    head.size,
                    ETag=head.etag,
                    LastModified=head.last_modified,
                    encryption=head.encryption.describe(),
                )
        if self._prefix_exists(bucket, key):
            return {"name": f"{bucket}/{key}".rstrip("/"), "type": "directory", "size": 0}
        raise FileNotFoundError(path)

    def modified(self, path: str) -> datetime.datetime:
        """When the object was last written (S3's ``LastModified``).

        Raises:
            FileNotFoundError: no object at ``path``.
        """
        bucket, key = self.split_path(path)
        try:
            when = self.store(bucket).head(key).last_modified
        except NotFoundError as exc:
            raise FileNotFoundError(path) from exc
        if when is None:
            raise FileNotFoundError(f"{path}: S3 reported no modification time")
        return when

    def _prefix_exists(self, bucket: str, key: str) -> bool:
        prefix = f"{key}/" if key else ""
        try:
            response = self._s3(bucket).list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return False
            raise translate_error(exc, bucket=bucket, action="list") from exc
        return bool(response.get("KeyCount", 0)) or not key

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether an object or a prefix is at ``path`` (only "not found" is ``False``)."""
        bucket, key = self.split_path(path)
        if not bucket:
            return True
        if key:
            with contextlib.suppress(NotFoundError):
                self.store(bucket).head(key)
                return True
        return self._prefix_exists(bucket, key)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List one level under ``path`` (S3's listing with ``/`` as delimiter).

        File sizes are S3's stored sizes (ciphertext for client-side objects)
        unless ``exact_sizes`` is set; :meth:`info` always gives plaintext sizes.
        """
        bucket, key = self.split_path(path)
        if not bucket:
            raise NotImplementedError("list buckets with securestore ls; give a bucket")
        prefix = f"{key}/" if key else ""
        entries: list[dict[str, Any]] = []
        paginator = self._s3(bucket).get_paginator("list_objects_v2")
        # rm(recursive=True) deletes what this lists: held to S3's listing contract.
        check = ListingCheck(bucket, prefix)
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                names = [str(item["Prefix"]) for item in page.get("CommonPrefixes", [])]
                names += [str(item["Key"]) for item in page.get("Contents", [])]
                for name in sorted(names, key=order_key):
                    check.key(name)
                check.page(page)
                for common in page.get("CommonPrefixes", []):
                    name = f"{bucket}/{common['Prefix']}".rstrip("/")
                    entries.append({"name": name, "type": "directory", "size": 0})
                for item in page.get("Contents", []):
                    size = int(item.get("Size", 0))
                    entries.append(
                        self._file_entry(
                            bucket,
                            item["Key"],
                            size,
                            size,
                            ETag=item.get("ETag"),
                            LastModified=item.get("LastModified"),
                        )
                    )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise FileNotFoundError(path) from exc
            raise translate_error(exc, bucket=bucket, action="list") from exc
        if not entries and key:
            entries = [self.info(path)]  # ls of a file lists the file, as in s3fs
            if entries[0]["type"] == "directory":
                entries = []
        elif self.exact_sizes:
            store = self.store(bucket)
            for entry in entries:
                if entry["type"] == "file":
                    _, name = self.split_path(entry["name"])
                    entry["size"] = self._plaintext_size(store, store.head(name))
        return entries if detail else [entry["name"] for entry in entries]

    # -- changes -----------------------------------------------------------------------------

    def rm_file(self, path: str) -> None:
        """Delete one object (deleting a missing key succeeds, as in S3)."""
        bucket, key = self.split_path(path)
        self.store(bucket).delete(key)

    def rm(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None
    ) -> None:
        """Delete objects; prefixes disappear with their last object."""
        for name in self.expand_path(path, recursive=recursive, maxdepth=maxdepth):
            if self.isfile(name):
                self.rm_file(name)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy by reading and writing again through the stores.

        A client-side message is bound to its location, so it is decrypted and
        encrypted anew for the destination (and authenticated on the way).
        """
        source_bucket, source_key = self.split_path(path1)
        bucket, key = self.split_path(path2)
        source = self.store(source_bucket)
        with _missing_as_file_not_found():
            reader = self._reader(source, source_key)
        with reader:
            self.store(bucket).put(key, reader)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create a bucket when ``path`` is a bare bucket; a prefix needs nothing."""
        bucket, key = self.split_path(path)
        if not key and not self._bucket_exists(bucket):
            create_bucket(self.store(bucket).connection, bucket)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Nothing to do for prefixes (a bare, missing bucket is created)."""
        bucket, key = self.split_path(path)
        if not key and not self._bucket_exists(bucket):
            create_bucket(self.store(bucket).connection, bucket)

    def rmdir(self, path: str) -> None:
        """Prefixes vanish with their last object; buckets are not deleted here."""

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self._s3(bucket).head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            return False
        return True

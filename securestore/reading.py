"""The store's read path: describe, check, fetch, authenticate and deliver an object.

A read first learns what the object is (one ranged GET that also brings a
client-side message header, or a HEAD when a server-side mode is demanded),
enforces what the caller requires, then streams: plain ranged GETs for
server-side modes, frame-aligned authenticated reads for client-side messages.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import botocore.exceptions

from securestore.bucket import BucketAccess, ObjectInfo
from securestore.clientside import (
    HEADER_PROBE,
    ClientSide,
    ClientSideReader,
    FetchRange,
    check_location,
    expected_context,
    read_header,
)
from securestore.errors import (
    FormatError,
    KeyringError,
    NoMatchingKeyError,
    PolicyError,
    PreconditionFailedError,
    StorageError,
    TransferError,
)
from securestore.localfile import AtomicFile, pwrite_all
from securestore.location import validate_key
from securestore.message import DecryptingReader, Decryptor, Header, HeaderLimits, Keyring
from securestore.message.frames import REGULAR_FRAME_OVERHEAD as _FRAME_OVERHEAD
from securestore.modes import EncryptionMode, StoredEncryption
from securestore.reader import RETRYABLE_STREAM_ERRORS, ObjectReader
from securestore.transfer import MiB, ProgressCallback, run_bounded

__all__ = ["ReadPath"]

_STREAM_PIECE = 1 * MiB


class ReadPath:
    """Reads of one bucket.

    Args:
        access: the bucket's client and helpers.
        encryption: the store's mode; a client-side store decrypts every read.
        keyring: decrypts client-side objects read through a server-side store.
    """

    def __init__(
        self, access: BucketAccess, *, encryption: EncryptionMode, keyring: Keyring | None
    ) -> None:
        self.access = access
        self.bucket = access.bucket
        self.encryption = encryption
        self.keyring = keyring

    def _check_read(self, mode: EncryptionMode | None, stored: StoredEncryption, key: str) -> None:
        if mode is None:
            return
        reason = mode.check(stored)
        if reason is not None and mode.kms_key_id:
            reason = mode.check(stored, resolved_key_arn=self.access.key_arn_for(mode))
        if reason is not None:
            raise PolicyError(
                f"refusing to read: the object is {reason}", bucket=self.bucket, key=key
            )

    def _get_range(self, key: str, etag: str, first: int, last: int | None = None) -> Any:
        """GET bytes ``first..last`` (inclusive; to the end if ``None``) of version ``etag``.

        The request is conditional on the ETag, and the answer's ETag is checked
        as well, since not every S3-compatible server honours ``If-Match``.
        """
        span = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        with self.access.boundary("read", key):
            response: dict[str, Any] = self.access.s3.get_object(
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
                if attempts > self.access.transfer.read_retries:
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
        mode = require
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
        mode = require
        if mode is not None and not isinstance(mode, ClientSide):
            return self.access.head(key), b""
        validate_key(key)
        try:
            with self.access.boundary("read", key):
                response = self.access.s3.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{HEADER_PROBE - 1}"
                )
        except StorageError as exc:
            if exc.code == "InvalidRange":  # an empty object has no byte 0
                return self.access.head(key), b""
            raise
        with self.access.boundary("read", key), contextlib.closing(response["Body"]) as body:
            try:
                first: bytes = body.read()
            except RETRYABLE_STREAM_ERRORS:
                return self.access.head(key), b""
        total = _range_total(response.get("ContentRange"))
        size = total if total is not None else int(response.get("ContentLength", len(first)))
        return self.access.info(key, {**response, "ContentLength": size}), first[:HEADER_PROBE]

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
        with self.access.boundary("read", key):
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
                read_retries=self.access.transfer.read_retries,
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
        with self.access.boundary("read", key), restart() as stream:
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
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
    ) -> ObjectReader | ClientSideReader:
        """See :meth:`securestore.store.SecureStore.open`; ``require`` is already resolved."""
        info, first, client_side = self._prepare_read(key, require)
        if client_side is not None:
            return self._open_client_side(key, info, client_side, context, relocated, first)
        return ObjectReader(
            self._open_range(key, info.etag),
            size=info.size,
            bucket=self.bucket,
            key=key,
            read_retries=self.access.transfer.read_retries,
        )

    def inspect(self, key: str) -> Header:
        """See :meth:`securestore.store.SecureStore.inspect`."""
        info = self.access.head(key)
        with self.access.boundary("inspect", key):
            return read_header(self._fetcher(key, info.etag), info.size, HeaderLimits())

    def download(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        progress: ProgressCallback | None,
        mode: int | None = None,
        overwrite_readonly: bool = False,
    ) -> ObjectInfo:
        """See :meth:`securestore.store.SecureStore.download_file`."""
        info, first, client_side = self._prepare_read(key, require)
        target = Path(path)
        if client_side is None:
            plain = ObjectReader(
                self._open_range(key, info.etag),
                size=info.size,
                bucket=self.bucket,
                key=key,
                read_retries=self.access.transfer.read_retries,
            )
            destination = AtomicFile(
                target,
                create_mode=0o666 if mode is None else mode,
                overwrite_readonly=overwrite_readonly,
            )
            with plain, destination as out:
                if out.stream:  # a device or FIFO: in order, through one reader
                    for chunk in plain:
                        out.write_at(chunk, plain.tell() - len(chunk))
                        if progress:
                            progress(len(chunk))
                else:
                    self._fetch_into(key, info, out.fd, progress)
            return info
        reader = self._open_client_side(key, info, client_side, context, relocated, first)
        # Freshly decrypted plaintext: a new file is the caller's alone unless asked otherwise.
        destination = AtomicFile(
            target,
            create_mode=0o600 if mode is None else mode,
            overwrite_readonly=overwrite_readonly,
        )
        with self.access.boundary("download", key), reader, destination as out:
            if reader.layout is None or out.stream:
                for chunk in reader:
                    out.write_at(chunk, reader.tell() - len(chunk))
                    if progress:
                        progress(len(chunk))
            else:
                self._decrypt_into(key, info.etag, reader, out.fd, progress)
        return info

    def _fetch_into(
        self, key: str, info: ObjectInfo, fd: int, progress: ProgressCallback | None
    ) -> None:
        part_size = self.access.transfer.part_size_for(info.size)
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

        run_bounded(ranges, fetch, concurrency=self.access.transfer.concurrency)

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
        per_range = max(
            1, self.access.transfer.part_size // (layout.frame_length + _FRAME_OVERHEAD)
        )
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

        run_bounded(spans, fetch, concurrency=self.access.transfer.concurrency)

    # -- listing and deletion ---------------------------------------------------------------


def _range_total(content_range: str | None) -> int | None:
    """The object size from ``Content-Range: bytes 0-4095/12345``, if present."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None

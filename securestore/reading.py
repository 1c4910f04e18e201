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

from securestore.bucket import BucketAccess, ObjectInfo, version_argument
from securestore.clientside import (
    CONTEXT_BUCKET,
    CONTEXT_KEY,
    HEADER_PROBE,
    ClientSide,
    ClientSideReader,
    FetchRange,
    check_location,
    expected_context,
    looks_like_message,
    read_header,
)
from securestore.errors import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    KeyringError,
    NoMatchingKeyError,
    PolicyError,
    PreconditionFailedError,
    SecureStoreError,
    StorageError,
    TransferError,
)
from securestore.localfile import AtomicFile, pwrite_all
from securestore.location import validate_key
from securestore.message import Decryptor, Header, HeaderLimits, Keyring, Layout
from securestore.message.frames import REGULAR_FRAME_OVERHEAD as _FRAME_OVERHEAD
from securestore.modes import UNREPORTED_KEY, EncryptionMode, StoredEncryption
from securestore.reader import RETRYABLE_STREAM_ERRORS, ObjectReader, range_answered
from securestore.s3ec.read import S3ecSource, find_s3ec
from securestore.signed import FrameDigests, verify_signed
from securestore.transfer import (
    MiB,
    ProgressCallback,
    RetryBudget,
    check_cancelled,
    read_body_into,
    run_bounded,
)

__all__ = ["ReadPath"]

_STREAM_PIECE = 1 * MiB


class ReadPath:
    """Reads of one bucket.

    Args:
        access: the bucket's client and helpers.
        encryption: the store's mode; a client-side store decrypts every read.
        keyring: decrypts client-side objects read through a server-side store.
        version_id: pin every request (HEAD, the probe, every ranged GET) to this
            version of the object; ``None`` reads the current version.
    """

    def __init__(
        self,
        access: BucketAccess,
        *,
        encryption: EncryptionMode,
        keyring: Keyring | None,
        version_id: str | None = None,
    ) -> None:
        self.access = access
        self.bucket = access.bucket
        self.encryption = encryption
        self.keyring = keyring
        self.version_id = version_id
        # Passed to every GET: a read of one version never mixes in bytes of another.
        self._version = version_argument(version_id)

    def _check_read(self, mode: EncryptionMode | None, stored: StoredEncryption, key: str) -> None:
        if mode is None:
            return
        reason = mode.check(stored)
        if reason is not None and mode.kms_key_id:
            reason = mode.check(stored, resolved_key_arn=self.access.key_arn_for(mode))
        if reason is not None:
            raise PolicyError(
                f"refusing to read: the object is {reason}",
                bucket=self.bucket,
                key=key,
                hint="the server did not say which KMS key the object uses; demand the mode "
                "without a key id to accept any KMS key"
                if reason.startswith(UNREPORTED_KEY)
                else None,
            )

    def _get_range(self, key: str, etag: str, first: int, last: int | None = None) -> Any:
        """GET bytes ``first..last`` (inclusive; to the end if ``None``) of version ``etag``.

        The request is conditional on the ETag, and the answer's ETag is checked
        as well, since not every S3-compatible server honours ``If-Match``.
        """
        span = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        with self.access.boundary("read", key):
            response: dict[str, Any] = self.access.s3.get_object(
                Bucket=self.bucket, Key=key, Range=span, IfMatch=etag, **self._version
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
        if not range_answered(response.get("ContentRange"), first, last):
            # A server that ignores Range sends the object from byte 0: written at
            # offset `first`, an SSE download would be silently wrong.
            response["Body"].close()
            raise StorageError(
                f"the server did not answer the byte range {span} it was asked for "
                f"(Content-Range: {response.get('ContentRange')!r})",
                bucket=self.bucket,
                key=key,
                code="RangeNotHonoured",
                hint="the endpoint does not support ranged GETs, which securestore needs",
            )
        return response

    def _open_range(self, key: str, etag: str) -> Any:
        def open_range(start: int, last: int | None = None) -> dict[str, Any]:
            response: dict[str, Any] = self._get_range(key, etag, start, last)
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
        it stopped, within one :class:`~securestore.transfer.RetryBudget` (the same rule
        as :class:`~securestore.reader.ObjectReader`): a connection that keeps breaking
        after a few bytes ends in :class:`TransferError`, never in an endless loop.
        Nothing is written once the batch this runs in was cancelled.
        """
        budget = RetryBudget(self.access.transfer.read_retries)
        while start < end:
            try:
                body = self._get_range(key, etag, start, end - 1)["Body"]
                with contextlib.closing(body):
                    while start < end:
                        view = window(start, end - start)
                        count = read_body_into(body, view)
                        if not count:
                            raise botocore.exceptions.IncompleteReadError(
                                actual_bytes=start, expected_bytes=end
                            )
                        check_cancelled()
                        if commit is not None:
                            commit(start, view[:count])
                        start += count
                        budget.progressed(count)
            except RETRYABLE_STREAM_ERRORS as exc:
                reason = budget.failed()
                if reason is not None:
                    raise TransferError(
                        f"read failed after {budget.failures} attempts ({reason}): "
                        f"{type(exc).__name__}",
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

    def _keyring_mode(self, require: EncryptionMode | None) -> ClientSide | None:
        """The client-side mode a read decrypts with, or ``None`` for a plain SSE read.

        Decided by what the caller configured (the call's ``require``, the store's
        mode, the store's keyring), never by the object or its metadata.
        """
        if isinstance(require, ClientSide):
            return require
        if isinstance(self.encryption, ClientSide):
            return self.encryption
        if self.keyring is not None:
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
            return self.access.head(key, version_id=self.version_id), b""
        validate_key(key)
        try:
            with self.access.boundary("read", key):
                response = self.access.s3.get_object(
                    Bucket=self.bucket,
                    Key=key,
                    Range=f"bytes=0-{HEADER_PROBE - 1}",
                    **self._version,
                )
        except StorageError as exc:
            if exc.code == "InvalidRange":  # an empty object has no byte 0
                return self.access.head(key, version_id=self.version_id), b""
            raise
        with self.access.boundary("read", key), contextlib.closing(response["Body"]) as body:
            try:
                # Bounded: a server that ignores Range would send the whole object.
                first: bytes = body.read(HEADER_PROBE)
            except RETRYABLE_STREAM_ERRORS:
                return self.access.head(key, version_id=self.version_id), b""
        total = _range_total(response.get("ContentRange"))
        size = total if total is not None else int(response.get("ContentLength", len(first)))
        return self.access.info(key, {**response, "ContentLength": size}), first[:HEADER_PROBE]

    def _prepare_read(
        self, key: str, require: EncryptionMode | None, allow_plaintext: bool
    ) -> tuple[ObjectInfo, bytes, ClientSide | None]:
        """Describe the object, enforce ``require``, and say how it must be decrypted.

        With a keyring in play the object must be a message (``allow_plaintext``
        lets an object that does not even begin like one through, as stored).
        Without one, an object that begins like a message is refused rather
        than handed out as ciphertext.
        """
        info, first = self._probe(key, require)
        self._check_read(require, info.encryption, key)
        mode = self._keyring_mode(require)
        if mode is not None and not allow_plaintext:
            return info, first, mode
        if not first and info.size:
            with self.access.boundary("read", key):
                first = bytes(self._fetcher(key, info.etag)(0, min(info.size, HEADER_PROBE)))
        message = looks_like_message(first, info.size)
        if mode is None and message:
            raise KeyringError(
                "this object is client-side encrypted and no keyring was given",
                bucket=self.bucket,
                key=key,
                hint="give a keyring (keyring= or a ClientSide mode; CLI: --client-side for "
                "KMS discovery in your account, or --key-file, --rsa-private-key, "
                "--kms-key-id); to fetch the stored bytes as they are, use a plain S3 client "
                "(aws s3 cp)",
            )
        return info, first, mode if message else None

    def _authenticate_header(
        self, key: str, header: Header, mode: ClientSide, expected: Mapping[str, str]
    ) -> Decryptor:
        """Unwrap the data key (one keyring call) and authenticate the header.

        A header that authenticates but lacks the caller's expected context pairs
        is refused naming the keys that differ (never their values), so that a
        wrong ``context=`` is not reported as tampering.
        """
        try:
            return Decryptor(
                header, mode.keyring_for(), expected_context=expected, policy=mode.policy
            )
        except AuthenticationError as failure:
            stored = header.encryption_context
            differ = sorted(name for name, value in expected.items() if stored.get(name) != value)
            if not differ:
                raise
            # The expected pairs were compared before any key was unwrapped: make sure
            # the header is genuine before saying it is only the context that differs.
            try:
                Decryptor(header, mode.keyring, policy=mode.policy)
            except SecureStoreError:
                raise failure from None
            located = {CONTEXT_BUCKET, CONTEXT_KEY} & set(differ)
            # Worded like check_location's error: an IntegrityError that may give detail.
            raise IntegrityError(
                "the object's encryption context does not have the expected value for "
                + ", ".join(repr(name) for name in differ),
                bucket=self.bucket,
                key=key,
                hint="the message is not bound to this location; if it was copied or moved "
                "on purpose, read it with relocated=True (CLI: --relocated)"
                if located
                else "read it with the context it was written with (CLI: --context K=V)",
            ) from None

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
                # A well-formed header past this reader's limits keeps its own wording.
                if not looks_like_message(first, info.size):
                    exc.message = f"the object is not a valid client-side message: {exc.message}"
                    exc.hint = exc.hint or (
                        "someone who can write to the bucket may have replaced it; if it is "
                        "meant to be stored without client-side encryption, read it with "
                        "allow_plaintext=True (CLI: --allow-plaintext), which accepts "
                        "unauthenticated content"
                    )
                raise
            check_location(header, expected, self.bucket, key)
            try:
                decryptor = self._authenticate_header(key, header, mode, expected)
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

        layout: Layout | None = None
        digests: FrameDigests | None = None
        if header.suite.signed:
            # The signature covers the whole message: check it in one streaming pass
            # before any plaintext is handed out, recording each frame's digest so
            # that later fetches must return the very frames that were signed.
            with self.access.boundary("read", key), ciphertext() as raw:
                raw.seek(header.length)
                layout, digests = verify_signed(decryptor, io.BufferedReader(raw, _STREAM_PIECE))
        return ClientSideReader(
            decryptor,
            ciphertext=ciphertext(),
            fetch=fetch,
            ciphertext_size=info.size,
            layout=layout,
            digests=digests,
            location=(self.bucket, key),
        )

    def _s3ec(
        self,
        key: str,
        info: ObjectInfo,
        require: EncryptionMode | None,
        first: bytes,
        context: Mapping[str, str] | None,
    ) -> S3ecSource | None:
        """An object of the AWS S3 Encryption Client, read by :mod:`securestore.s3ec`.

        Found by its metadata (or instruction file); refused without a keyring.
        """
        mode = self._keyring_mode(require)
        return find_s3ec(
            self.access,
            key,
            info,
            keyring=mode.keyring if mode is not None else None,
            context=(mode.context if mode is not None else None) if context is None else context,
            is_message=looks_like_message(first, info.size),
            fetch=self._fetcher(key, info.etag),
            stream=lambda: ObjectReader(
                self._open_range(key, info.etag),
                size=info.size,
                bucket=self.bucket,
                key=key,
                read_retries=self.access.transfer.read_retries,
            ),
        )

    def open(
        self,
        key: str,
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        allow_plaintext: bool,
        allow_legacy_unauthenticated: bool = False,
    ) -> ObjectReader | ClientSideReader:
        """See :meth:`securestore.store.SecureStore.open`; ``require`` is already resolved."""
        info, first, client_side = self._prepare_read(key, require, allow_plaintext)
        s3ec = self._s3ec(key, info, require, first, context)
        if s3ec is not None:
            return s3ec.open(allow_legacy_unauthenticated=allow_legacy_unauthenticated)
        if client_side is not None:
            return self._open_client_side(key, info, client_side, context, relocated, first)
        return ObjectReader(
            self._open_range(key, info.etag),
            size=info.size,
            bucket=self.bucket,
            key=key,
            read_retries=self.access.transfer.read_retries,
        )

    def inspect(self, key: str, *, limits: HeaderLimits | None = None) -> Header:
        """See :meth:`securestore.store.SecureStore.inspect`."""
        info = self.access.head(key, version_id=self.version_id)
        with self.access.boundary("inspect", key):
            return read_header(self._fetcher(key, info.etag), info.size, limits or HeaderLimits())

    def download(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        require: EncryptionMode | None,
        context: Mapping[str, str] | None,
        relocated: bool,
        allow_plaintext: bool,
        progress: ProgressCallback | None,
        mode: int | None = None,
        overwrite_readonly: bool = False,
        allow_legacy_unauthenticated: bool = False,
    ) -> ObjectInfo:
        """See :meth:`securestore.store.SecureStore.download_file`."""
        info, first, client_side = self._prepare_read(key, require, allow_plaintext)
        target = Path(path)
        s3ec = self._s3ec(key, info, require, first, context)
        if s3ec is not None:
            s3ec.download(
                AtomicFile(
                    target,
                    create_mode=0o600 if mode is None else mode,
                    overwrite_readonly=overwrite_readonly,
                ),
                progress=progress,
                allow_legacy_unauthenticated=allow_legacy_unauthenticated,
            )
            return info
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
            if out.stream:
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
        """Fetch frame-aligned ranges in parallel; authenticate and write frames as they come.

        Each range (about one part) is one GET whose body is read in batches of
        whole frames (about :data:`_STREAM_PIECE` bytes) into one reused buffer per
        worker thread; a batch is authenticated and written in place before the
        next is read. Memory is therefore two batches per worker whatever the
        object's size, the connection never waits for a whole range to be
        decrypted and written, and nothing but authenticated plaintext reaches
        the (still partial) file. Fresh multi-MiB buffers per range would cost
        more (page faults) than the decryption.
        """
        layout = reader.layout
        frame_size = layout.frame_length + _FRAME_OVERHEAD
        per_range = max(1, self.access.transfer.part_size // frame_size)
        per_batch = max(1, _STREAM_PIECE // frame_size)
        spans = [
            (first, min(first + per_range - 1, layout.frame_count))
            for first in range(1, layout.frame_count + 1, per_range)
        ]
        buffers = threading.local()

        def buffer(name: str, size: int) -> memoryview:
            view: memoryview | None = getattr(buffers, name, None)
            if view is None or len(view) < size:
                view = memoryview(bytearray(size))
                setattr(buffers, name, view)
            return view

        def fetch(span: tuple[int, int]) -> None:
            batch = _Batch(layout, span[1], per_batch, span[0])

            def window(at: int, _: int) -> memoryview:
                cipher = buffer("cipher", batch.hi - batch.lo)
                return cipher[at - batch.lo : batch.hi - batch.lo]

            def commit(at: int, piece: memoryview) -> None:
                if at + len(piece) < batch.hi:
                    return
                cipher = buffer("cipher", 0)[: batch.hi - batch.lo]
                reader.check_frames(batch.first, cipher)
                plain = buffer("plain", len(cipher))
                count = reader.decryptor.decrypt_frames_into(
                    batch.first, cipher, plain, includes_final=batch.last == layout.frame_count
                )
                pwrite_all(fd, plain[:count], (batch.first - 1) * layout.frame_length)
                if progress:
                    progress(count)
                batch.advance()

            lo, hi = layout.ciphertext_range(*span)
            self._stream_range(key, etag, lo, hi, window, commit)

        run_bounded(spans, fetch, concurrency=self.access.transfer.concurrency)

    # -- listing and deletion ---------------------------------------------------------------


class _Batch:
    """Frames ``first..last`` of one range, read, authenticated and written together,
    and their ciphertext ``[lo, hi)``; :meth:`advance` moves on to the next batch."""

    def __init__(self, layout: Layout, end: int, per_batch: int, first: int) -> None:
        self._layout, self._end, self._per_batch = layout, end, per_batch
        self.first = self.last = self.lo = self.hi = 0
        self._select(first)

    def _select(self, first: int) -> None:
        self.first = first
        self.last = min(first + self._per_batch - 1, self._end)
        self.lo, self.hi = self._layout.ciphertext_range(self.first, self.last)

    def advance(self) -> None:
        """Move to the frames after this batch, if the range has more."""
        if self.last < self._end:
            self._select(self.last + 1)


def _range_total(content_range: str | None) -> int | None:
    """The object size from ``Content-Range: bytes 0-4095/12345``, if present."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None

"""The file objects of the fsspec filesystem: ranged authenticated reads, streamed writes.

Reading maps fsspec's buffered file (``seek``/``read`` with a read-ahead cache)
onto :meth:`~securestore.clientside_reader.ClientSideReader.read_range`, which fetches
exactly the frames that hold the asked bytes and authenticates each before
returning any of it. The cache's block defaults to one frame, so a Parquet
reader (footer first, then the column chunks it wants) makes one request per
range it reads and fetches little beyond it.

Writing hands a bounded queue of chunks to :meth:`SecureStore.put
<securestore.store.SecureStore.put>` running in a worker thread: the body is
encrypted and sent part by part as it is written (memory stays at a few parts),
and anything but a clean :meth:`close` aborts the upload, so a failed or
discarded file never becomes an object.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from securestore.attributes import ObjectAttributes
from securestore.clientside_reader import ClientSideReader
from securestore.errors import TransferError
from securestore.reader import ObjectReader
from securestore.store import SecureStore

__all__ = ["SecureStoreReadFile", "SecureStoreWriteFile"]

#: Read-ahead for server-side objects (client-side ones use their frame length).
SSE_BLOCK_SIZE = 256 * 1024
#: Bytes a writer gathers before handing them to the upload, and chunks it queues.
_WRITE_PIECE = 1024 * 1024
_QUEUE_DEPTH = 4
_POLL = 0.2


class SecureStoreReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """A read-only, seekable file over one stored object's (authenticated) plaintext.

    ``size`` is the plaintext size. Every read is served by the store's reader:
    for a client-side object by frame-aligned ranged GETs, each frame
    authenticated before its bytes are returned (a tampered object raises
    :class:`~securestore.errors.IntegrityError`).
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        path: str,
        reader: ObjectReader | ClientSideReader,
        *,
        block_size: int | None = None,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
    ) -> None:
        self.reader = reader
        self._lock = threading.Lock()
        layout = reader.layout if isinstance(reader, ClientSideReader) else None
        default = layout.frame_length if layout is not None else SSE_BLOCK_SIZE
        super().__init__(
            fs,
            path,
            mode="rb",
            block_size=block_size or default,
            cache_type=cache_type,
            cache_options=cache_options,
            size=reader.size,
        )

    def _fetch_range(self, start: int, end: int) -> bytes:
        # Callers such as pyarrow may read from several threads.
        with self._lock:
            return self.reader.read_range(start, max(0, end - start))

    def close(self) -> None:
        """Release the reader (and its connection)."""
        if not self.closed:
            self.reader.close()
        super().close()


class _DiscardedError(Exception):
    """Raised into the upload when the file is discarded, so the store aborts it."""


class _Upload:
    """The worker side of a write: ``put`` in a thread, fed from a bounded queue.

    It holds no reference to its file, so a file dropped unclosed is collected
    (and its ``__del__`` aborts the upload) while the thread still runs.
    """

    def __init__(
        self, store: SecureStore, key: str, attributes: ObjectAttributes | None = None
    ) -> None:
        self.queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_DEPTH)
        self.discarded = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run,
            args=(store, key, attributes),
            name=f"securestore-put {key}",
            daemon=True,
        )
        self.thread.start()

    def _run(self, store: SecureStore, key: str, attributes: ObjectAttributes | None) -> None:
        try:
            store.put(key, self._chunks(), attributes=attributes)
        except _DiscardedError:
            pass
        except BaseException as exc:  # handed to the writing thread
            self.error = exc

    def _chunks(self) -> Iterator[bytes]:
        while True:
            try:
                item = self.queue.get(timeout=_POLL)
            except queue.Empty:
                item = b""
            if self.discarded.is_set():
                raise _DiscardedError
            if item is None:
                return
            if item:
                yield item

    def send(self, item: bytes | None, path: str) -> None:
        """Queue ``item`` (``None``: the end), raising the upload's error if it failed."""
        while True:
            self.raise_failure(path)
            try:
                self.queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def raise_failure(self, path: str) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            self.discarded.set()
            raise error
        if not self.thread.is_alive():
            raise TransferError(f"the upload of {path} stopped")

    def finish(self) -> None:
        """Wait for the upload to complete; raise its error if it failed."""
        self.thread.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def abort(self) -> None:
        """Make the upload fail (the store aborts it) and wait until it has."""
        self.discarded.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()


class SecureStoreWriteFile(io.RawIOBase):
    """A write-only file whose bytes are encrypted and uploaded while they are written.

    The object appears only when :meth:`close` returns. Leaving a ``with`` block
    by an exception, calling :meth:`discard`, or dropping the file unclosed
    aborts the upload instead (no object, no multipart upload left behind).
    """

    def __init__(
        self,
        store: SecureStore,
        key: str,
        path: str,
        attributes: ObjectAttributes | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self._pending = bytearray()
        self._written = 0
        self._upload = _Upload(store, key, attributes)

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        """Buffer ``data``; full pieces go to the upload (blocking while it catches up)."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        view = memoryview(data).cast("B")
        self._pending += view
        self._written += len(view)
        while len(self._pending) >= _WRITE_PIECE:
            self._upload.send(bytes(self._pending[:_WRITE_PIECE]), self.path)
            del self._pending[:_WRITE_PIECE]
        return len(view)

    def close(self) -> None:
        """Finish the upload; the object exists (encrypted, verified) when this returns.

        Raises:
            SecureStoreError: the upload failed (and was aborted).
        """
        if self.closed:
            return
        try:
            if self._pending:
                self._upload.send(bytes(self._pending), self.path)
                self._pending.clear()
            self._upload.send(None, self.path)
            self._upload.finish()
        except BaseException:
            self.discard()
            raise
        finally:
            super().close()

    def discard(self) -> None:
        """Abort the upload: nothing is stored and the file is closed."""
        self._pending.clear()
        self._upload.abort()
        super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        # A file dropped without close() must not become an object.
        if not self.closed:
            self.discard()

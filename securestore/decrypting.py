"""Client-side reads: authenticate a message's header, then decrypt its frames.

:func:`open_client_side` unwraps the data key and authenticates the header
(and, for a signed message, the whole body) and returns a seekable plaintext
reader; :func:`decrypt_into` is the parallel download behind ``download_file``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping

from securestore.clientside import (
    CONTEXT_BUCKET,
    CONTEXT_KEY,
    ClientSide,
    check_location,
    expected_context,
    looks_like_message,
    read_header,
)
from securestore.clientside_reader import ClientSideReader
from securestore.diskwriter import DiskWriter
from securestore.errors import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    NoMatchingKeyError,
    SecureStoreError,
)
from securestore.localfile import pwrite_all
from securestore.message import Decryptor, Header, Layout
from securestore.message.frames import REGULAR_FRAME_OVERHEAD as _FRAME_OVERHEAD
from securestore.objects import ObjectInfo
from securestore.ranges import (
    STREAM_PIECE,
    FirstPart,
    ObjectRanges,
    run_spans,
    start_writeback,
)
from securestore.signed import FrameDigests, verify_signed
from securestore.transfer import ProgressCallback

__all__ = ["authenticate_header", "decrypt_into", "open_client_side"]


def authenticate_header(
    ranges: ObjectRanges, header: Header, mode: ClientSide, expected: Mapping[str, str]
) -> Decryptor:
    """Unwrap the data key (one keyring call) and authenticate the header.

    A header that authenticates but lacks the caller's expected context pairs
    is refused naming the keys that differ (never their values), so that a
    wrong ``context=`` is not reported as tampering.
    """
    try:
        return Decryptor(header, mode.keyring_for(), expected_context=expected, policy=mode.policy)
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
            bucket=ranges.access.bucket,
            key=ranges.key,
            hint="the message is not bound to this location; if it was copied or moved "
            "on purpose, read it with relocated=True (CLI: --relocated)"
            if located
            else "read it with the context it was written with (CLI: --context K=V)",
        ) from None


def open_client_side(
    ranges: ObjectRanges,
    info: ObjectInfo,
    mode: ClientSide,
    context: Mapping[str, str] | None,
    relocated: bool,
    first: bytes = b"",
) -> ClientSideReader:
    """Authenticate the message at ``ranges`` and return a reader of its plaintext.

    ``first`` is the object's first bytes if the caller has them (the probe's).
    """
    access, bucket, key = ranges.access, ranges.access.bucket, ranges.key
    expected = expected_context(
        bucket, key, mode.context if context is None else context, relocated=relocated
    )
    with access.boundary("read", key):
        try:
            header = read_header(ranges.fetch, info.size, mode.header_limits, first=first)
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
        check_location(header, expected, bucket, key)
        try:
            decryptor = authenticate_header(ranges, header, mode, expected)
        except NoMatchingKeyError as exc:
            exc.bucket, exc.key = bucket, key
            exc.hint = exc.hint or (
                "give a key that the object was encrypted for "
                "(CLI: --key-file, --rsa-private-key or --kms-key-id)"
            )
            raise

    layout: Layout | None = None
    digests: FrameDigests | None = None
    if header.suite.signed:
        # The signature covers the whole message: check it in one streaming pass
        # before any plaintext is handed out, recording each frame's digest so
        # that later fetches must return the very frames that were signed.
        with access.boundary("read", key), ranges.reader(info.size) as raw:
            raw.seek(header.length)
            layout, digests = verify_signed(decryptor, io.BufferedReader(raw, STREAM_PIECE))
    return ClientSideReader(
        decryptor,
        ciphertext=ranges.reader(info.size),
        fetch=ranges.fetch,
        ciphertext_size=info.size,
        layout=layout,
        digests=digests,
        location=(bucket, key),
    )


def decrypt_into(
    ranges: ObjectRanges,
    reader: ClientSideReader,
    fd: int,
    progress: ProgressCallback | None,
    *,
    first_part: FirstPart | None = None,
) -> None:
    """Fetch frame-aligned ranges in parallel; authenticate and write frames as they come.

    Each range (about one part) is one GET whose body is read in batches of
    whole frames (about :data:`~securestore.ranges.STREAM_PIECE` bytes) into one
    reused buffer per worker thread; a batch is authenticated and written in
    place before the next is read. Memory is therefore two batches per worker
    whatever the object's size, the connection never waits for a whole range to
    be decrypted and written, and nothing but authenticated plaintext reaches
    the (still partial) file. Fresh multi-MiB buffers per range would cost
    more (page faults) than the decryption. With several ranges, a batch is
    decrypted into a buffer of a :class:`~securestore.diskwriter.DiskWriter`,
    which writes one buffer at a time (workers do not queue on the file's lock)
    and starts the writeback as it goes, so that the fsync before the rename has
    little left to wait for; a single range is written by the calling thread.

    With ``first_part`` (the probe's open answer for the first part), the frames
    that lie whole inside it are read from it: an object that fits in one part
    costs one GET in all. The rest of its body (part of a frame) is dropped.
    """
    transfer = ranges.access.transfer
    layout = reader.layout
    frame_size = layout.frame_length + _FRAME_OVERHEAD
    per_range = max(1, transfer.part_size // frame_size)
    per_batch = max(1, STREAM_PIECE // frame_size)
    spans: list[tuple[int, int, FirstPart | None]] = []
    following = 1
    whole = _frames_within(layout, first_part) if first_part is not None else 0
    if whole:
        spans.append((1, whole, first_part))
        following = whole + 1
    spans += [
        (first, min(first + per_range - 1, layout.frame_count), None)
        for first in range(following, layout.frame_count + 1, per_range)
    ]
    buffers = threading.local()

    def buffer(name: str, size: int) -> memoryview:
        view: memoryview | None = getattr(buffers, name, None)
        if view is None or len(view) < size:
            view = memoryview(bytearray(size))
            setattr(buffers, name, view)
        return view

    def fetch(span: tuple[int, int, FirstPart | None]) -> None:
        batch = _Batch(layout, span[1], per_batch, span[0])

        def window(at: int, _: int) -> memoryview:
            cipher = buffer("cipher", batch.hi - batch.lo)
            return cipher[at - batch.lo : batch.hi - batch.lo]

        def commit(at: int, piece: memoryview) -> None:
            if at + len(piece) < batch.hi:
                return
            cipher = buffer("cipher", 0)[: batch.hi - batch.lo]
            reader.check_frames(batch.first, cipher)
            offset = (batch.first - 1) * layout.frame_length
            final = batch.last == layout.frame_count
            if writer is None:
                plain = buffer("plain", len(cipher))
                count = reader.decryptor.decrypt_frames_into(
                    batch.first, cipher, plain, includes_final=final
                )
                pwrite_all(fd, plain[:count], offset)
                if progress:
                    progress(count)
            else:
                plain = writer.buffer()
                try:
                    count = reader.decryptor.decrypt_frames_into(
                        batch.first, cipher, plain, includes_final=final
                    )
                except BaseException:
                    writer.release(plain)  # never written: not authenticated plaintext
                    raise
                writer.submit(plain, count, offset)
            batch.advance()

        lo, hi = layout.ciphertext_range(span[0], span[1])
        part = span[2]
        if part is None:
            ranges.stream(lo, hi, window, commit)
        else:
            ranges.stream(
                lo,
                hi,
                window,
                commit,
                body=part.take(),
                prefix=part.first[lo:],
                drain=part.end - hi,
            )
        # One span (writer None) gets no writeback hint: the fsync follows at once.

    writer: DiskWriter | None = None
    try:
        if len(spans) == 1:  # one range (every small object): written by the calling thread
            fetch(spans[0])
            return
        # The most ciphertext one batch can hold (the last also holds the final frame).
        largest = max(
            hi - lo
            for lo, hi in (
                layout.ciphertext_range(1, min(per_batch, layout.frame_count)),
                layout.ciphertext_range(
                    max(1, layout.frame_count - per_batch + 1), layout.frame_count
                ),
            )
        )
        with DiskWriter(
            fd,
            buffer_size=largest,
            buffers=transfer.concurrency + 2,
            writeback=start_writeback,
            progress=progress,
        ) as writer:
            run_spans(spans, fetch, concurrency=transfer.concurrency)
    finally:
        if first_part is not None:
            first_part.close()  # unused (no whole frame in it), or left by a failure


def _frames_within(layout: Layout, part: FirstPart) -> int:
    """How many frames from the first lie whole in ``part``, if its body can serve them.

    Its body is at ``len(part.first)``: the frames must start at or before that
    (the header was read from ``part.first``) and end at or after it.
    """
    low, high = 0, layout.frame_count
    while low < high:  # the most frames 1..k whose ciphertext ends within the part
        middle = (low + high + 1) // 2
        if layout.ciphertext_range(1, middle)[1] <= part.end:
            low = middle
        else:
            high = middle - 1
    if not low:
        return 0
    lo, hi = layout.ciphertext_range(1, low)
    return low if lo <= len(part.first) <= hi else 0


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

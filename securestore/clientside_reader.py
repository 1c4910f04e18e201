"""The seekable reader of a client-side object's authenticated plaintext.

:class:`ClientSideReader` fetches and authenticates only the frames a read needs
(docs/format.md, "Reads"); :mod:`securestore.decrypting` opens it, and
:mod:`securestore.clientside` holds the rest of the client-side mode.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from securestore.clientside import FetchRange
from securestore.errors import ConfigurationError, FormatError, SecureStoreError
from securestore.message import Decryptor, Layout
from securestore.message.sizes import frame_for_offset
from securestore.reader import SeekableReader, check_open, check_range
from securestore.signed import FrameDigests

__all__ = ["ClientSideReader"]


class ClientSideReader(SeekableReader):
    """A seekable reader of the authenticated plaintext of a client-side object.

    A read fetches only the frames that hold the requested bytes and
    authenticates each before returning any of it. The end of the object is
    reported only after the final frame has been authenticated.

    Signed messages (0x0578, from other ESDK writers) are verified whole when
    opened (the store does this, see :mod:`securestore.signed`), which gives
    their ``layout`` and ``digests``; every frame read afterwards must then be
    the very frame the signature covered. See docs/format.md, "Reads".
    """

    def __init__(
        self,
        decryptor: Decryptor,
        *,
        ciphertext: io.RawIOBase,
        fetch: FetchRange,
        ciphertext_size: int,
        layout: Layout | None = None,
        digests: FrameDigests | None = None,
        chunk_size: int = 1024 * 1024,
        location: tuple[str, str] | None = None,
    ) -> None:
        header = decryptor.header
        self._location = location
        if header.suite.signed and (layout is None or digests is None):
            raise ConfigurationError("a signed message needs a verified body to read")
        self._layout = layout or Layout.from_ciphertext_length(
            ciphertext_size, header.frame_length, header.length
        )
        self._digests = digests
        super().__init__(self._layout.plaintext_length, chunk_size)
        self.decryptor = decryptor
        self.header = header
        self._ciphertext = ciphertext
        self.fetch = fetch
        self._frame_seq = 0
        self._frame = b""
        self._final_checked = False

    @property
    def layout(self) -> Layout:
        """Where each frame lies."""
        return self._layout

    def check_frames(self, first_seq: int, data: bytes | bytearray | memoryview) -> None:
        """For a signed message, refuse frames that are not those the signature covered.

        Call it on fetched ciphertext before decrypting it (a no-op for unsigned
        messages, whose frames are each authenticated by their tag alone).

        Raises:
            AuthenticationError: a frame differs from the verified one.
        """
        if self._digests is not None:
            self._digests.check(first_seq, data, self._layout)

    def readinto(self, buffer: Any) -> int:
        check_open(self)
        with self._named():
            return self._readinto(buffer)

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        """Give errors the object's bucket and key (the authentication message stays fixed)."""
        try:
            yield
        except SecureStoreError as exc:
            if exc.bucket is None and self._location is not None:
                exc.bucket, exc.key = self._location
            raise

    def _readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        if self._pos >= self._size:
            self._check_final()
            return 0
        # Fill the whole buffer (across frames) unless the end comes first, so that
        # read(n) behaves like a buffered file rather than returning frame by frame.
        filled = 0
        while filled < len(view) and self._pos < self._size:
            data = self._read_at(self._pos, len(view) - filled)
            if not data:
                break
            view[filled : filled + len(data)] = data
            filled += len(data)
            self._pos += len(data)
        return filled

    def read_range(self, start: int, length: int) -> bytes:
        """Return plaintext ``[start, start + length)``, fetching exactly the frames it needs.

        Like ``os.pread``: the position that ``read`` and ``tell`` use does not move.
        """
        check_open(self)
        with self._named():
            return self._read_range(start, length)

    def _read_range(self, start: int, length: int) -> bytes:
        check_range(start, length)
        end = min(start + length, self._size)
        if start >= end:
            if start >= self._size:
                self._check_final()
            return b""
        first, last = self._layout.frames_for_range(start, end)
        if end == self._size:
            # Other writers may end a message with an empty final frame after the
            # last data: a read to the end must authenticate it too.
            last = self._layout.frame_count
        lo, hi = self._layout.ciphertext_range(first, last)
        final = last == self._layout.frame_count
        data = self.fetch(lo, hi)
        self.check_frames(first, data)
        plain = self.decryptor.decrypt_frames(first, data, includes_final=final)
        if final:
            self._final_checked = True
        offset = start - (first - 1) * self._layout.frame_length
        return bytes(plain[offset : offset + (end - start)])

    # -- internals ---------------------------------------------------------------------------

    def _read_at(self, pos: int, want: int) -> bytes:
        layout = self._layout
        seq = min(frame_for_offset(pos, layout.frame_length), layout.frame_count)
        if seq != self._frame_seq:
            start = layout.frame_start(seq)
            size = layout.frame_size(seq)
            self._ciphertext.seek(start)
            data = _read_exactly(self._ciphertext, size)
            self.check_frames(seq, data)
            final = seq == layout.frame_count
            self._frame = self.decryptor.decrypt_frame(seq, data, final=final)
            self._frame_seq = seq
            if final:
                self._final_checked = True
        offset = pos - (seq - 1) * layout.frame_length
        return self._frame[offset : offset + want]

    def _check_final(self) -> None:
        """Authenticate the final frame before reporting the end of the plaintext."""
        if self._final_checked:
            return
        seq = self._layout.frame_count
        lo, hi = self._layout.ciphertext_range(seq, seq)
        data = self.fetch(lo, hi)
        self.check_frames(seq, data)
        self.decryptor.decrypt_frames(seq, data, includes_final=True)
        self._final_checked = True

    def close(self) -> None:
        self._frame = b""
        self._ciphertext.close()
        super().close()


def _read_exactly(source: io.RawIOBase, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = source.read(size - len(out))
        if not piece:
            raise FormatError("object ends inside a frame")
        out += piece
    return bytes(out)

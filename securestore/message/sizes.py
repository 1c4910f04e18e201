"""Size arithmetic for framed messages (docs/format.md, "Sizes").

Plain functions relating plaintext length, ciphertext length and frame numbers,
used to plan ranged reads. Frames are numbered from 1, as on the wire. We write
``n // F + 1`` frames: the final one holds ``n % F`` bytes, so it is empty when
``n`` is a multiple of ``F`` (as the ESDK writes; ESDK 3.x readers refuse a
full-length final frame). Other writers may end with a full final frame
instead; the :class:`Layout` read back from a ciphertext length describes both.
"""

from __future__ import annotations

from dataclasses import dataclass

from securestore.errors import ConfigurationError, FormatError
from securestore.message.frames import FINAL_FRAME_OVERHEAD, REGULAR_FRAME_OVERHEAD

__all__ = [
    "Layout",
    "body_length",
    "ciphertext_length",
    "frame_count",
    "frame_for_offset",
    "plaintext_length",
]


def _check_frame_length(frame_length: int) -> None:
    if frame_length < 1:
        raise ConfigurationError("frame length must be positive")


def frame_count(plaintext_length: int, frame_length: int) -> int:
    """Number of frames we write for ``plaintext_length`` bytes (the final one is short)."""
    _check_frame_length(frame_length)
    if plaintext_length < 0:
        raise ConfigurationError("plaintext length must not be negative")
    return plaintext_length // frame_length + 1


def body_length(plaintext_length: int, frame_length: int) -> int:
    """Length of the framed body we write for ``plaintext_length`` bytes."""
    frames = frame_count(plaintext_length, frame_length)
    final = plaintext_length - (frames - 1) * frame_length
    return (frames - 1) * (frame_length + REGULAR_FRAME_OVERHEAD) + final + FINAL_FRAME_OVERHEAD


def ciphertext_length(
    plaintext_length: int, frame_length: int, header_length: int, footer_length: int = 0
) -> int:
    """Total message length: header, body and footer (0 for unsigned suites)."""
    return header_length + body_length(plaintext_length, frame_length) + footer_length


def frame_for_offset(offset: int, frame_length: int) -> int:
    """Sequence number of the frame holding plaintext byte ``offset``."""
    _check_frame_length(frame_length)
    if offset < 0:
        raise ConfigurationError("offset must not be negative")
    return offset // frame_length + 1


def plaintext_length(
    ciphertext_length: int, frame_length: int, header_length: int, footer_length: int = 0
) -> int:
    """Plaintext length of a framed message of ``ciphertext_length`` bytes.

    Raises :class:`FormatError` if no body of that length exists.
    """
    return Layout.from_ciphertext_length(
        ciphertext_length, frame_length, header_length, footer_length
    ).plaintext_length


@dataclass(frozen=True)
class Layout:
    """Where each frame of one message lies: ``regular_frames`` full frames then a final one."""

    frame_length: int
    header_length: int
    regular_frames: int
    final_length: int

    @classmethod
    def for_plaintext(cls, plaintext_length: int, frame_length: int, header_length: int) -> Layout:
        """The layout we write for ``plaintext_length`` bytes."""
        frames = frame_count(plaintext_length, frame_length)
        final = plaintext_length - (frames - 1) * frame_length
        return cls(frame_length, header_length, frames - 1, final)

    @classmethod
    def from_ciphertext_length(
        cls, ciphertext_length: int, frame_length: int, header_length: int, footer_length: int = 0
    ) -> Layout:
        """The layout of a stored message, whichever final-frame convention wrote it."""
        _check_frame_length(frame_length)
        rest = ciphertext_length - header_length - footer_length - FINAL_FRAME_OVERHEAD
        if rest < 0:
            raise FormatError("message too short to hold a final frame")
        regular, final = divmod(rest, frame_length + REGULAR_FRAME_OVERHEAD)
        if final > frame_length:
            raise FormatError("message length does not match any framed body")
        return cls(frame_length, header_length, regular, final)

    @property
    def frame_count(self) -> int:
        """Number of frames, the final one included."""
        return self.regular_frames + 1

    @property
    def plaintext_length(self) -> int:
        """Total plaintext length."""
        return self.regular_frames * self.frame_length + self.final_length

    @property
    def body_length(self) -> int:
        """Length of the body (all frames)."""
        return (
            self.regular_frames * (self.frame_length + REGULAR_FRAME_OVERHEAD)
            + self.final_length
            + FINAL_FRAME_OVERHEAD
        )

    def frame_start(self, seq: int) -> int:
        """Ciphertext offset of frame ``seq``."""
        self._check_seq(seq)
        return self.header_length + (seq - 1) * (self.frame_length + REGULAR_FRAME_OVERHEAD)

    def frame_size(self, seq: int) -> int:
        """Serialized size of frame ``seq``."""
        self._check_seq(seq)
        if seq == self.frame_count:
            return self.final_length + FINAL_FRAME_OVERHEAD
        return self.frame_length + REGULAR_FRAME_OVERHEAD

    def frame_plaintext_range(self, seq: int) -> tuple[int, int]:
        """Plaintext ``[start, end)`` held by frame ``seq``."""
        self._check_seq(seq)
        start = (seq - 1) * self.frame_length
        length = self.final_length if seq == self.frame_count else self.frame_length
        return start, start + length

    def frames_for_range(self, start: int, end: int) -> tuple[int, int]:
        """First and last frame holding plaintext ``[start, end)`` (clamped to the message).

        An empty range maps to the single frame that holds ``start`` (or the final frame).
        """
        if start < 0 or end < start:
            raise ConfigurationError("invalid plaintext range")
        end = min(end, self.plaintext_length)
        start = min(start, end)
        first = min(frame_for_offset(start, self.frame_length), self.frame_count)
        last = (
            first
            if end == start
            else min(frame_for_offset(end - 1, self.frame_length), self.frame_count)
        )
        return first, last

    def ciphertext_range(self, first: int, last: int) -> tuple[int, int]:
        """Ciphertext ``[start, end)`` covering frames ``first`` to ``last`` inclusive."""
        if last < first:
            raise ConfigurationError("last frame before first frame")
        return self.frame_start(first), self.frame_start(last) + self.frame_size(last)

    def _check_seq(self, seq: int) -> None:
        if not 1 <= seq <= self.frame_count:
            raise ConfigurationError(f"frame {seq} is outside 1..{self.frame_count}")

"""Decryption: :class:`DecryptingReader`, :func:`decrypt` and helpers (and :class:`Decryptor`).

No plaintext of a frame is ever released before that frame's tag verified. For
signing suites the final frame's plaintext is also held back until the footer
signature verified, so reaching the end of a stream means the whole message
checked out; :func:`decrypt_stream` returns only then, and the caller should
treat its sink as untrusted until it does (write to a temporary file, rename
after success). Random-access frame decryption authenticates each frame but
not the signature; :func:`verify_signature` checks that in a separate pass.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import IO, Protocol

from securestore.errors import AuthenticationError, FormatError
from securestore.message.decryptor import Decryptor
from securestore.message.frames import (
    FINAL_FRAME_OVERHEAD,
    MAX_SEQUENCE_NUMBER,
    REGULAR_FRAME_OVERHEAD,
    SEQUENCE_NUMBER_END,
)
from securestore.message.header import Header, HeaderLimits, parse, parse_from
from securestore.message.materials import Keyring
from securestore.message.suites import DecryptPolicy

__all__ = [
    "DecryptingReader",
    "Decryptor",
    "decrypt",
    "decrypt_stream",
    "verify_signature",
]

Buffer = bytes | bytearray | memoryview


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


class _Source:
    """Exact reads from a stream, with push-back of over-read bytes."""

    def __init__(self, stream: IO[bytes], pending: bytes = b"") -> None:
        self._stream = stream
        self._pending = pending

    def read_upto(self, n: int) -> bytes:
        parts = []
        have = 0
        if self._pending:
            take = self._pending[:n]
            self._pending = self._pending[n:]
            parts.append(take)
            have = len(take)
        while have < n:
            chunk = self._stream.read(n - have)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_exact(self, n: int, what: str) -> bytes:
        data = self.read_upto(n)
        if len(data) != n:
            raise FormatError(f"message truncated in {what}")
        return data

    def push_back(self, data: bytes) -> None:
        self._pending = data + self._pending


class _BodyWalker:
    """Splits a body into frames in order, hashing for the signature, then checks the end."""

    def __init__(self, decryptor: Decryptor, source: _Source) -> None:
        self._source = source
        self._frame_length = decryptor.frame_length
        self._verifier = decryptor.new_verifier()
        self._seq = 0
        self.done = False

    def next_frame(self) -> tuple[int, bool, bytes]:
        """Return (sequence number, final, frame bytes) of the next frame."""
        self._seq += 1
        seq = self._seq
        if seq > MAX_SEQUENCE_NUMBER:
            raise FormatError("too many frames")
        regular = self._frame_length + REGULAR_FRAME_OVERHEAD
        chunk = self._source.read_upto(regular)
        if len(chunk) >= 4 and chunk[:4] == SEQUENCE_NUMBER_END:
            if len(chunk) < 24:
                raise FormatError(f"message truncated in final frame {seq}")
            length = int.from_bytes(chunk[20:24], "big")
            if length > self._frame_length:
                raise FormatError(f"final frame length {length} exceeds the frame length")
            total = length + FINAL_FRAME_OVERHEAD
            if len(chunk) > total:
                self._source.push_back(chunk[total:])
                chunk = chunk[:total]
            elif len(chunk) < total:
                chunk += self._source.read_exact(total - len(chunk), f"final frame {seq}")
            final = True
        else:
            if len(chunk) == 0:
                raise FormatError(f"message truncated: frame {seq} and the final frame are missing")
            if len(chunk) != regular:
                raise FormatError(f"message truncated in frame {seq}")
            final = False
        if self._verifier is not None:
            self._verifier.update(chunk)
        return seq, final, chunk

    def finish(self) -> None:
        """After the final frame: check the footer signature (if any) and that nothing follows."""
        if self._verifier is not None:
            (length,) = struct.unpack(">H", self._source.read_exact(2, "the footer"))
            signature = self._source.read_exact(length, "the footer")
            self._verifier.verify(signature)
        if self._source.read_upto(1):
            raise FormatError("unexpected bytes after the end of the message")
        self.done = True


class DecryptingReader:
    """A readable of the plaintext of a message read from ``source``.

    The header is read and authenticated on construction. ``read`` returns only
    authenticated plaintext; iteration yields it frame by frame. Errors surface as
    :class:`FormatError` or :class:`AuthenticationError` from ``read``.
    """

    def __init__(
        self,
        source: IO[bytes],
        keyring: Keyring,
        *,
        expected_context: Mapping[str, str] | None = None,
        policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
        limits: HeaderLimits | None = None,
    ) -> None:
        header, rest = parse_from(source, limits=limits)
        self.decryptor = Decryptor(
            header, keyring, expected_context=expected_context, policy=policy
        )
        self.header = header
        self._walker = _BodyWalker(self.decryptor, _Source(source, rest))
        self._buffer = b""
        self._offset = 0
        self._failed = False

    def _next_plaintext(self) -> bytes | None:
        if self._walker.done:
            return None
        if self._failed:
            raise AuthenticationError()
        try:
            seq, final, frame = self._walker.next_frame()
            plaintext = self.decryptor.decrypt_frame(seq, frame, final=final)
            if final:
                self._walker.finish()
        except BaseException:
            self._failed = True
            raise
        return plaintext

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` plaintext bytes (all if ``n`` < 0); ``b""`` at the end."""
        if n is None or n < 0:
            parts = [self._buffer[self._offset :]]
            self._buffer, self._offset = b"", 0
            while (plain := self._next_plaintext()) is not None:
                parts.append(plain)
            return b"".join(parts)
        while self._offset >= len(self._buffer):
            plain = self._next_plaintext()
            if plain is None:
                return b""
            self._buffer, self._offset = plain, 0
        start = self._offset
        self._offset = min(start + n, len(self._buffer))
        if start == 0 and self._offset == len(self._buffer):
            return self._buffer
        return self._buffer[start : self._offset]

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read into ``buffer``; return the number of bytes written (0 at the end)."""
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        """Yield the remaining plaintext, one frame at a time (empty frames skipped)."""
        if self._offset < len(self._buffer):
            yield self._buffer[self._offset :]
        self._buffer, self._offset = b"", 0
        while (plain := self._next_plaintext()) is not None:
            if plain:
                yield plain

    def readable(self) -> bool:
        """Always true."""
        return True

    def close(self) -> None:
        """Drop buffered plaintext. The source is not closed."""
        self._buffer, self._offset = b"", 0

    def __enter__(self) -> DecryptingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decrypt_stream(
    source: IO[bytes],
    sink: _Writable,
    keyring: Keyring,
    *,
    expected_context: Mapping[str, str] | None = None,
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    limits: HeaderLimits | None = None,
) -> Header:
    """Decrypt ``source`` into ``sink``; return the header once everything verified.

    Each frame reaches ``sink`` only after its tag verified, and the final frame only
    after the signature (signing suites) and the end of the message checked out. If
    this raises, discard what ``sink`` received.
    """
    reader = DecryptingReader(
        source, keyring, expected_context=expected_context, policy=policy, limits=limits
    )
    for plain in reader:
        sink.write(plain)
    return reader.header


def verify_signature(
    source: IO[bytes],
    keyring: Keyring,
    *,
    expected_context: Mapping[str, str] | None = None,
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    limits: HeaderLimits | None = None,
) -> Header:
    """Authenticate the header, then check the frame structure and footer signature.

    The frames are hashed, not decrypted. Raises :class:`FormatError` for unsigned
    suites (there is nothing to verify) and :class:`AuthenticationError` on a bad
    signature.
    """
    header, rest = parse_from(source, limits=limits)
    if not header.suite.signed:
        raise FormatError("the message is not signed")
    decryptor = Decryptor(header, keyring, expected_context=expected_context, policy=policy)
    walker = _BodyWalker(decryptor, _Source(source, rest))
    while True:
        _, final, _ = walker.next_frame()
        if final:
            walker.finish()
            return header


def decrypt(
    ciphertext: Buffer,
    keyring: Keyring,
    *,
    expected_context: Mapping[str, str] | None = None,
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    limits: HeaderLimits | None = None,
) -> bytearray:
    """Decrypt a whole message held in memory; return the plaintext (a ``bytearray``)."""
    view = memoryview(ciphertext).cast("B")
    header = parse(view, limits=limits)
    decryptor = Decryptor(header, keyring, expected_context=expected_context, policy=policy)
    verifier = decryptor.new_verifier()
    size = header.frame_length + REGULAR_FRAME_OVERHEAD
    out = bytearray(max(0, len(view) - header.length))
    out_view = memoryview(out)
    pos, written, seq = header.length, 0, 1
    while True:
        if seq > MAX_SEQUENCE_NUMBER:
            raise FormatError("too many frames")
        is_final = bytes(view[pos : pos + 4]) == SEQUENCE_NUMBER_END
        if is_final:
            if pos + 24 > len(view):
                raise FormatError(f"message truncated in final frame {seq}")
            end = pos + int.from_bytes(view[pos + 20 : pos + 24], "big") + FINAL_FRAME_OVERHEAD
        else:
            end = pos + size
        if end > len(view):
            if pos == len(view):
                raise FormatError(f"message truncated: frame {seq} and the final frame are missing")
            raise FormatError(f"message truncated in frame {seq}")
        written += decryptor.decrypt_frame_into(
            seq, view[pos:end], out_view[written:], final=is_final
        )
        pos = end
        seq += 1
        if is_final:
            break
    if verifier is not None:
        verifier.update(view[header.length : pos])
        if pos + 2 > len(view):
            raise FormatError("message truncated in the footer")
        (length,) = struct.unpack_from(">H", view, pos)
        if pos + 2 + length > len(view):
            raise FormatError("message truncated in the footer")
        verifier.verify(bytes(view[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    if pos != len(view):
        out_view[:written] = bytes(written)
        raise FormatError("unexpected bytes after the end of the message")
    out_view.release()
    del out[written:]
    return out

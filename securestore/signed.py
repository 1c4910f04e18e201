"""Reading signed messages (suite 0x0578) in two passes that are bound together.

The footer signature covers the whole message, so the store checks it in one
streaming pass before it releases any plaintext (docs/format.md, "Reads").
Plaintext then comes from later ranged GETs, which an endpoint could answer
with other bytes under the same ETag. So the verifying pass records a digest of
every frame it hashed, and a frame fetched later is decrypted only if its bytes
have the recorded digest: what is released is exactly what was signed.

Why a digest and not the frame's GCM tag: anyone who can unwrap the data key
(any recipient of the message, whom the signature exists to guard against) can
compute GHASH and build another ciphertext with the same tag. A 128-bit
BLAKE2b digest needs a second preimage instead. Memory: 16 bytes per frame.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import IO

from securestore.errors import AuthenticationError, ConfigurationError, FormatError
from securestore.message import Decryptor, Layout
from securestore.message.frames import (
    FINAL_FRAME_OVERHEAD,
    MAX_SEQUENCE_NUMBER,
    REGULAR_FRAME_OVERHEAD,
    SEQUENCE_NUMBER_END,
)
from securestore.message.suites import TAG_LENGTH

__all__ = ["DIGEST_SIZE", "FrameDigests", "verify_signed"]

#: Bytes of the digest kept per frame.
DIGEST_SIZE = 16

Buffer = bytes | bytearray | memoryview


def _digest(frame: Buffer) -> bytes:
    return hashlib.blake2b(frame, digest_size=DIGEST_SIZE).digest()


class FrameDigests:
    """The digest of every serialized frame of one signed message, in sequence order."""

    def __init__(self) -> None:
        self._digests = bytearray()

    def __len__(self) -> int:
        return len(self._digests) // DIGEST_SIZE

    def record(self, frame: Buffer) -> None:
        """Append the digest of the next frame."""
        self._digests += _digest(frame)

    def check(self, first_seq: int, data: Buffer, layout: Layout) -> None:
        """Refuse ``data`` unless it is frames ``first_seq``... exactly as recorded.

        Raises:
            AuthenticationError: a frame differs from the one the signature covered.
        """
        view = memoryview(data).cast("B")
        pos, seq = 0, first_seq
        while pos < len(view):
            if not 1 <= seq <= min(layout.frame_count, len(self)):
                raise AuthenticationError()
            size = layout.frame_size(seq)
            recorded = self._digests[(seq - 1) * DIGEST_SIZE : seq * DIGEST_SIZE]
            if not hmac.compare_digest(_digest(view[pos : pos + size]), recorded):
                raise AuthenticationError()
            pos += size
            seq += 1


def _read_exact(source: IO[bytes], size: int, what: str) -> bytes:
    data = source.read(size)
    if data is None or len(data) != size:
        raise FormatError(f"message truncated in {what}")
    return data


def verify_signed(decryptor: Decryptor, source: IO[bytes]) -> tuple[Layout, FrameDigests]:
    """Check a signed message's body and footer; return its layout and frame digests.

    ``source`` yields the bytes after the header (a buffered reader: reads return
    all that was asked for unless the object ends). Frames are hashed for the
    signature and their digests recorded, not decrypted: each frame is
    authenticated when it is read. The decryptor's data key is reused, so no
    keyring is asked again.

    Raises:
        FormatError: the body is malformed or truncated.
        AuthenticationError: the signature does not verify.
    """
    header = decryptor.header
    verifier = decryptor.new_verifier()
    if verifier is None:
        raise ConfigurationError("the message is not signed")
    digests = FrameDigests()
    regular = header.frame_length + REGULAR_FRAME_OVERHEAD
    seq = 0
    while True:
        seq += 1
        if seq > MAX_SEQUENCE_NUMBER:
            raise FormatError("too many frames")
        start = _read_exact(source, 4, f"frame {seq}")
        if start == SEQUENCE_NUMBER_END:
            fixed = start + _read_exact(
                source, FINAL_FRAME_OVERHEAD - TAG_LENGTH - 4, "the final frame"
            )
            final_length = int.from_bytes(fixed[-4:], "big")
            if final_length > header.frame_length:
                raise FormatError(f"final frame length {final_length} exceeds the frame length")
            frame = fixed + _read_exact(source, final_length + TAG_LENGTH, "the final frame")
        else:
            if int.from_bytes(start, "big") != seq:
                raise FormatError(f"frame {seq} carries another sequence number")
            frame = start + _read_exact(source, regular - 4, f"frame {seq}")
        verifier.update(frame)
        digests.record(frame)
        if start == SEQUENCE_NUMBER_END:
            break
    (length,) = struct.unpack(">H", _read_exact(source, 2, "the footer"))
    verifier.verify(_read_exact(source, length, "the footer"))
    if source.read(1):
        raise FormatError("unexpected bytes after the end of the message")
    return Layout(header.frame_length, header.length, seq - 1, final_length), digests

"""Client-side envelope encryption as a store mode (docs/format.md).

Objects are AWS Encryption SDK messages (format version 2, suite 0x0478,
framed). This module joins the pure message engine (:mod:`securestore.message`)
to the store: which context an object is bound to, how multipart parts are
made of whole frames, and how a message header is read. The seekable reader
that fetches and authenticates only the frames a read needs is
:class:`~securestore.clientside_reader.ClientSideReader`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import securestore.arguments as args
from securestore.errors import ConfigurationError, FormatError, IntegrityError
from securestore.keyrings.caching import CachingKeyring, DataKeyCache
from securestore.message import (
    DEFAULT_FRAME_LENGTH,
    DecryptPolicy,
    Encryptor,
    Header,
    HeaderLimits,
    HeaderParser,
    Keyring,
    validate_user_context,
)
from securestore.message.header import ESDK_MAX_FRAME_LENGTH
from securestore.message.materials import check_keyring
from securestore.modes import EncryptionMode, StoredEncryption
from securestore.parts import PartSchedule
from securestore.transfer import Part

__all__ = [
    "CONTEXT_BUCKET",
    "CONTEXT_KEY",
    "FORMAT_METADATA",
    "FORMAT_VALUE",
    "LENGTH_METADATA",
    "ClientSide",
    "HEADER_PROBE",
    "FramedParts",
    "check_location",
    "expected_context",
    "looks_like_message",
    "message_context",
    "read_header",
]

#: User-metadata entries that mark a client-side object (informational only: never
#: trusted for security decisions; the message itself is authenticated).
FORMAT_METADATA = "securestore-format"
FORMAT_VALUE = "aws-esdk-v2"
LENGTH_METADATA = "securestore-plaintext-length"

#: Encryption-context keys that bind a message to its location (docs/format.md).
CONTEXT_BUCKET = "securestore:bucket"
CONTEXT_KEY = "securestore:key"
_RESERVED_PREFIX = "securestore:"

#: Bytes read from the start of an object when it is opened: enough for the header
#: of a message with several wrapped data keys.
HEADER_PROBE = 4096


@dataclass(frozen=True, eq=False)
class ClientSide(EncryptionMode):
    """Client-side envelope encryption with a keyring, optionally on top of SSE.

    Args:
        keyring: wraps a fresh data key per object on writes, unwraps it on reads.
        sse: a server-side mode to apply as well (defence in depth); ``None``
            leaves server-side encryption to the bucket's default.
        context: additional encryption-context pairs; a read must present the
            same pairs. Keys may not start with ``aws-crypto-`` or ``securestore:``.
        frame_length: plaintext bytes per frame (the granularity of ranged reads).
        policy: which algorithm suites reads accept (committing only, by default).
        limits: bounds a hostile header cannot exceed (data keys, frame length).
        max_data_keys: the most encrypted data keys a message may carry (default 10),
            on writes (a put with more keys is refused before anything is sent) and on
            reads; overrides ``limits.max_encrypted_data_keys``.
        cache: an opt-in :class:`~securestore.keyrings.caching.DataKeyCache`, so that
            messages of the same context (and rereads of the same object) share
            data keys and keyring (KMS) calls; see docs/format.md, "Data key caching".
    """

    keyring: Keyring
    sse: EncryptionMode | None = None
    context: Mapping[str, str] | None = field(default=None)
    frame_length: int = DEFAULT_FRAME_LENGTH
    policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING
    limits: HeaderLimits | None = None
    max_data_keys: int | None = None
    cache: DataKeyCache | None = None
    name = "client-side"

    def __post_init__(self) -> None:
        check_keyring(self.keyring)
        if isinstance(self.sse, ClientSide) or not isinstance(
            self.sse, EncryptionMode | type(None)
        ):
            raise ConfigurationError("sse= must be a server-side mode")
        args.optional(args.mapping)("context", self.context)
        args.count("frame_length", self.frame_length)
        args.optional(args.count)("max_data_keys", self.max_data_keys)
        args.instance_of(DecryptPolicy, "a DecryptPolicy")("policy", self.policy)
        args.optional(args.instance_of(HeaderLimits, "a HeaderLimits"))("limits", self.limits)
        args.optional(args.instance_of(DataKeyCache, "a DataKeyCache"))("cache", self.cache)
        object.__setattr__(self, "context", _check_user_context(self.context or {}))
        if not 1 <= self.frame_length <= self.header_limits.max_frame_length:
            raise ConfigurationError(
                f"frame_length must be between 1 and {self.header_limits.max_frame_length}"
            )

    @property
    def header_limits(self) -> HeaderLimits:
        """The limits applied when parsing headers (and the data-key cap on writes)."""
        limits = self.limits or HeaderLimits()
        if self.max_data_keys is None:
            return limits
        return dataclasses.replace(limits, max_encrypted_data_keys=self.max_data_keys)

    def keyring_for(self, plaintext_length: int | None = None) -> Keyring:
        """The keyring for one message: through :attr:`cache` when there is one."""
        if self.cache is None:
            return self.keyring
        return CachingKeyring(self.keyring, self.cache, plaintext_length=plaintext_length)

    @property
    def kms_key_id(self) -> str | None:
        return self.sse.kms_key_id if self.sse is not None else None

    def request_params(self) -> dict[str, Any]:
        return self.sse.request_params() if self.sse is not None else {}

    def check(self, stored: StoredEncryption, *, resolved_key_arn: str | None = None) -> str | None:
        # The client-side layer is proven by decrypting, not by metadata.
        if self.sse is None:
            return None
        return self.sse.check(stored, resolved_key_arn=resolved_key_arn)

    def check_write(
        self, stored: StoredEncryption, *, resolved_key_arn: str | None = None
    ) -> str | None:
        """The server-side layer's write check."""
        if self.sse is None:
            return None
        return self.sse.check_write(stored, resolved_key_arn=resolved_key_arn)

    def __str__(self) -> str:
        return f"client-side + {self.sse.name}" if self.sse is not None else "client-side"


def _check_user_context(context: Mapping[str, str]) -> dict[str, str]:
    checked = validate_user_context(context)
    for name in checked:
        if name.startswith(_RESERVED_PREFIX):
            raise ConfigurationError(
                f"encryption context key {name!r} uses the reserved prefix {_RESERVED_PREFIX!r}"
            )
    return checked


def message_context(bucket: str, key: str, user: Mapping[str, str] | None) -> dict[str, str]:
    """The encryption context written into a message stored at ``bucket``/``key``."""
    context = _check_user_context(user or {})
    context[CONTEXT_BUCKET] = bucket
    context[CONTEXT_KEY] = key
    return context


def expected_context(
    bucket: str, key: str, user: Mapping[str, str] | None, *, relocated: bool = False
) -> dict[str, str]:
    """The pairs a message read from ``bucket``/``key`` must carry.

    ``relocated`` drops the location binding, for reading an object that was
    knowingly copied or moved.
    """
    context = _check_user_context(user or {})
    if not relocated:
        context[CONTEXT_BUCKET] = bucket
        context[CONTEXT_KEY] = key
    return context


class FramedParts:
    """Turns plaintext parts into message parts made of whole frames.

    Part 1 starts with the header; the final frame closes the last part. Each
    part is encrypted by whichever worker thread uploads it, so frames are
    encrypted in parallel. Parts may differ in size (a stream's parts grow):
    ``schedule`` gives each part's plaintext size, a multiple of the frame
    length, and so the sequence number of its first frame.
    """

    def __init__(
        self, encryptor: Encryptor, frames_per_part: int, schedule: PartSchedule | None = None
    ) -> None:
        self.encryptor = encryptor
        self.frames_per_part = frames_per_part
        self.plaintext_part_size = frames_per_part * encryptor.frame_length
        self.schedule = schedule or PartSchedule.fixed(self.plaintext_part_size)
        frame_length = encryptor.frame_length
        if self.schedule.base % frame_length or self.schedule.ceiling % frame_length:
            raise ConfigurationError("part sizes must be whole frames")

    def __call__(self, part: Part, out: bytearray | None = None) -> bytearray:
        """The message bytes of ``part``, written into ``out`` when given.

        ``out`` must hold exactly :meth:`encrypted_size` bytes (a reused buffer).
        """
        frame_length = self.encryptor.frame_length
        data = memoryview(part.data).cast("B")
        first_seq = self.schedule.offset(part.number) // frame_length + 1
        if not part.last and len(data) != self.schedule.size(part.number):
            raise ConfigurationError("a part that is not the last must hold whole frames")
        sizes = self._frame_sizes(len(data), part.last)
        header = self.encryptor.header_bytes if part.number == 1 else b""
        total = len(header) + sum(sizes)
        if out is None:
            out = bytearray(total)
        elif len(out) != total:
            raise ValueError("the output buffer must hold exactly the part's ciphertext")
        out[: len(header)] = header
        view = memoryview(out)
        pos = len(header)
        for i in range(len(sizes)):
            chunk = data[i * frame_length : (i + 1) * frame_length]
            pos += self.encryptor.encrypt_frame_into(
                first_seq + i, chunk, view[pos:], final=part.last and i == len(sizes) - 1
            )
        return out

    def encrypted_size(self, part: Part) -> int:
        """Bytes of the message that ``part`` becomes (with the header for part 1)."""
        header = len(self.encryptor.header_bytes) if part.number == 1 else 0
        return header + sum(self._frame_sizes(len(part.data), part.last))

    def _frame_sizes(self, length: int, last: bool) -> list[int]:
        frame_length = self.encryptor.frame_length
        # The last part ends with a short (possibly empty) final frame: sizes.frame_count.
        count = length // frame_length + (1 if last else 0)
        return [
            self.encryptor.frame_size(
                min(frame_length, length - i * frame_length), final=last and i == count - 1
            )
            for i in range(count)
        ]

    @staticmethod
    def frames_per_part_for(part_size: int, frame_length: int) -> int:
        """Whole frames per part, rounded up so every part but the last holds at least
        ``part_size`` bytes (S3's 5 MiB minimum, and the 10,000-part plan, both hold)."""
        return max(1, -(-part_size // frame_length))


#: Returns ciphertext bytes ``[start, end)`` of the stored object version.
FetchRange = Callable[[int, int], bytes | bytearray]


def read_header(
    fetch: FetchRange, size: int, limits: HeaderLimits, *, first: bytes = b""
) -> Header:
    """Parse the message header from ``first`` (the object's first bytes, when the
    caller has them already) and as few further small ranged GETs as it takes."""
    parser = HeaderParser(limits=limits)
    if first:
        header = parser.feed(first)
        if header is not None:
            return header
    offset = len(first)
    want = HEADER_PROBE
    while True:
        if offset >= size:
            raise FormatError("object ends inside the message header")
        end = min(size, offset + max(want, parser.needed))
        header = parser.feed(fetch(offset, end))
        offset = end
        if header is not None:
            return header
        want *= 4


#: Limits for telling whether bytes begin like a message at all (not for reading one).
_ANY_HEADER = HeaderLimits(max_encrypted_data_keys=0xFFFF, max_frame_length=ESDK_MAX_FRAME_LENGTH)


def looks_like_message(first: bytes | bytearray, size: int) -> bool:
    """Whether an object of ``size`` bytes that begins with ``first`` begins like a message.

    True when ``first`` holds a well-formed header (of any size within the format's
    own bounds), or is a well-formed start of one and the object goes on. Used to
    tell a client-side object from a plain one without trusting its metadata; it
    proves nothing about authenticity.
    """
    parser = HeaderParser(limits=_ANY_HEADER)
    try:
        header = parser.feed(first)
    except FormatError:
        return False
    return header is not None or (bool(first) and len(first) < size)


def starts_like_message(first: bytes | bytearray) -> bool:
    """Whether ``first`` is a header or the well-formed beginning of one, truncated or not.

    Plain and SSE objects fail at the version byte or soon after; a damaged message
    does not. Proves nothing about authenticity (see :func:`looks_like_message`).
    """
    try:
        HeaderParser(limits=_ANY_HEADER).feed(first)
    except FormatError:
        return False
    return bool(first)


def check_location(header: Header, expected: Mapping[str, str], bucket: str, key: str) -> None:
    """Say plainly when a message is bound to another location (copied or moved).

    The header is not authenticated yet, so this only words the error better; the
    decryptor's authenticated context check is what enforces the binding.
    """
    stored = header.encryption_context
    location = (CONTEXT_BUCKET, CONTEXT_KEY)
    if all(name in expected and name not in stored for name in location):
        # Written by another tool: a reader may authenticate pairs that a message does
        # not store (docs/format.md), but securestore's location pairs are always stored.
        raise IntegrityError(
            "the message carries no securestore location (securestore:bucket, "
            "securestore:key): it was not written by securestore for this location",
            bucket=bucket,
            key=key,
            hint="if you trust where it came from, read it with relocated=True (CLI: --relocated)",
        )
    for name in location:
        if name in expected and name in stored and stored[name] != expected[name]:
            raise IntegrityError(
                f"the object was encrypted for s3://{stored.get(CONTEXT_BUCKET, '?')}/"
                f"{stored.get(CONTEXT_KEY, '?')}, not this location",
                bucket=bucket,
                key=key,
                hint="if it was copied or moved on purpose, read it with relocated=True "
                "(CLI: --relocated)",
            )

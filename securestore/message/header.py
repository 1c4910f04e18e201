"""The message header: :class:`Header`, :func:`parse`, :func:`serialize` (docs/format.md, "Header").

Parsing is bounded: every untrusted length is a 16-bit field except the frame
length, which :class:`HeaderLimits` caps, and the number of encrypted data keys,
which it caps too. :class:`HeaderParser` accepts the bytes in pieces, so a
caller can feed it from a socket or ranged reads without knowing the length.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Final

from securestore.errors import ConfigurationError, FormatError
from securestore.message.context import parse_context, serialize_context
from securestore.message.materials import EncryptedDataKey
from securestore.message.suites import IV_LENGTH, TAG_LENGTH, AlgorithmSuite

__all__ = [
    "CONTENT_TYPE_FRAMED",
    "DEFAULT_MAX_ENCRYPTED_DATA_KEYS",
    "DEFAULT_MAX_FRAME_LENGTH",
    "ESDK_MAX_FRAME_LENGTH",
    "Header",
    "HeaderLimits",
    "HeaderParser",
    "parse",
    "parse_from",
    "serialize",
    "serialize_body",
]

CONTENT_TYPE_NON_FRAMED: Final = 0x01
CONTENT_TYPE_FRAMED: Final = 0x02
_V1_TYPE: Final = 0x80
DEFAULT_MAX_ENCRYPTED_DATA_KEYS: Final = 10
DEFAULT_MAX_FRAME_LENGTH: Final = 16 * 1024 * 1024
ESDK_MAX_FRAME_LENGTH: Final = 2**31 - 1


@dataclass(frozen=True)
class HeaderLimits:
    """Bounds a hostile header cannot exceed.

    ``max_encrypted_data_keys`` caps the data keys a reader will look at (each may
    cost a key-service call); writers enforce the same cap, so that what they write
    stays readable. ``max_frame_length`` is what a reader is willing to buffer for
    one frame.
    """

    max_encrypted_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS
    max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH

    def __post_init__(self) -> None:
        if not 1 <= self.max_encrypted_data_keys <= 0xFFFF:
            raise ConfigurationError(
                "max_encrypted_data_keys (max_data_keys) must be between 1 and 65535"
            )
        if not 1 <= self.max_frame_length <= ESDK_MAX_FRAME_LENGTH:
            raise ConfigurationError("max_frame_length must be between 1 and 2**31 - 1")


@dataclass(frozen=True)
class Header:
    """A parsed or built message header.

    ``body`` holds the exact header-body bytes that the authentication tag covers;
    ``iv`` is the header-authentication IV (format version 1 only, else empty);
    ``suite_data`` is the commitment key for committing suites, else empty.
    """

    version: int
    suite: AlgorithmSuite
    message_id: bytes
    encryption_context: Mapping[str, str]
    encrypted_data_keys: tuple[EncryptedDataKey, ...]
    content_type: int
    frame_length: int
    suite_data: bytes
    iv: bytes
    auth_tag: bytes
    body: bytes = field(repr=False)

    def __post_init__(self) -> None:
        ctx = MappingProxyType(dict(self.encryption_context))
        object.__setattr__(self, "encryption_context", ctx)

    @property
    def length(self) -> int:
        """Total serialized length: body plus header authentication."""
        return len(self.body) + len(self.iv) + len(self.auth_tag)


def serialize_body(
    suite: AlgorithmSuite,
    message_id: bytes,
    encryption_context: Mapping[str, str],
    encrypted_data_keys: Sequence[EncryptedDataKey],
    frame_length: int,
    suite_data: bytes = b"",
) -> bytes:
    """Serialize a framed header body for ``suite`` (version 1 or 2 as the suite demands)."""
    info = suite.info
    if len(message_id) != info.message_id_length:
        raise ConfigurationError("message id has the wrong length for the suite")
    if len(suite_data) != info.suite_data_length:
        raise ConfigurationError("suite data has the wrong length for the suite")
    if not encrypted_data_keys or len(encrypted_data_keys) > 0xFFFF:
        raise ConfigurationError("a message needs between 1 and 65535 encrypted data keys")
    if not 1 <= frame_length <= ESDK_MAX_FRAME_LENGTH:
        raise ConfigurationError("frame length must be between 1 and 2**31 - 1")
    aad = serialize_context(encryption_context)
    parts: list[bytes] = []
    if info.message_version == 2:
        parts.append(b"\x02" + suite.id_bytes + message_id)
    else:
        parts.append(bytes((1, _V1_TYPE)) + suite.id_bytes + message_id)
    parts += [struct.pack(">H", len(aad)), aad, struct.pack(">H", len(encrypted_data_keys))]
    for edk in encrypted_data_keys:
        for item in (edk.provider_id.encode("utf-8"), edk.provider_info, edk.ciphertext):
            if len(item) > 0xFFFF:
                raise ConfigurationError("an encrypted data key field exceeds 65535 bytes")
            parts += [struct.pack(">H", len(item)), item]
    if info.message_version == 2:
        parts += [struct.pack(">BI", CONTENT_TYPE_FRAMED, frame_length), suite_data]
    else:
        parts.append(struct.pack(">BIBI", CONTENT_TYPE_FRAMED, 0, IV_LENGTH, frame_length))
    return b"".join(parts)


def serialize(header: Header) -> bytes:
    """The header's wire bytes: body, then header authentication (IV in version 1, tag)."""
    return header.body + header.iv + header.auth_tag


class _NeedMoreError(Exception):
    """Internal: the buffer ends before position ``total``."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.total = total


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise _NeedMoreError(end)
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")


def _parse(data: memoryview, limits: HeaderLimits) -> Header:
    cur = _Cursor(data)
    version = cur.u8()
    if version not in (1, 2):
        raise FormatError(
            f"unsupported message format version {version}: an AWS Encryption SDK message "
            f"starts with byte 0x02 (or 0x01, the old format), this one with 0x{version:02x}"
        )
    if version == 1 and cur.u8() != _V1_TYPE:
        raise FormatError("unsupported message type (version 1 header)")
    suite_id = cur.u16()
    try:
        suite = AlgorithmSuite(suite_id)
    except ValueError:
        raise FormatError(f"unknown algorithm suite 0x{suite_id:04x}") from None
    info = suite.info
    if info.message_version != version:
        raise FormatError(
            f"algorithm suite 0x{suite_id:04x} is not valid in a version {version} header"
        )
    message_id = bytes(cur.take(info.message_id_length))
    aad_length = cur.u16()
    context = parse_context(cur.take(aad_length))
    edk_count = cur.u16()
    if edk_count == 0:
        raise FormatError("header has no encrypted data keys")
    if edk_count > limits.max_encrypted_data_keys:
        # A limit, not damage: the writer may simply have used many keys.
        raise FormatError(
            f"header has {edk_count} encrypted data keys; the limit is "
            f"{limits.max_encrypted_data_keys}",
            hint="raise the limit with max_data_keys / --max-data-keys if you trust the writer",
        )
    edks = []
    for index in range(edk_count):
        provider = cur.take(cur.u16())
        provider_info = bytes(cur.take(cur.u16()))
        ciphertext = bytes(cur.take(cur.u16()))
        try:
            provider_id = bytes(provider).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"encrypted data key {index}: provider id is not UTF-8") from None
        edks.append(EncryptedDataKey(provider_id, provider_info, ciphertext))
    content_type = cur.u8()
    if content_type == CONTENT_TYPE_NON_FRAMED:
        raise FormatError("non-framed messages are not supported")
    if content_type != CONTENT_TYPE_FRAMED:
        raise FormatError(f"unknown content type {content_type}")
    if version == 1:
        if bytes(cur.take(4)) != b"\x00\x00\x00\x00":
            raise FormatError("reserved header field is not zero")
        if cur.u8() != IV_LENGTH:
            raise FormatError("header IV length does not match the algorithm suite")
    frame_length = cur.u32()
    if frame_length == 0:
        raise FormatError("frame length is zero")
    if frame_length > limits.max_frame_length:
        raise FormatError(
            f"frame length {frame_length} exceeds the limit of {limits.max_frame_length}"
        )
    suite_data = bytes(cur.take(info.suite_data_length))
    body = bytes(data[: cur.pos])
    iv = bytes(cur.take(IV_LENGTH)) if version == 1 else b""
    tag = bytes(cur.take(TAG_LENGTH))
    return Header(
        version=version,
        suite=suite,
        message_id=message_id,
        encryption_context=context,
        encrypted_data_keys=tuple(edks),
        content_type=content_type,
        frame_length=frame_length,
        suite_data=suite_data,
        iv=iv,
        auth_tag=tag,
        body=body,
    )


def parse(data: bytes | bytearray | memoryview, *, limits: HeaderLimits | None = None) -> Header:
    """Parse the header at the start of ``data`` (bytes after it are ignored).

    ``Header.length`` tells where the body starts. Raises :class:`FormatError` for
    malformed or truncated input. This checks structure only; the header is
    authenticated by :class:`~securestore.message.decrypt.Decryptor`.
    """
    try:
        return _parse(memoryview(data), limits or HeaderLimits())
    except _NeedMoreError:
        raise FormatError("message truncated inside the header") from None


class HeaderParser:
    """Incremental header parser: :meth:`feed` pieces until it returns a :class:`Header`.

    The bytes fed beyond the header are available as :attr:`remainder`.
    """

    def __init__(self, *, limits: HeaderLimits | None = None) -> None:
        self._limits = limits or HeaderLimits()
        self._buffer = bytearray()
        self._needed = 1
        self.header: Header | None = None
        self.remainder = b""

    @property
    def needed(self) -> int:
        """At least how many more bytes the parser must see before it can progress."""
        return 0 if self.header is not None else max(1, self._needed - len(self._buffer))

    def feed(self, data: bytes | bytearray | memoryview) -> Header | None:
        """Add bytes; return the header once complete, else ``None``."""
        if self.header is not None:
            raise ConfigurationError("the header is already complete")
        self._buffer += data
        if len(self._buffer) < self._needed:
            return None
        try:
            header = _parse(memoryview(self._buffer), self._limits)
        except _NeedMoreError as need:
            self._needed = need.total
            return None
        self.header = header
        self.remainder = bytes(self._buffer[header.length :])
        self._buffer = bytearray()
        return header


def parse_from(stream: IO[bytes], *, limits: HeaderLimits | None = None) -> tuple[Header, bytes]:
    """Read a header from a binary stream, reading no more than it needs.

    Returns the header and any bytes read past it (always empty here, kept for a
    uniform signature with buffered sources). Raises :class:`FormatError` on EOF.
    """
    parser = HeaderParser(limits=limits)
    while True:
        chunk = stream.read(parser.needed)
        if not chunk:
            raise FormatError("message truncated inside the header")
        header = parser.feed(chunk)
        if header is not None:
            return header, parser.remainder

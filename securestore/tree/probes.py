"""What a tree job reads of a stored object to decide about it, beyond its listing.

:func:`first_client_side`: whether a destination prefix holds client-side
objects (a sync without a key option must not add server-side-only files
there). :func:`stored_plaintext`: the plaintext length a moved object holds,
from its message header and frame layout (docs/format.md, "Sizes"), so a move
is verified on servers that keep no user metadata (``rclone serve s3``).
"""

from __future__ import annotations

from securestore.clientside import (
    FORMAT_METADATA,
    HEADER_PROBE,
    LENGTH_METADATA,
    read_header,
    starts_like_message,
)
from securestore.message import HeaderLimits, Layout
from securestore.message.header import ESDK_MAX_FRAME_LENGTH
from securestore.objects import ObjectInfo

from .listing import list_prefix
from .paths import Remote

__all__ = ["first_client_side", "starts_like_message_at", "stored_plaintext"]

#: What the probe reads of a listing: one ListObjectsV2 page.
_PROBE_LISTED = 1000

#: Any header a reader of ours could meet; the length is all that is wanted of it.
_ANY_HEADER = HeaderLimits(max_encrypted_data_keys=0xFFFF, max_frame_length=ESDK_MAX_FRAME_LENGTH)


def starts_like_message_at(side: Remote, info: ObjectInfo) -> bool:
    """Whether the object's first bytes are the start of an encryption SDK message."""
    if info.size <= 0:
        return False
    last = min(info.size, HEADER_PROBE) - 1
    return starts_like_message(side.store.read_raw_range(side.prefix, 0, last, etag=info.etag))


def first_client_side(destination: Remote) -> str | None:
    """The first non-empty object below ``destination`` if it is client-side, else ``None``.

    One listing page at most and one HEAD (and a first-bytes read when our
    metadata is missing); a prefix mixing modes is caught by the guard's HEADs.
    """
    for seen, entry in enumerate(list_prefix(destination.store, destination.prefix)):
        if seen >= _PROBE_LISTED:
            return None
        if entry.size <= 0:
            continue
        at = Remote(destination.store, destination.key(entry.relative))
        info = at.store.head(at.prefix)
        client_side = FORMAT_METADATA in info.metadata or starts_like_message_at(at, info)
        return at.describe() if client_side else None
    return None


def stored_plaintext(side: Remote, info: ObjectInfo, *, message: bool) -> int | None:
    """The plaintext length the object ``info`` holds (``None``: it cannot be told).

    ``message``: the object is a client-side message (a keyring read or wrote
    it). Its header is read (pinned to ``info``'s ETag) and the length follows
    from the ciphertext size, the header length and the frame length, whatever
    the server kept of our metadata. A signed message's footer length varies,
    so for one the stored ``securestore-plaintext-length`` is all there is.
    """
    if not message and FORMAT_METADATA not in info.metadata:
        return info.size

    def fetch(start: int, end: int) -> bytes:
        return side.store.read_raw_range(side.prefix, start, end - 1, etag=info.etag)

    first = fetch(0, min(info.size, HEADER_PROBE)) if info.size > 0 else b""
    if not starts_like_message(first):
        # Our metadata on bytes that are no message (another tool's copy): as listed.
        return info.size
    header = read_header(fetch, info.size, _ANY_HEADER, first=first)
    if header.suite.signed:
        try:
            return int(info.metadata[LENGTH_METADATA])
        except (KeyError, ValueError):
            return None
    layout = Layout.from_ciphertext_length(info.size, header.frame_length, header.length)
    return layout.plaintext_length

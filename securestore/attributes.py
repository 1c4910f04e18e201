"""Object attributes a write sets besides its body: storage class and content headers.

:class:`ObjectAttributes` travels as one value from the facade (``put``,
``upload_file``, ``copy``, tree transfers) to the requests that create an
object: ``PutObject``, ``CreateMultipartUpload`` and ``CopyObject``.

Client-side objects: ``Content-Encoding`` describes the stored bytes to HTTP
clients, and the stored bytes of a client-side object are an Encryption SDK
message, not (say) gzip data. A ``Content-Encoding: gzip`` header would make
browsers, ``curl --compressed`` or ``requests`` try to decode the ciphertext.
So for a client-side object the encoding of the *plaintext* is stored as the
metadata entry :data:`CONTENT_ENCODING_METADATA` instead of the header
(informational, like every ``securestore-`` entry), and a copy that decrypts
the object (written server-side) turns it back into the header.
"""

from __future__ import annotations

import datetime
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from securestore.errors import ConfigurationError

__all__ = [
    "ARCHIVE_STORAGE_CLASSES",
    "CONTENT_ENCODING_METADATA",
    "CONTENT_HEADERS",
    "STORAGE_CLASSES",
    "ObjectAttributes",
    "guess_content_type",
]


def guess_content_type(name: str) -> str | None:
    """The Content-Type a file named ``name`` gets when none is given (as aws-cli).

    :mod:`mimetypes` by the name's extension; ``None`` (S3's ``binary/octet-stream``)
    for a name it does not know. ``put`` and the tree uploads share it.
    """
    return mimetypes.guess_type(name)[0]


#: S3's published storage classes (the ``StorageClass`` enum of the S3 API model).
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
        "FSX_OPENZFS",
        "FSX_ONTAP",
    }
)
#: Classes whose objects must be restored (RestoreObject) before they can be read.
ARCHIVE_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
#: Where a client-side object keeps its plaintext's Content-Encoding (see the module doc).
CONTENT_ENCODING_METADATA = "securestore-content-encoding"

#: The content headers of an object as S3 request/response fields (what a copy keeps).
CONTENT_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
)

#: Attribute name -> S3 request/response field.
_FIELDS = {
    "storage_class": "StorageClass",
    "cache_control": "CacheControl",
    "content_encoding": "ContentEncoding",
    "content_disposition": "ContentDisposition",
    "content_language": "ContentLanguage",
    "expires": "Expires",
}
_HEADER_NAMES = ("cache_control", "content_encoding", "content_disposition", "content_language")


@dataclass(frozen=True, kw_only=True)
class ObjectAttributes:
    """Storage class and content headers of an object; ``None``: not set (or: keep).

    Args:
        storage_class: one of :data:`STORAGE_CLASSES` (default: the bucket's, STANDARD).
        cache_control, content_encoding, content_disposition, content_language:
            the HTTP headers S3 returns with the object. For a client-side object
            ``content_encoding`` is stored as metadata (see the module docstring).
        expires: the ``Expires`` header.

    Raises:
        ConfigurationError: an unknown storage class, or a header value that is
            empty, not ASCII or holds control characters (checked before any request).
    """

    storage_class: str | None = None
    cache_control: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    expires: datetime.datetime | None = None

    def __post_init__(self) -> None:
        if self.storage_class is not None and self.storage_class not in STORAGE_CLASSES:
            raise ConfigurationError(
                f"invalid storage class {self.storage_class!r}",
                hint="use one of " + ", ".join(sorted(STORAGE_CLASSES)),
            )
        for name in _HEADER_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if (
                not isinstance(value, str)
                or not value.strip()
                or not value.isascii()
                or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
            ):
                raise ConfigurationError(
                    f"invalid {name.replace('_', '-')} {value!r}: "
                    "a header value must be non-empty ASCII without control characters"
                )
        if self.expires is not None and not isinstance(self.expires, datetime.datetime):
            raise ConfigurationError("expires must be a datetime")

    @property
    def headers_set(self) -> bool:
        """Whether a content header (not only the storage class) is set."""
        return any(getattr(self, name) is not None for name in _FIELDS if name != "storage_class")

    def over(self, base: ObjectAttributes) -> ObjectAttributes:
        """These attributes where set, ``base``'s elsewhere (explicit options override)."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{k: v for k, v in given.items() if v is not None})

    def request_params(self, *, client_side: bool = False) -> dict[str, Any]:
        """The request fields these attributes set (without ``ContentEncoding`` if client-side)."""
        params: dict[str, Any] = {}
        for name, field_name in _FIELDS.items():
            value = getattr(self, name)
            if value is None or (client_side and name == "content_encoding"):
                continue
            params[field_name] = value
        return params

    def metadata(self, *, client_side: bool) -> dict[str, str]:
        """The ``securestore-`` metadata these attributes add (client-side: the encoding)."""
        if client_side and self.content_encoding is not None:
            return {CONTENT_ENCODING_METADATA: self.content_encoding}
        return {}

    @classmethod
    def stored(cls, head: Mapping[str, Any]) -> ObjectAttributes:
        """The attributes of a stored object, from its HEAD answer (for copies).

        STANDARD is reported as unset (a copy then gets the bucket's default),
        and a client-side object's encoding comes from its metadata entry.
        """
        values: dict[str, Any] = {}
        for name, field_name in _FIELDS.items():
            value = head.get(field_name)
            if value in (None, "") or (name == "expires" and not _is_time(value)):
                continue
            values[name] = value
        if values.get("storage_class") == "STANDARD":
            del values["storage_class"]
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        if "content_encoding" not in values and metadata.get(CONTENT_ENCODING_METADATA):
            values["content_encoding"] = metadata[CONTENT_ENCODING_METADATA]
        try:
            return cls(**values)
        except ConfigurationError:
            # What a server stored is not ours to refuse: keep what is valid.
            return cls(**{k: v for k, v in values.items() if _valid(k, v)})


def _is_time(value: Any) -> bool:
    return isinstance(value, datetime.datetime)


def _valid(name: str, value: Any) -> bool:
    try:
        ObjectAttributes(**{name: value})
    except ConfigurationError:
        return False
    return True

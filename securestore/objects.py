"""What the store reports about objects: plain values, made from S3's answers.

:class:`ObjectInfo` describes one stored object (HEAD, GET, a write's answer);
:class:`ObjectSummary`, :class:`CommonPrefix` and :class:`ObjectVersion` are the
entries of listings (:class:`~securestore.bucket.BucketAccess` yields them).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from securestore.modes import StoredEncryption

__all__ = [
    "CommonPrefix",
    "ObjectInfo",
    "ObjectSummary",
    "ObjectVersion",
    "newest_first",
    "summary_from",
    "version_from",
]


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 reports about a stored object."""

    bucket: str
    key: str
    size: int
    etag: str
    encryption: StoredEncryption
    last_modified: datetime.datetime | None = None
    content_type: str | None = None
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``securestore head --json``)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "content_type": self.content_type,
            "version_id": self.version_id,
            "encryption": {
                "mode": self.encryption.sse_name,
                "kms_key_id": self.encryption.kms_key_id,
                "bucket_key_enabled": self.encryption.bucket_key_enabled,
                "client_side": dict(self.encryption.client_side)
                if self.encryption.client_side is not None
                else None,
            },
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class ObjectSummary:
    """One entry of a listing."""

    key: str
    size: int
    etag: str
    last_modified: datetime.datetime | None
    storage_class: str | None = None


@dataclass(frozen=True)
class CommonPrefix:
    """A "directory" of a listing with a delimiter: every key under ``prefix``, rolled up."""

    prefix: str


@dataclass(frozen=True)
class ObjectVersion:
    """One version of a key in a versioned bucket's listing, or a delete marker.

    A delete marker has no body: ``size`` is 0 and ``etag`` is empty.
    """

    key: str
    version_id: str
    is_latest: bool
    last_modified: datetime.datetime | None
    size: int = 0
    etag: str = ""
    storage_class: str | None = None
    delete_marker: bool = False


def summary_from(item: Mapping[str, Any]) -> ObjectSummary:
    """The :class:`ObjectSummary` of one ``Contents`` entry of a ListObjectsV2 page."""
    return ObjectSummary(
        key=item["Key"],
        size=int(item.get("Size", 0)),
        etag=str(item.get("ETag", "")),
        last_modified=item.get("LastModified"),
        storage_class=item.get("StorageClass"),
    )


def version_from(item: Mapping[str, Any], delete_marker: bool) -> ObjectVersion:
    """The :class:`ObjectVersion` of one ``Versions`` (or ``DeleteMarkers``) entry."""
    return ObjectVersion(
        key=item["Key"],
        version_id=str(item.get("VersionId") or "null"),
        is_latest=bool(item.get("IsLatest")),
        last_modified=item.get("LastModified"),
        size=int(item.get("Size", 0)),
        etag=str(item.get("ETag", "")),
        storage_class=item.get("StorageClass"),
        delete_marker=delete_marker,
    )


def newest_first(entry: ObjectVersion) -> tuple[str, bool, float]:
    """Sort key of S3's version order: by key, then the latest, then newest first."""
    when = entry.last_modified.timestamp() if entry.last_modified else 0.0
    return (entry.key, not entry.is_latest, -when)

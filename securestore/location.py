"""``s3://`` URLs, bucket names and object keys.

Validation follows S3's general-purpose bucket naming rules so that a typo is
reported before any request is made.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from securestore.errors import InvalidLocationError

__all__ = ["S3Url", "key_or_folder", "refuse_folder_key", "validate_bucket_name", "validate_key"]

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES = 1024


def validate_bucket_name(name: str) -> str:
    """Return ``name`` if it is a valid S3 bucket name, else raise InvalidLocationError."""
    reason = None
    if not 3 <= len(name) <= 63:
        reason = "must be 3 to 63 characters long"
    elif not _BUCKET_RE.fullmatch(name):
        reason = (
            "may contain only lowercase letters, digits, dots and hyphens, "
            "and must start and end with a letter or digit"
        )
    elif ".." in name or ".-" in name or "-." in name:
        reason = "must not contain '..', '.-' or '-.'"
    elif name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", "--x-s3", ".mrap", "--table-s3")
    ):
        reason = "uses a prefix or suffix reserved by S3"
    else:
        try:
            ipaddress.IPv4Address(name)
            reason = "must not be formatted as an IP address"
        except ValueError:
            pass
    if reason:
        raise InvalidLocationError(
            f"invalid bucket name {name!r}: {reason}",
            hint="see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        )
    return name


def validate_key(key: str) -> str:
    """Return ``key`` if S3 can store an object under it, else raise InvalidLocationError."""
    if not key:
        raise InvalidLocationError("an object key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise InvalidLocationError(f"object key is longer than {_MAX_KEY_BYTES} bytes")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidLocationError("object key is not valid UTF-8") from exc
    return key


def refuse_folder_key(key: str, *, empty: bool = False) -> None:
    """Refuse to write one object's data under a key that ends in ``/``.

    Such a key names a folder: aws-cli and the CLI write ``dir/`` + the source's
    name there, and tree downloads refuse an object of that name that holds bytes.
    The library never guesses a name: :meth:`SecureStore.put`,
    :meth:`SecureStore.upload_file`, :meth:`SecureStore.copy` and
    :func:`securestore.tree.copy_file` refuse it (``put`` of an ``empty`` body writes
    the folder marker a console makes; ``copy`` copies one).
    :func:`securestore.tree.remote_key` gives the CLI's rule.

    Raises:
        InvalidLocationError: ``key`` ends in ``/`` (and the body is not known empty).
    """
    if key.endswith("/") and not empty:
        raise InvalidLocationError(
            f"the key {key!r} ends in '/': it names a folder, not an object",
            hint="name the object in full (tree.remote_key(prefix, name) adds the file's "
            "name, as the CLI does); only an empty folder marker is written under a "
            "key ending in /",
        )


@dataclass(frozen=True)
class S3Url:
    """A parsed ``s3://BUCKET[/KEY]`` URL; ``key`` is ``""`` when absent."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, url: str, *, require_key: bool = False) -> S3Url:
        """Parse and validate ``url``.

        Raises:
            InvalidLocationError: not an ``s3://`` URL, an invalid bucket name, or
                no key where ``require_key`` asks for one.
        """
        if not url.startswith("s3://"):
            raise InvalidLocationError(
                f"not an s3:// URL: {url!r}", hint="write locations as s3://BUCKET/KEY"
            )
        rest = url[len("s3://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise InvalidLocationError(f"no bucket in {url!r}", hint="write s3://BUCKET/KEY")
        validate_bucket_name(bucket)
        if require_key:
            if not key:
                raise InvalidLocationError(
                    f"no object key in {url!r}", hint="write s3://BUCKET/KEY"
                )
            validate_key(key)
        elif key:
            validate_key(key)
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def key_or_folder(name: str, key: str) -> bool:
    """Whether ``key`` is what ``name`` names as a key or folder: ``name`` or below ``name/``.

    ``s3://b/tmp`` then means the key ``tmp`` and the keys under ``tmp/``, never
    ``tmpx`` (a text prefix would: one typo away from another folder). A ``name``
    that is empty or ends in ``/`` is a folder already: every key starting with it.
    """
    if not name or name.endswith("/"):
        return key.startswith(name)
    return key == name or key.startswith(name + "/")

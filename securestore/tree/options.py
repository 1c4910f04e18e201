"""What a tree job's options say about how each object is written and read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import securestore.arguments as args
from securestore.attributes import ObjectAttributes
from securestore.modes import EncryptionMode

__all__ = ["TreeOptions"]


@dataclass(frozen=True)
class TreeOptions:
    """How each object of a tree is written and read.

    Args:
        encryption: uploads and copies: the mode (default: the destination store's).
        metadata: user metadata for uploads and copies.
        content_type: Content-Type for uploads; ``None`` guesses it from the file
            name (:mod:`mimetypes`).
        attributes: storage class and content headers of uploads and copies (a
            copy keeps the source's where these leave a field unset).
        require: downloads and copies: the mode every object must be stored with
            (a :class:`ClientSide` mode brings the keyring that decrypts).
        context, relocated, allow_plaintext: as for :meth:`SecureStore.open`.
        allow_s3ec: downloads and copies that decrypt: **weakens the read** to
            accept S3 Encryption Client objects, which are not bound to their
            location (as for :meth:`SecureStore.open`).
        overwrite_readonly: downloads may replace read-only files.

    Raises:
        ConfigurationError: a field of the wrong type (a mode's name for a mode).
    """

    encryption: EncryptionMode | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    attributes: ObjectAttributes | None = None
    require: EncryptionMode | None = None
    context: Mapping[str, str] | None = None
    relocated: bool = False
    allow_plaintext: bool = False
    overwrite_readonly: bool = False
    allow_s3ec: bool = False

    def __post_init__(self) -> None:
        for name in ("encryption", "require"):
            args.optional(args.mode)(name, getattr(self, name))
        args.mapping("metadata", self.metadata)
        args.optional(args.mapping)("context", self.context)
        for name in ("relocated", "allow_plaintext", "overwrite_readonly", "allow_s3ec"):
            args.flag(name, getattr(self, name))
        args.optional(args.text)("content_type", self.content_type)
        args.optional(args.instance_of(ObjectAttributes, "an ObjectAttributes"))(
            "attributes", self.attributes
        )

"""A read-only decoder for objects written by the AWS S3 Encryption Clients (S3EC).

``metadata`` and ``content`` are the pure format (docs/format.md, "S3 Encryption
Client objects"); ``unwrap`` binds it to securestore's keyrings; ``read`` is the
store's read path for such objects. Reads reach it through
:class:`securestore.SecureStore` (``get``/``open``/``download_file``/``copy``) only
with ``allow_s3ec=True`` (S3EC objects are not bound to their bucket and key, so they
are refused by default) and when the caller's keyring can unwrap the object's data key;
``securestore migrate`` reads them without that opt-in.
"""

from __future__ import annotations

from securestore.s3ec.content import CBC, COMMITTING, GCM, ContentKey, Suite
from securestore.s3ec.metadata import (
    INSTRUCTION_SUFFIX,
    ContentMetadata,
    has_s3ec_metadata,
    parse_content_metadata,
    parse_instruction_file,
)

__all__ = [
    "CBC",
    "COMMITTING",
    "GCM",
    "INSTRUCTION_SUFFIX",
    "ContentKey",
    "ContentMetadata",
    "Suite",
    "has_s3ec_metadata",
    "parse_content_metadata",
    "parse_instruction_file",
]

"""Whole-object S3EC decryption in memory: for test vectors, small objects and migration checks.

Large objects go through :mod:`securestore.s3ec.read`, which streams. Both run the
same checks in the same order: metadata, suite policy, data key (with the
encryption context), commitment, then content authentication.
"""

from __future__ import annotations

from collections.abc import Mapping

from securestore.message.materials import Keyring, wipe
from securestore.s3ec.content import (
    BLOCK,
    CBC,
    CbcRange,
    ContentKey,
    GcmStream,
    content_key,
    plaintext_size,
    suite_for,
)
from securestore.s3ec.metadata import parse_content_metadata
from securestore.s3ec.unwrap import unwrap_data_key

__all__ = ["decrypt_object", "object_content_key"]


def object_content_key(
    object_metadata: Mapping[str, str],
    keyring: Keyring,
    *,
    instruction: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
    allow_legacy_unauthenticated: bool = False,
) -> ContentKey:
    """Parse the metadata, unwrap the data key and derive (and commit to) the content key."""
    metadata = parse_content_metadata(object_metadata, instruction)
    suite = suite_for(metadata, allow_legacy_unauthenticated=allow_legacy_unauthenticated)
    data_key = unwrap_data_key(
        keyring,
        metadata,
        suite,
        expected_context=context or {},
        allow_legacy_unauthenticated=allow_legacy_unauthenticated,
    )
    try:
        return content_key(metadata, suite, data_key)
    finally:
        wipe(data_key)


def decrypt_object(
    object_metadata: Mapping[str, str],
    body: bytes,
    keyring: Keyring,
    *,
    instruction: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
    allow_legacy_unauthenticated: bool = False,
) -> bytes:
    """The plaintext of a whole S3EC object, returned only once it authenticated.

    Raises:
        FormatError, PolicyError, IntegrityError, AuthenticationError, KeyringError:
            as for a read (see :meth:`securestore.SecureStore.open`).
    """
    key = object_content_key(
        object_metadata,
        keyring,
        instruction=instruction,
        context=context,
        allow_legacy_unauthenticated=allow_legacy_unauthenticated,
    )
    if key.suite is CBC:
        cbc = CbcRange(key, len(body))
        plain = cbc.decrypt(key.iv, body)
        return plain[:-BLOCK] + CbcRange.unpad(plain[-BLOCK:])
    plaintext_size(key.suite, len(body))
    gcm = GcmStream(key)
    plain = gcm.update(body)
    gcm.finalize()
    return plain

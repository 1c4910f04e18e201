"""Unwrapping S3 Encryption Client data keys with securestore's keyrings.

Follows ``s3-encryption/materials/s3-kms-keyring.md`` for ``kms+context`` (the
stored encryption context minus its two reserved keys must equal the caller's)
and the reference implementation's raw AES-GCM and RSA-OAEP wraps, which bind
the data key to the content cipher's name (docs/format.md, "S3 Encryption
Client objects"). Legacy wraps (``kms``, ``AESWrap``, V1's RSA PKCS#1 v1.5) need
``allow_legacy_unauthenticated``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from securestore.errors import (
    ConfigurationError,
    FormatError,
    IntegrityError,
    KeyUnavailableError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.keyrings.aws_kms import AwsKmsDiscoveryKeyring, AwsKmsKeyring
from securestore.keyrings.multi import MultiKeyring
from securestore.keyrings.options import AccountDiscoveryKeyring
from securestore.keyrings.raw_aes import RawAesKeyring
from securestore.keyrings.raw_rsa import RawRsaKeyring
from securestore.message.materials import Keyring
from securestore.s3ec.content import Suite
from securestore.s3ec.metadata import ContentMetadata

__all__ = ["RESERVED_CONTEXT_KEYS", "check_context", "unwrap_data_key"]

#: The S3EC's own encryption-context keys (s3-kms-keyring.md, "Kms+Context").
CEK_ALG_CONTEXT_KEY = "aws:x-amz-cek-alg"
RESERVED_CONTEXT_KEYS = frozenset({CEK_ALG_CONTEXT_KEY, "kms_cmk_id"})
_LEGACY_WRAPS = frozenset({"kms", "AESWrap", "legacy"})
_DATA_KEY_LENGTH = 32


def check_context(metadata: ContentMetadata, expected: Mapping[str, str]) -> None:
    """Check a ``kms+context`` object's stored context against the caller's.

    The stored context, minus the reserved keys, must equal ``expected``; its
    ``aws:x-amz-cek-alg`` must name the object's content cipher, so that the cipher
    mapkey cannot be changed behind KMS's back. Differing keys are named, never values.

    Raises:
        ConfigurationError: ``expected`` uses a reserved key (a ValueError).
        IntegrityError: the contexts differ, or the cipher binding is missing or wrong.
    """
    reserved = sorted(RESERVED_CONTEXT_KEYS & set(expected))
    if reserved:
        raise ConfigurationError(
            f"{', '.join(reserved)} is reserved by the S3 Encryption Client's encryption context"
        )
    stored = dict(metadata.context)
    if stored.get(CEK_ALG_CONTEXT_KEY) != metadata.content_cipher:
        raise IntegrityError(
            "the S3EC encryption context does not bind the object's content cipher "
            f"({CEK_ALG_CONTEXT_KEY}): the metadata may have been tampered with"
        )
    user = {k: v for k, v in stored.items() if k not in RESERVED_CONTEXT_KEYS}
    differ = sorted(set(user) ^ set(expected) | {k for k in user if expected.get(k) != user[k]})
    if differ:
        raise IntegrityError(
            "the object's S3EC encryption context does not have the expected value for "
            + ", ".join(repr(name) for name in differ),
            hint="read it with the context it was written with (CLI: --context K=V); "
            "the S3EC requires the whole context, not a subset",
        )


def _members(keyring: Keyring) -> Iterator[Keyring]:
    if isinstance(keyring, MultiKeyring):
        if keyring.generator is not None:
            yield from _members(keyring.generator)
        for child in keyring.children:
            yield from _members(child)
    else:
        yield keyring


def _attempt(
    keyring: Keyring, metadata: ContentMetadata, suite: Suite, aad: bytes
) -> bytes | bytearray | None:
    wrap = metadata.wrap_alg
    blob = metadata.encrypted_key
    if wrap in ("kms+context", "kms"):
        if isinstance(keyring, AwsKmsKeyring | AccountDiscoveryKeyring | AwsKmsDiscoveryKeyring):
            return keyring.decrypt_s3ec(blob, metadata.context)
        return None
    if isinstance(keyring, RawAesKeyring):
        if wrap == "legacy":  # V1's AES/ECB key encryption: not read (see docs/format.md)
            return None
        return keyring.decrypt_s3ec(wrap, blob, aad)
    if isinstance(keyring, RawRsaKeyring):
        if wrap == "RSA-OAEP-SHA1":
            pseudo = keyring.decrypt_s3ec(blob, legacy_pkcs1=False)
            return None if pseudo is None else _pseudo_data_key(pseudo, suite)
        if wrap == "legacy":
            return keyring.decrypt_s3ec(blob, legacy_pkcs1=True)
    return None


def _pseudo_data_key(pseudo: bytes, suite: Suite) -> bytes | None:
    """The reference RSA-OAEP-SHA1 wrap: key length byte, key, content cipher name."""
    length = pseudo[0] if pseudo else 0
    if length != _DATA_KEY_LENGTH or len(pseudo) <= 1 + length:
        return None
    if pseudo[1 + length :] != suite.cipher_name.encode("utf-8"):
        raise IntegrityError(
            "the S3EC data key is bound to another content cipher than the object names: "
            "the metadata may have been tampered with"
        )
    return pseudo[1 : 1 + length]


def unwrap_data_key(
    keyring: Keyring,
    metadata: ContentMetadata,
    suite: Suite,
    *,
    expected_context: Mapping[str, str],
    allow_legacy_unauthenticated: bool,
) -> bytearray:
    """The data key of an S3EC object, from the first keyring member that unwraps it.

    Raises:
        PolicyError: a legacy wrap without the opt-in.
        IntegrityError: a ``kms+context`` context that differs from ``expected_context``.
        NoMatchingKeyError: no member of ``keyring`` unwraps it.
        KeyUnavailableError: KMS failed (and no other member unwrapped it).
    """
    wrap = metadata.wrap_alg
    if wrap in _LEGACY_WRAPS and not allow_legacy_unauthenticated:
        raise PolicyError(
            f"refusing to read: the S3EC data key uses the legacy wrap {wrap!r}",
            hint="to read it anyway, accepting unauthenticated content: get "
            "--allow-legacy-unauthenticated (library: allow_legacy_unauthenticated=True); "
            "better, migrate it: securestore migrate --allow-legacy-unauthenticated",
        )
    if wrap not in ("kms+context", "AES/GCM", "RSA-OAEP-SHA1", *_LEGACY_WRAPS):
        raise FormatError(f"unsupported S3EC wrapping algorithm {wrap[:40]!r}")
    if wrap == "kms+context":
        check_context(metadata, expected_context)
    elif expected_context:
        raise IntegrityError(
            f"the S3EC data key is wrapped with {wrap!r}, which has no encryption context "
            "to check the expected pairs against",
            hint="read it without --context / context=",
        )
    unavailable: KeyUnavailableError | None = None
    tried: list[str] = []
    for member in _members(keyring):
        try:
            found = _attempt(member, metadata, suite, suite.cipher_name.encode("utf-8"))
        except KeyUnavailableError as error:
            unavailable = unavailable or error
            continue
        except NoMatchingKeyError as error:
            tried.extend(error.tried)
            continue
        tried.append(repr(member))
        if found is not None and len(found) == _DATA_KEY_LENGTH:
            return bytearray(found)
    if unavailable is not None:
        raise unavailable
    raise NoMatchingKeyError(
        f"none of the configured keys can unwrap this S3 Encryption Client data key ({wrap})",
        tried=tuple(tried),
        hint="give the key the object was encrypted with (CLI: --kms-key-id, --key-file or "
        "--rsa-private-key)",
    )

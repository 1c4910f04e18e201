"""Re-wrapping: a new header for an existing message body (docs/format.md, "Re-wrapping").

The frames of a version-2 message depend only on the data key, the message id
and the frame length; the encrypted data keys (EDKs) and the encryption context
live in the header, which its own tag authenticates. A new header with the same
suite, message id, frame length and commitment key, a different EDK list and/or
context, and a tag recomputed under the derived content key, in front of the
unchanged body, is therefore a valid message.

Only unsigned committing messages (0x0478) can be re-headed: the footer
signature of 0x0578 covers the header, so a new header would need the whole
body re-signed by a new key pair (:class:`PolicyError`). Version-1 suites do
not commit to their key and are refused as well.

Pure: keyrings do whatever I/O they do, this module does none.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    KeyringError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.message.context import PUBLIC_KEY_CONTEXT_KEY, validate_user_context
from securestore.message.decryptor import unwrap_data_key
from securestore.message.derivation import commitment_key, content_key
from securestore.message.frames import FrameCipher
from securestore.message.header import (
    DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
    Header,
    HeaderLimits,
    parse,
    serialize,
    serialize_body,
)
from securestore.message.materials import (
    DecryptionMaterials,
    EncryptedDataKey,
    EncryptionMaterials,
    Keyring,
    describe_edks,
    wipe,
)
from securestore.message.suites import AlgorithmSuite

__all__ = [
    "reheader",
    "wrap_existing_key",
    "ContextChange",
    "HeaderRewrite",
    "KMS_PROVIDER_ID",
    "authenticate_header",
    "rewrap_header",
    "rewrite_header",
]

#: Provider id of AWS KMS encrypted data keys (their provider info is the key ARN).
KMS_PROVIDER_ID = "aws-kms"

_REWRITABLE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


@dataclass(frozen=True)
class ContextChange:
    """Changes to a message's encryption context: pairs to set, then keys to drop.

    A key both set and removed is refused. Removing a key the context lacks is
    refused too (it is most likely a typo that would leave the pair in place).
    """

    set: Mapping[str, str] | None = None
    remove: Sequence[str] = ()

    def apply(self, context: Mapping[str, str]) -> dict[str, str]:
        """The context after the change."""
        updates = validate_user_context(self.set or {})
        out = dict(context)
        for name in self.remove:
            if name in updates:
                raise ConfigurationError(f"context key {name!r} is both set and removed")
            if name.startswith("aws-crypto-"):
                raise ConfigurationError(f"context key {name!r} is reserved")
            if name not in out:
                raise ConfigurationError(f"the message has no context key {name!r} to remove")
            del out[name]
        out.update(updates)
        return out


@dataclass(frozen=True)
class HeaderRewrite:
    """The outcome of :func:`rewrite_header`.

    ``header_bytes`` replaces the first ``old.length`` bytes of the message;
    ``kept`` are the old EDKs carried byte for byte, ``rewrapped`` the old EDKs
    re-wrapped for a new context, ``added`` the new ones and ``removed`` the old
    EDKs left out.
    """

    header: Header
    header_bytes: bytes
    old: Header
    kept: tuple[EncryptedDataKey, ...]
    rewrapped: tuple[EncryptedDataKey, ...]
    added: tuple[EncryptedDataKey, ...]
    removed: tuple[EncryptedDataKey, ...]

    @property
    def context_changed(self) -> bool:
        """Whether the encryption context differs from the old one."""
        return dict(self.header.encryption_context) != dict(self.old.encryption_context)

    @property
    def length_delta(self) -> int:
        """New header length minus old header length."""
        return len(self.header_bytes) - self.old.length


def _check_rewritable(header: Header) -> None:
    if header.suite.signed:
        raise PolicyError(
            "a signed message (suite 0x0578) cannot be re-wrapped: its signature covers "
            "the header, so a new header needs the whole message re-encrypted",
            hint="download and upload it again (get, then put) to re-encrypt it",
        )
    if header.suite is not _REWRITABLE:
        raise PolicyError(
            f"algorithm suite 0x{header.suite.value:04x} cannot be re-wrapped: "
            "only committing unsigned messages (0x0478) can"
        )


def authenticate_header(header: Header, data_key: bytes | bytearray) -> FrameCipher:
    """Check the key commitment, then the header tag, under ``data_key``.

    Returns the message's frame cipher. Raises :class:`AuthenticationError` if
    either check fails: a data key that does not match the commitment is never
    used for anything else.
    """
    _check_rewritable(header)
    if len(data_key) != header.suite.key_length:
        raise AuthenticationError()
    expected = commitment_key(header.suite, data_key, header.message_id)
    if not hmac.compare_digest(expected, header.suite_data):
        raise AuthenticationError()
    key = content_key(header.suite, data_key, header.message_id)
    cipher = FrameCipher(header.suite, key, header.message_id, header.frame_length)
    cipher.verify_header(header.body, header.iv, header.auth_tag)
    return cipher


def _unwraps(
    keyring: Keyring, header: Header, edk: EncryptedDataKey, data_key: bytes | bytearray
) -> bool:
    """Whether ``keyring`` unwraps ``edk`` (alone) to ``data_key`` under the old context.

    Only a missing match is a "no"; a key service that fails propagates, since
    the key might have matched (fail closed).
    """
    materials = DecryptionMaterials(header.suite, header.encryption_context)
    try:
        result = keyring.unwrap(materials, (edk,))
    except NoMatchingKeyError:
        return False
    found = result.data_key
    try:
        return found is not None and hmac.compare_digest(bytes(found), bytes(data_key))
    finally:
        wipe(found)


def wrap_existing_key(
    keyring: Keyring, header: Header, context: Mapping[str, str], data_key: bytes | bytearray
) -> tuple[EncryptedDataKey, ...]:
    """The EDKs ``keyring`` adds for the existing ``data_key`` under ``context``.

    Raises:
        KeyringError: the keyring added none, or replaced the data key instead of
            wrapping it (a generating keyring would make the body undecryptable).
    """
    buffer = bytearray(data_key)
    try:
        materials = keyring.wrap(EncryptionMaterials(header.suite, context, buffer))
    finally:
        wipe(buffer)
    if materials.data_key is not None and materials.data_key is not buffer:
        wipe(materials.data_key)
        raise KeyringError("a keyring replaced the data key instead of wrapping it")
    if not materials.encrypted_data_keys:
        raise KeyringError("a keyring added no encrypted data key")
    return materials.encrypted_data_keys


def rewrite_header(
    header: Header,
    data_key: bytes | bytearray,
    *,
    add: Sequence[Keyring] = (),
    remove: Sequence[Keyring] = (),
    remove_kms_keys: Iterable[str] = (),
    context: ContextChange | None = None,
    rewrap: Sequence[Keyring] = (),
    max_encrypted_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
) -> HeaderRewrite:
    """Build a new header for the body of the message that ``header`` starts.

    The key commitment and the header tag are checked under ``data_key`` first
    (:func:`authenticate_header`). Then:

    - ``remove``: the old EDKs each of these keyrings unwraps are left out;
      ``remove_kms_keys``: the ``aws-kms`` EDKs naming one of these key ARNs.
      A removal that matches nothing is refused.
    - ``context``: the context changes. The raw AES and AWS KMS wraps bind the
      context, so every old EDK kept across a context change is re-wrapped by
      the first keyring of ``rewrap`` that unwraps it (each must add exactly one
      EDK); an EDK none of them unwraps is refused, never carried silently.
    - ``add``: each keyring wraps the data key once more under the new context.

    The result keeps at least one EDK and at most ``max_encrypted_data_keys``.
    ``data_key`` stays the caller's to wipe.

    Raises:
        AuthenticationError: ``data_key`` does not match the commitment, or the
            header tag does not verify.
        PolicyError: the message is signed or not committing.
        ConfigurationError: nothing would remain, too many EDKs, a removal that
            matches nothing, a bad context change.
        NoMatchingKeyError: an EDK cannot be carried across a context change.
        KeyringError: a keyring failed to wrap.
    """
    authenticate_header(header, data_key)
    old_context = dict(header.encryption_context)
    new_context = context.apply(old_context) if context is not None else old_context
    if PUBLIC_KEY_CONTEXT_KEY in new_context:
        raise ConfigurationError("an unsigned message cannot carry a signature key")
    changed = new_context != old_context

    arns = set(remove_kms_keys)
    removed_flags = [False] * len(header.encrypted_data_keys)
    for arn in arns:
        hits = [
            i
            for i, edk in enumerate(header.encrypted_data_keys)
            if edk.provider_id == KMS_PROVIDER_ID and edk.provider_info == arn.encode("utf-8")
        ]
        if not hits:
            raise ConfigurationError(f"the message has no data key wrapped by KMS key {arn}")
        for i in hits:
            removed_flags[i] = True
    for keyring in remove:
        hits = [
            i
            for i, edk in enumerate(header.encrypted_data_keys)
            if _unwraps(keyring, header, edk, data_key)
        ]
        if not hits:
            raise ConfigurationError(
                f"{_describe(keyring)} unwraps none of the message's data keys "
                f"({describe_edks(header.encrypted_data_keys)}); nothing to remove"
            )
        for i in hits:
            removed_flags[i] = True

    kept: list[EncryptedDataKey] = []
    rewrapped: list[EncryptedDataKey] = []
    removed: list[EncryptedDataKey] = []
    out: list[EncryptedDataKey] = []
    for edk, gone in zip(header.encrypted_data_keys, removed_flags, strict=True):
        if gone:
            removed.append(edk)
        elif not changed:
            kept.append(edk)
            out.append(edk)
        else:
            carrier = next((k for k in rewrap if _unwraps(k, header, edk, data_key)), None)
            if carrier is None:
                raise NoMatchingKeyError(
                    f"the data key wrapped for {edk.describe()} cannot be carried across the "
                    "context change: its wrap binds the old context",
                    tried=tuple(_describe(k) for k in rewrap),
                    hint="give that key too (to re-wrap it), or remove it",
                )
            new = wrap_existing_key(carrier, header, new_context, data_key)
            if len(new) != 1:
                raise ConfigurationError("a re-wrapping keyring must add exactly one data key")
            rewrapped += new
            out += new
    added: list[EncryptedDataKey] = []
    for keyring in add:
        added += wrap_existing_key(keyring, header, new_context, data_key)
    out += added

    if not out:
        raise ConfigurationError(
            "refusing to remove the last data key: nobody could decrypt the object",
            hint="add another key in the same run",
        )
    new_header = reheader(header, data_key, new_context, out, max_encrypted_data_keys)
    return HeaderRewrite(
        header=new_header,
        header_bytes=serialize(new_header),
        old=header,
        kept=tuple(kept),
        rewrapped=tuple(rewrapped),
        added=tuple(added),
        removed=tuple(removed),
    )


def reheader(
    header: Header,
    data_key: bytes | bytearray,
    context: Mapping[str, str],
    edks: Sequence[EncryptedDataKey],
    max_encrypted_data_keys: int,
) -> Header:
    """``header`` with another encryption context and data key list: same message id,
    suite, frame length and commitment, and the header tag recomputed with the data key,
    so the unchanged body still decrypts behind it.

    Raises:
        ConfigurationError: more data keys than ``max_encrypted_data_keys``.
    """
    if len(edks) > max_encrypted_data_keys:
        raise ConfigurationError(
            f"the new header would hold {len(edks)} data keys; the limit is "
            f"{max_encrypted_data_keys}"
        )
    body = serialize_body(
        header.suite, header.message_id, context, edks, header.frame_length, header.suite_data
    )
    key = content_key(header.suite, data_key, header.message_id)
    cipher = FrameCipher(header.suite, key, header.message_id, header.frame_length)
    return Header(
        version=header.version,
        suite=header.suite,
        message_id=header.message_id,
        encryption_context=dict(context),
        encrypted_data_keys=tuple(edks),
        content_type=header.content_type,
        frame_length=header.frame_length,
        suite_data=header.suite_data,
        iv=b"",
        auth_tag=cipher.header_tag(body),
        body=body,
    )


def rewrap_header(
    old_header: bytes | bytearray | memoryview | Header,
    keyring: Keyring,
    *,
    expected_context: Mapping[str, str] | None = None,
    add: Sequence[Keyring] = (),
    remove: Sequence[Keyring] = (),
    remove_kms_keys: Iterable[str] = (),
    context: ContextChange | None = None,
    rewrap: Sequence[Keyring] = (),
    max_encrypted_data_keys: int = DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
) -> HeaderRewrite:
    """Unwrap the data key of ``old_header`` with ``keyring``, then :func:`rewrite_header`.

    ``expected_context`` pairs must be in the old context (checked before any
    key is unwrapped, as on reading). The data key is wiped afterwards.
    """
    header = (
        old_header
        if isinstance(old_header, Header)
        else parse(old_header, limits=HeaderLimits(max_encrypted_data_keys=max_encrypted_data_keys))
    )
    _check_rewritable(header)
    for name, value in (expected_context or {}).items():
        if header.encryption_context.get(name) != value:
            raise AuthenticationError()
    data_key = unwrap_data_key(header, keyring, header.encryption_context)
    try:
        return rewrite_header(
            header,
            data_key,
            add=add,
            remove=remove,
            remove_kms_keys=remove_kms_keys,
            context=context,
            rewrap=rewrap,
            max_encrypted_data_keys=max_encrypted_data_keys,
        )
    finally:
        wipe(data_key)


def _describe(keyring: Keyring) -> str:
    describe = getattr(keyring, "describe", None)
    return str(describe()) if callable(describe) else type(keyring).__name__

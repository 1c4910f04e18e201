"""The :class:`Decryptor`: an authenticated header and random access to its frames.

How the header is authenticated (docs/format.md, "Decryption"): the decrypt
policy, the expected (reproduced) encryption context, the signature-key rule,
the data key from the keyring, the key commitment, then the header tag.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    IntegrityError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.message.context import PUBLIC_KEY_CONTEXT_KEY, serialize_context
from securestore.message.derivation import commitment_key, content_key
from securestore.message.frames import (
    FINAL_FRAME_OVERHEAD,
    REGULAR_FRAME_OVERHEAD,
    SEQUENCE_NUMBER_END,
    FrameCipher,
)
from securestore.message.header import Header, serialize
from securestore.message.materials import DecryptionMaterials, Keyring, describe_edks, wipe
from securestore.message.signature import MessageVerifier
from securestore.message.suites import DecryptPolicy

__all__ = ["Decryptor"]

Buffer = bytes | bytearray | memoryview


class Decryptor:
    """An authenticated header and the frame decryptor for its message.

    ``expected_context`` is the caller's *reproduced encryption context*
    (docs/format.md, "Encryption context"): a pair that the header stores must
    have the expected value; pairs that it does not store are the ones an ESDK
    writer with the required-encryption-context CMM authenticated without storing,
    so they are handed to the keyring with the stored ones and appended,
    serialized, to the header body that the header tag covers
    (client-apis/decrypt.md). A message that was not written with them fails.

    Construction checks, in order: the decrypt policy, the stored pairs against
    ``expected_context``, the signature-key rule of the suite, then unwraps the
    data key with ``keyring``, checks the key commitment and the header tag.
    ``decrypt_frame``/``decrypt_frame_into`` are thread-safe.
    """

    def __init__(
        self,
        header: Header,
        keyring: Keyring,
        *,
        expected_context: Mapping[str, str] | None = None,
        policy: DecryptPolicy = DecryptPolicy.REQUIRE_COMMITTING,
    ) -> None:
        suite = header.suite
        if not policy.allows(suite):
            raise PolicyError(
                f"algorithm suite 0x{suite.value:04x} does not commit to its key; "
                "reading it needs DecryptPolicy.ALLOW_NON_COMMITTING"
            )
        context = header.encryption_context
        expected = dict(expected_context or {})
        if any(name in context and context[name] != value for name, value in expected.items()):
            raise AuthenticationError()
        reproduced = {name: value for name, value in expected.items() if name not in context}
        has_public_key = PUBLIC_KEY_CONTEXT_KEY in context
        if suite.signed != has_public_key:
            raise FormatError(
                "the signature key in the encryption context does not match the suite"
            )
        try:
            self._cipher = _authenticate(header, keyring, {**context, **reproduced}, reproduced)
        except (NoMatchingKeyError, AuthenticationError):
            if reproduced and _authenticates_without(header, keyring):
                raise _unbound(reproduced) from None
            raise
        self.header = header

    def __repr__(self) -> str:
        return f"Decryptor(suite={self.header.suite.name}, frame_length={self.header.frame_length})"

    @property
    def frame_length(self) -> int:
        """The message's frame length."""
        return self.header.frame_length

    def decrypt_frame(self, seq: int, frame: Buffer, *, final: bool) -> bytes:
        """Authenticate and decrypt serialized frame ``seq`` (sequence field checked)."""
        return self._cipher.decrypt_frame(seq, frame, final=final)

    def decrypt_frame_into(
        self, seq: int, frame: Buffer, out: bytearray | memoryview, *, final: bool
    ) -> int:
        """Decrypt frame ``seq`` into ``out``; return the plaintext length."""
        return self._cipher.decrypt_frame_into(seq, frame, out, final=final)

    def decrypt_frames(self, first_seq: int, data: Buffer, *, includes_final: bool) -> bytearray:
        """Decrypt consecutive whole frames starting at ``first_seq`` (a ranged read).

        ``includes_final`` says whether ``data`` ends with the final frame; bytes after
        it are not allowed. Raises on any malformed or unauthentic frame.
        """
        out = bytearray(len(memoryview(data)))
        written = self.decrypt_frames_into(first_seq, data, out, includes_final=includes_final)
        del out[written:]
        return out

    def decrypt_frames_into(
        self, first_seq: int, data: Buffer, out: bytearray | memoryview, *, includes_final: bool
    ) -> int:
        """Like :meth:`decrypt_frames`, into ``out`` (at least ``len(data)`` bytes, reusable).

        Returns the plaintext length. On failure, what ``out`` holds is not plaintext
        to be used: callers discard it.
        """
        view = memoryview(data).cast("B")
        size = self.frame_length + REGULAR_FRAME_OVERHEAD
        target = memoryview(out).cast("B")
        if len(target) < len(view):
            raise ConfigurationError("output buffer smaller than the ciphertext")
        pos = written = 0
        seq = first_seq
        while pos < len(view):
            is_final = bytes(view[pos : pos + 4]) == SEQUENCE_NUMBER_END
            if is_final:
                if not includes_final:
                    raise FormatError(f"frame {seq} is final but more frames were expected")
                if pos + 24 > len(view):
                    raise FormatError(f"final frame {seq} is truncated")
                length = int.from_bytes(view[pos + 20 : pos + 24], "big")
                end = pos + length + FINAL_FRAME_OVERHEAD
            else:
                end = pos + size
            if end > len(view):
                raise FormatError(f"frame {seq} is truncated")
            written += self._cipher.decrypt_frame_into(
                seq, view[pos:end], target[written:], final=is_final
            )
            pos = end
            seq += 1
            if is_final:
                break
        else:
            if includes_final:
                raise FormatError("the range does not end with the final frame")
        if pos != len(view):
            raise FormatError("bytes after the final frame")
        return written

    def new_verifier(self) -> MessageVerifier | None:
        """A signature verifier primed with the header bytes, or ``None`` for unsigned suites."""
        suite = self.header.suite
        if not suite.signed:
            return None
        verifier = MessageVerifier(suite, self.header.encryption_context[PUBLIC_KEY_CONTEXT_KEY])
        verifier.update(serialize(self.header))
        return verifier


def _authenticate(
    header: Header,
    keyring: Keyring,
    context: Mapping[str, str],
    reproduced: Mapping[str, str],
) -> FrameCipher:
    """Unwrap the data key, check the commitment and the header tag; return the cipher."""
    suite = header.suite
    data_key = unwrap_data_key(header, keyring, context)
    try:
        key = content_key(suite, data_key, header.message_id)
        if suite.committing:
            expected = commitment_key(suite, data_key, header.message_id)
            if not hmac.compare_digest(expected, header.suite_data):
                raise AuthenticationError()
    finally:
        wipe(data_key)
    cipher = FrameCipher(suite, key, header.message_id, header.frame_length)
    # The required-but-not-stored pairs follow the body in the tag's AAD (empty: nothing).
    cipher.verify_header(header.body + serialize_context(reproduced), header.iv, header.auth_tag)
    return cipher


def unwrap_data_key(header: Header, keyring: Keyring, context: Mapping[str, str]) -> bytearray:
    """The header's data key as ``keyring`` unwraps it (the caller wipes it after use).

    Raises:
        NoMatchingKeyError: no EDK is for ``keyring`` (the message names those it has).
        AuthenticationError: the keyring returned no key, or one of the wrong length.
    """
    try:
        materials = keyring.unwrap(
            DecryptionMaterials(header.suite, context), header.encrypted_data_keys
        )
    except NoMatchingKeyError as error:
        if "encrypted for:" in error.message:
            raise
        raise NoMatchingKeyError(
            f"{error.message}; the message was encrypted for: "
            + describe_edks(header.encrypted_data_keys),
            tried=error.tried,
            hint=error.hint,
        ) from None
    data_key = materials.data_key
    if data_key is None or len(data_key) != header.suite.key_length:
        raise AuthenticationError()
    return data_key


def _authenticates_without(header: Header, keyring: Keyring) -> bool:
    """Whether the header authenticates with its stored context alone (a failure path)."""
    try:
        _authenticate(header, keyring, header.encryption_context, {})
    except (NoMatchingKeyError, AuthenticationError):
        return False
    return True


def _unbound(reproduced: Mapping[str, str]) -> IntegrityError:
    names = ", ".join(repr(name) for name in sorted(reproduced))
    return IntegrityError(
        "the message is authentic but not bound to the expected encryption context: "
        f"it neither stores nor authenticates {names}",
        hint="expect only pairs the writer bound (for an object copied from elsewhere: "
        "relocated=True / --relocated)",
    )

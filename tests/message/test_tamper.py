"""Tampering: every bit of header and body, truncation, reordering, substitution, wrong keys."""

from __future__ import annotations

import io
import os

import pytest

from securestore.errors import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.keyrings import MultiKeyring, RawAesKeyring
from securestore.message import (
    AlgorithmSuite,
    DecryptingReader,
    Decryptor,
    decrypt,
    encrypt,
    parse,
    serialize,
)
from securestore.message.frames import REGULAR_FRAME_OVERHEAD
from tests.message.conftest import AES_KEY, KEY_NAME, NAMESPACE

F = 64
CONTEXT = {"securestore:bucket": "bucket", "securestore:key": "a/b"}
TYPED = (IntegrityError, NoMatchingKeyError, PolicyError)
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


@pytest.fixture(scope="module")
def plaintext() -> bytes:
    return os.urandom(3 * F + 10)


@pytest.fixture(scope="module", params=["0478", "0578"])
def message(request: pytest.FixtureRequest, plaintext: bytes) -> bytes:
    keyring = RawAesKeyring(NAMESPACE, KEY_NAME, AES_KEY)
    suite = SIGNED if request.param == "0578" else AlgorithmSuite(0x0478)
    return bytes(
        encrypt(plaintext, keyring, encryption_context=CONTEXT, frame_length=F, suite=suite)
    )


def _released_prefix(message: bytes, keyring: RawAesKeyring) -> tuple[bytes, BaseException]:
    """Stream-decrypt; return what was released before the error, and the error."""
    released = b""
    try:
        reader = DecryptingReader(io.BytesIO(message), keyring, expected_context=CONTEXT)
        for part in reader:
            released += part
    except TYPED as error:
        return released, error
    raise AssertionError("tampered message decrypted")


def test_every_bit_flip_is_detected(
    message: bytes, plaintext: bytes, aes_keyring: RawAesKeyring
) -> None:
    header_length = parse(message).length
    for index in range(len(message)):
        for bit in (0, 7):
            tampered = bytearray(message)
            tampered[index] ^= 1 << bit
            with pytest.raises(TYPED):
                decrypt(tampered, aes_keyring, expected_context=CONTEXT)
            released, _ = _released_prefix(bytes(tampered), aes_keyring)
            if index < header_length:
                assert released == b""
            else:
                # Only frames wholly before the damaged one may have been released.
                damaged_frame = (index - header_length) // (F + REGULAR_FRAME_OVERHEAD)
                assert len(released) % F == 0
                assert len(released) <= damaged_frame * F
                assert plaintext.startswith(released)


def test_error_kinds_per_header_field(message: bytes, aes_keyring: RawAesKeyring) -> None:
    header = parse(message)

    def flip(offset: int) -> bytearray:
        tampered = bytearray(message)
        tampered[offset] ^= 0x01
        return tampered

    with pytest.raises(FormatError, match="version"):
        decrypt(flip(0), aes_keyring)
    with pytest.raises(AuthenticationError):  # message id
        decrypt(flip(10), aes_keyring)
    # A context value: the raw AES keyring binds the context too, so unwrapping fails first.
    with pytest.raises(NoMatchingKeyError):
        decrypt(flip(header.body.index(b"bucket", 40)), aes_keyring)
    with pytest.raises(NoMatchingKeyError):  # provider id
        decrypt(flip(header.body.index(NAMESPACE.encode())), aes_keyring)
    with pytest.raises(AuthenticationError):  # commitment
        decrypt(flip(len(header.body) - 1), aes_keyring)
    with pytest.raises(AuthenticationError):  # header tag
        decrypt(flip(header.length - 1), aes_keyring)
    with pytest.raises(AuthenticationError):  # frame length 64 -> 65
        decrypt(flip(len(header.body) - 33), aes_keyring)
    huge = bytearray(message)
    huge[len(header.body) - 36] |= 0x80  # frame length above the reader's limit
    with pytest.raises(FormatError, match="frame length"):
        decrypt(huge, aes_keyring)


def test_truncation_anywhere(message: bytes, plaintext: bytes, aes_keyring: RawAesKeyring) -> None:
    for cut in range(len(message)):
        with pytest.raises(FormatError):
            decrypt(message[:cut], aes_keyring)
        released, error = _released_prefix(message[:cut], aes_keyring)
        assert isinstance(error, FormatError)
        assert plaintext.startswith(released)
        assert len(released) < len(plaintext)


def test_appended_bytes(message: bytes, plaintext: bytes, aes_keyring: RawAesKeyring) -> None:
    for extra in (b"\x00", b"garbage", message[-50:]):
        with pytest.raises(FormatError, match="after the end"):
            decrypt(message + extra, aes_keyring)
        released, error = _released_prefix(message + extra, aes_keyring)
        assert isinstance(error, FormatError)
        assert len(released) < len(plaintext)  # the final frame is held back


def _frames(message: bytes) -> tuple[bytes, list[bytes], bytes]:
    header_length = parse(message).length
    size = F + REGULAR_FRAME_OVERHEAD
    body = message[header_length:]
    regular = [body[i * size : (i + 1) * size] for i in range(3)]
    return message[:header_length], regular, body[3 * size :]


def test_reordered_and_duplicated_frames(message: bytes, aes_keyring: RawAesKeyring) -> None:
    head, (f1, f2, f3), tail = _frames(message)
    for body in ([f2, f1, f3], [f1, f1, f2, f3], [f1, f3], [f1, f2, f3, f3]):
        with pytest.raises(FormatError, match="sequence number"):
            decrypt(head + b"".join(body) + tail, aes_keyring)
    # With the sequence numbers rewritten, the tags catch the swap.
    swapped = f1[:0] + (1).to_bytes(4, "big") + f2[4:], (2).to_bytes(4, "big") + f1[4:]
    with pytest.raises(AuthenticationError):
        decrypt(head + b"".join([*swapped, f3]) + tail, aes_keyring)
    # A regular frame cannot be passed off as the final one, nor the reverse.
    with pytest.raises(FormatError):
        decrypt(head + f1 + f2 + f3, aes_keyring)


def test_substituted_data_key(aes_keyring: RawAesKeyring, plaintext: bytes) -> None:
    """An EDK from another message (same wrapping key) fails the key commitment."""
    one = bytes(encrypt(plaintext, aes_keyring, frame_length=F))
    two = bytes(encrypt(plaintext, aes_keyring, frame_length=F))
    h1, h2 = parse(one), parse(two)
    edk1, edk2 = h1.encrypted_data_keys[0], h2.encrypted_data_keys[0]
    forged_body = h1.body.replace(
        edk1.provider_info + len(edk1.ciphertext).to_bytes(2, "big") + edk1.ciphertext,
        edk2.provider_info + len(edk2.ciphertext).to_bytes(2, "big") + edk2.ciphertext,
    )
    assert forged_body != h1.body
    forged = forged_body + one[len(h1.body) :]
    with pytest.raises(AuthenticationError):
        decrypt(forged, aes_keyring)


def test_wrong_key_lists_what_was_tried(message: bytes) -> None:
    wrong = RawAesKeyring(NAMESPACE, KEY_NAME, os.urandom(32))
    other = RawAesKeyring("other-ns", "other", os.urandom(32))
    with pytest.raises(NoMatchingKeyError) as info:
        decrypt(message, MultiKeyring(children=[wrong, other]))
    assert info.value.tried == (f"raw-aes {NAMESPACE}/{KEY_NAME}", "raw-aes other-ns/other")
    assert NAMESPACE in str(info.value)
    assert AES_KEY.hex() not in str(info.value)


def test_context_mismatch(message: bytes, aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(AuthenticationError) as info:
        decrypt(message, aes_keyring, expected_context={"securestore:key": "other"})
    assert str(info.value) == AuthenticationError.MESSAGE
    # An expected pair the header does not store is a reproduced pair: it joins the
    # header tag's AAD, and a message written without it says so once it authenticates.
    with pytest.raises(IntegrityError, match="not bound to the expected encryption context"):
        decrypt(message, aes_keyring, expected_context={"missing": "x"})
    assert decrypt(message, aes_keyring, expected_context={"securestore:key": "a/b"})


def test_signature_key_must_match_suite(aes_keyring: RawAesKeyring) -> None:
    """A signed message relabelled as unsigned (or the reverse) is refused before any key work."""
    message = bytes(encrypt(b"data", aes_keyring, frame_length=F, suite=SIGNED))
    relabelled = bytearray(message)
    relabelled[1:3] = (0x0478).to_bytes(2, "big")
    with pytest.raises(FormatError, match="signature key"):
        decrypt(relabelled, aes_keyring)


def test_bad_signature(aes_keyring: RawAesKeyring, plaintext: bytes) -> None:
    message = bytearray(
        encrypt(plaintext, aes_keyring, encryption_context=CONTEXT, frame_length=F, suite=SIGNED)
    )
    message[-1] ^= 1
    with pytest.raises(AuthenticationError):
        decrypt(message, aes_keyring)
    released, error = _released_prefix(bytes(message), aes_keyring)
    assert isinstance(error, AuthenticationError)
    assert len(released) == 3 * F  # the final frame waited for the signature


def test_failed_frame_leaves_no_plaintext(aes_keyring: RawAesKeyring) -> None:
    message = bytes(encrypt(b"A" * (2 * F), aes_keyring, frame_length=F))
    header = parse(message)
    decryptor = Decryptor(header, aes_keyring)
    frame = bytearray(message[header.length : header.length + F + REGULAR_FRAME_OVERHEAD])
    frame[-1] ^= 1
    out = bytearray(b"\xee" * F)
    with pytest.raises(AuthenticationError):
        decryptor.decrypt_frame_into(1, frame, out, final=False)
    assert out == bytes(F)


def test_header_round_trip(message: bytes) -> None:
    header = parse(message)
    assert serialize(header) == message[: header.length]
    assert "ciphertext" not in repr(header.encrypted_data_keys[0])

"""Refusals of the decrypt path that no test exercised until mutation testing asked for them.

Each test is named after the check it guards; docs/mutation.md lists the mutants (a line
deleted or a comparison flipped) that survived the other message tests and that these
kill. Real messages from our ``encrypt``, a real keyring, no mocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from securestore.errors import (
    AuthenticationError,
    ConfigurationError,
    FormatError,
    NoMatchingKeyError,
)
from securestore.keyrings import RawAesKeyring
from securestore.message import (
    AlgorithmSuite,
    DecryptionMaterials,
    Decryptor,
    EncryptedDataKey,
    EncryptionMaterials,
    encrypt,
    parse,
)
from securestore.message.frames import FrameCipher

KEYRING = RawAesKeyring("mutation", "key", bytes(range(32)))
CONTEXT = {"purpose": "mutation"}
FRAME = 64
PLAINTEXT = bytes(range(256)) * 2 + b"tail"  # 8 regular frames and a 4-byte final frame
MESSAGE = bytes(encrypt(PLAINTEXT, KEYRING, encryption_context=CONTEXT, frame_length=FRAME))
HEADER = parse(MESSAGE)
BODY = MESSAGE[HEADER.length :]
REGULAR = FRAME + 4 + 12 + 16  # sequence number, IV, tag
FINAL = BODY[8 * REGULAR :]


def _decryptor() -> Decryptor:
    return Decryptor(parse(MESSAGE), KEYRING, expected_context=CONTEXT)


def test_a_whole_body_decrypts_as_one_range() -> None:
    assert _decryptor().decrypt_frames(1, BODY, includes_final=True) == PLAINTEXT


def test_a_range_that_should_stop_before_the_final_frame_refuses_it() -> None:
    # The reader asked for regular frames only; a final frame in the answer means its
    # layout is not the object's, and the answer is refused rather than used.
    with pytest.raises(FormatError, match="is final but more frames were expected"):
        _decryptor().decrypt_frames(9, FINAL, includes_final=False)
    with pytest.raises(FormatError, match="is final but more frames were expected"):
        _decryptor().decrypt_frames(8, BODY[7 * REGULAR :], includes_final=False)


def test_a_range_that_should_end_with_the_final_frame_must_hold_it() -> None:
    with pytest.raises(FormatError, match="does not end with the final frame"):
        _decryptor().decrypt_frames(1, BODY[: 8 * REGULAR], includes_final=True)
    with pytest.raises(FormatError, match="does not end with the final frame"):
        _decryptor().decrypt_frames(1, b"", includes_final=True)


def test_regular_frames_alone_decrypt_when_no_final_frame_is_expected() -> None:
    plain = _decryptor().decrypt_frames(3, BODY[2 * REGULAR : 5 * REGULAR], includes_final=False)
    assert plain == PLAINTEXT[2 * FRAME : 5 * FRAME]


def test_bytes_after_the_final_frame_are_refused() -> None:
    with pytest.raises(FormatError, match="bytes after the final frame"):
        _decryptor().decrypt_frames(1, BODY + b"\x00", includes_final=True)
    with pytest.raises(FormatError, match="bytes after the final frame"):
        _decryptor().decrypt_frames(9, FINAL + FINAL, includes_final=True)


def test_a_truncated_final_frame_is_a_format_error() -> None:
    for cut in (1, 10, 24, len(FINAL) - 1):
        with pytest.raises(FormatError, match="truncated"):
            _decryptor().decrypt_frames(9, FINAL[:cut], includes_final=True)


class _KeyLosingKeyring:
    """A keyring that finds its key but hands back none (or a broken one): a buggy plug-in."""

    def __init__(self, data_key: bytearray | None) -> None:
        self.data_key = data_key

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return KEYRING.wrap(materials)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        KEYRING.unwrap(materials, encrypted_data_keys)
        return DecryptionMaterials(materials.suite, materials.encryption_context, self.data_key)


@pytest.mark.parametrize("data_key", [None, bytearray(), bytearray(31), bytearray(33)])
def test_a_keyring_that_returns_no_key_or_a_wrong_length_one_is_an_authentication_error(
    data_key: bytearray | None,
) -> None:
    with pytest.raises(AuthenticationError):
        Decryptor(parse(MESSAGE), _KeyLosingKeyring(data_key), expected_context=CONTEXT)


def test_no_matching_key_names_the_keys_the_message_was_encrypted_for_once() -> None:
    stranger = RawAesKeyring("mutation", "another-key", bytes(32))
    with pytest.raises(NoMatchingKeyError) as info:
        Decryptor(parse(MESSAGE), stranger, expected_context=CONTEXT)
    assert info.value.message.count("encrypted for:") == 1
    assert "mutation key" in info.value.message.split("encrypted for:")[1]

    class Named:
        def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
            raise AssertionError

        def unwrap(
            self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]
        ) -> DecryptionMaterials:
            raise NoMatchingKeyError("no key; the message was encrypted for: x", tried=("k",))

    with pytest.raises(NoMatchingKeyError) as info:
        Decryptor(parse(MESSAGE), Named(), expected_context=CONTEXT)
    assert info.value.message == "no key; the message was encrypted for: x"


class _KeyKeepingKeyring:
    """The real keyring, keeping a reference to the data key buffer it hands out."""

    def __init__(self) -> None:
        self.handed_out: list[bytearray] = []

    def wrap(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return KEYRING.wrap(materials)

    def unwrap(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        result = KEYRING.unwrap(materials, encrypted_data_keys)
        assert result.data_key is not None
        self.handed_out.append(result.data_key)
        return result


def test_the_data_key_is_wiped_once_the_content_key_is_derived() -> None:
    keyring = _KeyKeepingKeyring()
    decryptor = Decryptor(parse(MESSAGE), keyring, expected_context=CONTEXT)
    assert decryptor.decrypt_frames(1, BODY, includes_final=True) == PLAINTEXT
    assert [bytes(key) for key in keyring.handed_out] == [bytes(32)]


def test_an_output_buffer_smaller_than_the_ciphertext_is_refused() -> None:
    # Even one that would hold the plaintext: the contract is len(out) >= len(data).
    out = bytearray(len(BODY) - 1)
    with pytest.raises(ConfigurationError, match="smaller than the ciphertext"):
        _decryptor().decrypt_frames_into(1, BODY, out, includes_final=True)


SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
CONTENT_KEY = bytes(range(32))
MESSAGE_ID = bytes(32)


def test_a_final_frame_longer_than_the_frame_length_is_refused_though_authentic() -> None:
    # Written by a cipher of 128-byte frames, read as a message of 64-byte frames: the
    # tag verifies (same key, id, sequence number, length), the format rule refuses it.
    long_final = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 128).encrypt_frame(
        1, b"y" * 100, final=True
    )
    reader = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 64)
    with pytest.raises(FormatError, match="final frame length 100 exceeds the frame length"):
        reader.decrypt_frame(1, long_final, final=True)
    with pytest.raises(FormatError, match="exceeds the frame length"):
        reader.decrypt_frame_into(1, long_final, bytearray(200), final=True)
    at_limit = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 128).encrypt_frame(
        1, b"y" * 64, final=True
    )
    assert reader.decrypt_frame(1, at_limit, final=True) == b"y" * 64


def test_a_frame_read_as_final_must_be_whole_and_marked_final() -> None:
    cipher = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 64)
    final = cipher.encrypt_frame(2, b"z" * 10, final=True)
    regular = cipher.encrypt_frame(2, b"r" * 64, final=False)
    for cut in (0, 4, 27, 39):
        with pytest.raises(FormatError, match="final frame 2 is truncated"):
            cipher.decrypt_frame(2, final[:cut], final=True)
    with pytest.raises(FormatError, match="should be the final frame but is not marked final"):
        cipher.decrypt_frame(2, regular, final=True)
    with pytest.raises(FormatError, match="is marked final but more frames were expected"):
        cipher.decrypt_frame(2, final + bytes(len(regular) - len(final)), final=False)
    assert cipher.decrypt_frame(2, final, final=True) == b"z" * 10


def test_a_final_frame_of_the_wrong_size_is_refused_before_decryption() -> None:
    cipher = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 64)
    final = cipher.encrypt_frame(3, b"w" * 10, final=True)
    with pytest.raises(FormatError, match="final frame 3 has the wrong size"):
        cipher.decrypt_frame(3, final + b"\x00", final=True)
    with pytest.raises(FormatError, match="final frame 3 has the wrong size"):
        cipher.decrypt_frame(3, final[:-1], final=True)


def test_decrypt_frame_into_refuses_misuse_with_configuration_errors() -> None:
    cipher = FrameCipher(SUITE, CONTENT_KEY, MESSAGE_ID, 64)
    regular = cipher.encrypt_frame(1, b"r" * 64, final=False)
    for seq in (0, 2**32):
        with pytest.raises(ConfigurationError, match="sequence number out of range"):
            cipher.decrypt_frame_into(seq, regular, bytearray(64), final=False)
        with pytest.raises(ConfigurationError, match="sequence number out of range"):
            cipher.decrypt_frame(seq, regular, final=False)
    with pytest.raises(ConfigurationError, match="output buffer too small"):
        cipher.decrypt_frame_into(1, regular, bytearray(63), final=False)
    out = bytearray(70)
    assert cipher.decrypt_frame_into(1, regular, out, final=False) == 64
    assert out[:64] == b"r" * 64

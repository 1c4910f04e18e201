"""The verifying pass over a signed message and the frame digests it records (plain data).

securestore/signed.py rule by rule: written for its mutants (docs/mutation.md, stop 20),
which the moto tests of signed reads (test_read_integrity.py, test_tamper.py) reach only
through whole reads. Messages are written by our own engine with the signed suite 0x0578
and fed to :func:`verify_signed` from memory.
"""

from __future__ import annotations

import io

import pytest

from securestore.errors import AuthenticationError, ConfigurationError, FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import AlgorithmSuite, Decryptor, Layout, encrypt, parse
from securestore.message.frames import REGULAR_FRAME_OVERHEAD
from securestore.signed import FrameDigests, verify_signed

F = 64
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
KEYRING = RawAesKeyring("tests", "signed", b"s" * 32)


def signed(length: int, suite: AlgorithmSuite = SIGNED) -> tuple[Decryptor, bytes]:
    """A decryptor of a new message of ``length`` plaintext bytes, and its body (no header)."""
    message = bytes(
        encrypt(bytes(i % 251 for i in range(length)), KEYRING, frame_length=F, suite=suite)
    )
    header = parse(message)
    return Decryptor(header, KEYRING), message[header.length :]


def verify(decryptor: Decryptor, body: bytes) -> tuple[Layout, FrameDigests]:
    return verify_signed(decryptor, io.BytesIO(body))


def frames(layout: Layout, body: bytes) -> list[bytes]:
    """Each serialized frame of ``body`` (offsets from the layout, header excluded)."""
    out, pos = [], 0
    for seq in range(1, layout.frame_count + 1):
        size = layout.frame_size(seq)
        out.append(body[pos : pos + size])
        pos += size
    return out


@pytest.mark.parametrize("length", [0, 1, F - 1, F, F + 1, 3 * F + 10])
def test_an_honest_message_gives_its_layout_and_one_digest_per_frame(length: int) -> None:
    decryptor, body = signed(length)
    layout, digests = verify(decryptor, body)
    assert layout.plaintext_length == length
    assert layout.frame_length == F
    assert layout.header_length == decryptor.header.length
    assert len(digests) == layout.frame_count
    assert sum(len(f) for f in frames(layout, body)) == layout.body_length < len(body)


def test_an_unsigned_message_has_nothing_to_verify() -> None:
    decryptor, body = signed(10, AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    with pytest.raises(ConfigurationError, match="not signed"):
        verify(decryptor, body)


def test_every_truncation_is_refused() -> None:
    decryptor, body = signed(2 * F + 5)
    for cut in range(len(body)):
        with pytest.raises(FormatError, match="truncated"):
            verify(decryptor, body[:cut])


def test_a_byte_after_the_footer_is_refused() -> None:
    decryptor, body = signed(F + 5)
    with pytest.raises(FormatError, match="unexpected bytes after the end"):
        verify(decryptor, body + b"\x00")


@pytest.mark.parametrize("where", ["first-frame", "final-frame", "signature"])
def test_a_changed_byte_fails_the_signature(where: str) -> None:
    decryptor, body = signed(2 * F + 5)
    layout, _ = verify(decryptor, body)
    offset = {
        "first-frame": 30,
        "final-frame": layout.body_length - 3,
        "signature": len(body) - 1,
    }[where]
    changed = bytearray(body)
    changed[offset] ^= 1
    with pytest.raises(AuthenticationError):
        verify(decryptor, bytes(changed))


def test_frames_out_of_order_are_refused_by_their_sequence_numbers() -> None:
    decryptor, body = signed(3 * F + 5)
    layout, _ = verify(decryptor, body)
    one, two, *_ = frames(layout, body)
    swapped = two + one + body[2 * len(one) :]
    with pytest.raises(FormatError, match="frame 1 carries another sequence number"):
        verify(decryptor, swapped)


def test_a_final_frame_longer_than_the_frame_length_is_refused() -> None:
    decryptor, body = signed(F + 5)
    layout, _ = verify(decryptor, body)
    final = layout.frame_length + REGULAR_FRAME_OVERHEAD  # the final frame starts here
    changed = bytearray(body)
    changed[final + 20 : final + 24] = (F + 1).to_bytes(4, "big")  # its length field
    with pytest.raises(FormatError, match=f"final frame length {F + 1} exceeds"):
        verify(decryptor, bytes(changed))


def test_a_message_with_more_frames_than_allowed_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decryptor, body = signed(2 * F + 5)  # three frames
    monkeypatch.setattr("securestore.signed.MAX_SEQUENCE_NUMBER", 3)
    verify(decryptor, body)
    monkeypatch.setattr("securestore.signed.MAX_SEQUENCE_NUMBER", 2)
    with pytest.raises(FormatError, match="too many frames"):
        verify(decryptor, body)


# --- FrameDigests.check: later fetches must be the very frames that were signed -------------


def test_the_signed_frames_pass_alone_and_together() -> None:
    decryptor, body = signed(3 * F + 5)
    layout, digests = verify(decryptor, body)
    parts = frames(layout, body)
    for seq, frame in enumerate(parts, start=1):
        digests.check(seq, frame, layout)
    digests.check(1, b"".join(parts), layout)
    digests.check(2, bytearray(b"".join(parts[1:])), layout)
    digests.check(1, b"", layout)  # nothing fetched: nothing to refuse


def test_a_frame_checked_under_another_sequence_number_is_refused() -> None:
    decryptor, body = signed(3 * F + 5)
    layout, digests = verify(decryptor, body)
    one, _, three, _ = frames(layout, body)
    with pytest.raises(AuthenticationError):
        digests.check(2, one, layout)
    with pytest.raises(AuthenticationError):
        digests.check(1, one + three, layout)  # the second of them is not frame 2


@pytest.mark.parametrize("seq", [0, -1, 5, 6])
def test_a_sequence_number_outside_the_message_is_refused(seq: int) -> None:
    decryptor, body = signed(3 * F + 5)  # frames 1..4
    layout, digests = verify(decryptor, body)
    with pytest.raises(AuthenticationError):
        digests.check(seq, frames(layout, body)[0], layout)


def test_a_changed_frame_is_refused_whatever_byte_changed() -> None:
    decryptor, body = signed(F + 5)
    layout, digests = verify(decryptor, body)
    for seq, frame in enumerate(frames(layout, body), start=1):
        for offset in (0, len(frame) // 2, len(frame) - 1):
            changed = bytearray(frame)
            changed[offset] ^= 0x80
            with pytest.raises(AuthenticationError):
                digests.check(seq, changed, layout)


def test_frames_beyond_what_was_recorded_are_refused() -> None:
    decryptor, body = signed(3 * F + 5)
    layout, _ = verify(decryptor, body)
    parts = frames(layout, body)
    partial = FrameDigests()
    partial.record(parts[0])
    partial.record(parts[1])
    assert len(partial) == 2
    partial.check(2, parts[1], layout)
    with pytest.raises(AuthenticationError):
        partial.check(3, parts[2], layout)
    with pytest.raises(AuthenticationError):
        partial.check(1, b"".join(parts), layout)

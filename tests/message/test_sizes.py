"""Size arithmetic against real serialized lengths (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securestore.errors import FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import Encryptor, decrypt, encrypt, parse, sizes

KEYRING = RawAesKeyring("ns", "name", bytes(32))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 700))
def test_ciphertext_length_matches_serialized(length: int, frame_length: int) -> None:
    message = encrypt(bytes(length), KEYRING, frame_length=frame_length)
    header = parse(message)
    assert len(message) == sizes.ciphertext_length(length, frame_length, header.length)
    assert sizes.plaintext_length(len(message), frame_length, header.length) == length
    layout = sizes.Layout.from_ciphertext_length(len(message), frame_length, header.length)
    assert layout.frame_count == sizes.frame_count(length, frame_length)
    assert layout.ciphertext_range(1, layout.frame_count) == (header.length, len(message))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**7), st.integers(1, 2**20), st.data())
def test_layout_ranges_cover_the_request(
    length: int, frame_length: int, data: st.DataObject
) -> None:
    layout = sizes.Layout.for_plaintext(length, frame_length, 100)
    assert layout.plaintext_length == length
    assert layout.body_length == sizes.body_length(length, frame_length)
    start = data.draw(st.integers(0, length))
    end = data.draw(st.integers(start, length))
    first, last = layout.frames_for_range(start, end)
    lo, _ = layout.frame_plaintext_range(first)
    _, hi = layout.frame_plaintext_range(last)
    assert lo <= start and end <= hi
    # Minimal: dropping the first or last frame would lose requested bytes.
    if end > start:
        assert layout.frame_plaintext_range(first)[1] > start
        assert layout.frame_plaintext_range(last)[0] < end
    a, b = layout.ciphertext_range(first, last)
    assert b - a == sum(layout.frame_size(s) for s in range(first, last + 1))
    assert (
        sizes.Layout.from_ciphertext_length(100 + layout.body_length, frame_length, 100) == layout
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 50), st.integers(1, 6))
def test_esdk_style_empty_final_frame_layout(frame_length: int, regular: int) -> None:
    """Another writer's n*F message with an empty final frame still maps exactly."""
    encryptor = Encryptor(KEYRING, frame_length=frame_length)
    plaintext = bytes(range(256)) * ((regular * frame_length) // 256 + 1)
    plaintext = plaintext[: regular * frame_length]
    frames = [
        encryptor.encrypt_frame(
            s, plaintext[(s - 1) * frame_length : s * frame_length], final=False
        )
        for s in range(1, regular + 1)
    ]
    frames.append(encryptor.encrypt_frame(regular + 1, b"", final=True))
    message = encryptor.header_bytes + b"".join(frames)
    assert decrypt(message, KEYRING) == plaintext
    layout = sizes.Layout.from_ciphertext_length(
        len(message), frame_length, len(encryptor.header_bytes)
    )
    assert (layout.regular_frames, layout.final_length) == (regular, 0)
    assert layout.plaintext_length == len(plaintext)


def test_impossible_lengths() -> None:
    with pytest.raises(FormatError):
        sizes.plaintext_length(10, 64, 20)
    with pytest.raises(FormatError):
        sizes.plaintext_length(100 + 40 + 65, 64, 100)  # final frame longer than F

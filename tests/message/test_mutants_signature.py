"""Signed messages, rule by rule (message/signature.py, decrypt.py's signed paths; stop 26).

A mutation pass (docs/mutation.md) found these unpinned by test_tamper.py,
test_stream.py, test_interop.py and test_signature_key.py: **verify_signature with its
footer check deleted still passed them** (no test gave it a wrong signature); the
body walker's structure rules (shared by verify_signature and the stream reader),
where verify_signature decrypts nothing, so the walker is the only check: a signed
final frame longer than the frame length, one exactly as long, the frame limit, which
part a truncation names; and the one-shot decrypt's footer bounds.
Messages are made by our own engine (signing suite 0x0578) in memory; a "forged" one
is written frame by frame by a writer that ignores the frame length and then signed
with the message's own key, so that only the rule under test can refuse it.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable

import pytest

from securestore.errors import AuthenticationError, FormatError
from securestore.keyrings import RawAesKeyring
from securestore.message import AlgorithmSuite, decrypt, decrypt_stream, parse, verify_signature
from securestore.message.encrypt import Encryptor
from securestore.message.signature import MessageSigner, MessageVerifier

F = 64
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
KEYRING = RawAesKeyring("tests", "signature", b"g" * 32)
#: The module (``securestore.message.decrypt`` the attribute is the function).
decrypt_module = importlib.import_module("securestore.message.decrypt")


def forged(sizes: list[int]) -> bytes:
    """A signed message whose frames hold ``sizes`` plaintext bytes (the last one final),
    whatever the frame length ``F`` of its header says; signed correctly."""
    encryptor = Encryptor(KEYRING, frame_length=F, suite=SIGNED)
    cipher = encryptor._cipher
    parts = [bytes(encryptor.header_bytes)]
    for seq, size in enumerate(sizes, 1):
        cipher.frame_length = max(F, size)  # a writer that ignores the frame length
        plaintext = bytes((seq + i) % 251 for i in range(size))
        parts.append(bytes(cipher.encrypt_frame(seq, plaintext, final=seq == len(sizes))))
    cipher.frame_length = F
    signer = encryptor._signer
    assert signer is not None
    for part in parts:
        signer.update(part)
    return b"".join(parts) + signer.footer()


def _stream(message: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(message), out, KEYRING)
    return out.getvalue()


def _verify(message: bytes) -> None:
    verify_signature(io.BytesIO(message), KEYRING)


def _one_shot(message: bytes) -> bytes:
    return bytes(decrypt(message, KEYRING))


READERS: dict[str, Callable[[bytes], object]] = {
    "verify_signature": _verify,
    "decrypt_stream": _stream,
    "decrypt": _one_shot,
}


def _frames(message: bytes) -> tuple[int, list[int]]:
    """The header's length and where each frame and the footer start (``F``-byte frames)."""
    header = parse(message)
    pos, starts = header.length, []
    while message[pos : pos + 4] != b"\xff\xff\xff\xff":
        starts.append(pos)
        pos += 4 + 12 + F + 16
    starts.append(pos)  # the final frame
    length = int.from_bytes(message[pos + 20 : pos + 24], "big")
    starts.append(pos + 4 + 4 + 12 + 4 + length + 16)  # the footer
    return header.length, starts


def test_verify_signature_refuses_a_wrong_signature_and_anything_after_the_footer() -> None:
    message = forged([F, 10])
    _verify(message)
    _, starts = _frames(message)
    flip = bytearray(message)
    flip[-1] ^= 1  # the signature's last byte
    with pytest.raises(AuthenticationError):
        _verify(bytes(flip))
    flip = bytearray(message)
    flip[starts[0] + 20] ^= 1  # a byte of the first frame's ciphertext: never decrypted here
    with pytest.raises(AuthenticationError):
        _verify(bytes(flip))
    with pytest.raises(FormatError, match="unexpected bytes after the end"):
        _verify(message + b"\x00")


@pytest.mark.parametrize("reader", READERS)
def test_a_signed_final_frame_longer_than_the_frame_length_is_refused(reader: str) -> None:
    """Authentic and signed: only the frame-length rule can refuse it (verify_signature
    decrypts nothing, so its walker is the only check there)."""
    with pytest.raises(FormatError, match="final frame length 65 exceeds the frame length"):
        READERS[reader](forged([F, F + 1]))


@pytest.mark.parametrize("reader", READERS)
def test_a_signed_final_frame_exactly_the_frame_length_is_accepted(reader: str) -> None:
    """Neither our writer nor the ESDK's makes one (a plaintext of whole frames ends with
    an empty final frame), but the format allows it."""
    message = forged([F, F])
    result = READERS[reader](message)
    if reader != "verify_signature":
        assert result == bytes((1 + i) % 251 for i in range(F)) + bytes(
            (2 + i) % 251 for i in range(F)
        )


@pytest.mark.parametrize("reader", READERS)
def test_the_frame_limit_holds_for_signed_messages(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decrypt_module, "MAX_SEQUENCE_NUMBER", 3)
    READERS[reader](forged([F, F, 5]))  # three frames: at the limit
    with pytest.raises(FormatError, match="too many frames"):
        READERS[reader](forged([F, F, F, 5]))


@pytest.mark.parametrize("reader", READERS)
def test_each_truncation_names_the_part_it_cut(reader: str) -> None:
    """What a user sees for a cut-off download: which frame, the final frame, or the footer."""
    message = forged([F, F, 7])
    _, starts = _frames(message)
    final, footer = starts[-2], starts[-1]
    for cut in range(starts[0], len(message)):
        with pytest.raises(FormatError) as refused:
            READERS[reader](message[:cut])
        text = str(refused.value)
        if cut in starts[:-1]:  # a frame boundary: nothing of the next frame
            seq = starts.index(cut) + 1
            expected = f"message truncated: frame {seq} and the final frame are missing"
        elif cut < final + 4:  # not even the final frame's marker: it looks like frame 3
            expected = (
                f"message truncated in frame {1 if cut < starts[1] else 2 if cut < final else 3}"
            )
        elif cut < footer and reader == "decrypt" and cut >= final + 24:
            expected = "message truncated in frame 3"  # its size check serves both kinds
        elif cut < footer:
            expected = "message truncated in final frame 3"
        else:
            expected = "message truncated in the footer"
        assert text == expected, (cut, text)


def test_signer_and_verifier_name_no_key() -> None:
    signer = MessageSigner(SIGNED)
    assert repr(signer) == "MessageSigner()"
    assert repr(MessageVerifier(SIGNED, signer.public_key)) == "MessageVerifier()"


def test_the_verifying_pass_of_a_signed_read_accepts_a_final_frame_of_the_frame_length() -> None:
    """securestore.signed.verify_signed, the pass before a signed object is handed out:
    left open in stop 20 (``>`` read as ``>=`` refused such a message; no writer we have
    makes one, this forged one is signed with its own key)."""
    from securestore.message import Decryptor
    from securestore.signed import verify_signed

    for sizes in ([F, F], [F]):
        message = forged(sizes)
        header = parse(message)
        layout, digests = verify_signed(
            Decryptor(header, KEYRING), io.BytesIO(message[header.length :])
        )
        assert layout.plaintext_length == sum(sizes)
        assert len(digests) == layout.frame_count == len(sizes)

"""Tampering with stored client-side objects, detected through every read path.

Each case changes the stored bytes behind the store's back (raw PutObject at the
same key, so the location binding still holds) and checks that get, open and
download_file raise a typed :class:`IntegrityError` subclass, release no
plaintext, and that download_file leaves no file behind and an existing
destination untouched (``assert_rejected``). The message is 4 frames of 4 KiB
plus a final frame of 100 bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    KeyringError,
    NoMatchingKeyError,
    PolicyError,
    SecureStore,
    create_bucket,
)
from securestore.clientside import CONTEXT_BUCKET, CONTEXT_KEY, ClientSide
from securestore.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring
from securestore.message import DecryptPolicy, parse
from tests.clientside.conftest import (
    AES_KEY,
    AES_NAME,
    NAMESPACE,
    OTHER_AES_KEY,
    Raw,
    Stored,
    assert_rejected,
    flip,
)
from tests.conftest import unique_bucket_name
from tests.message import esdk

F = 4096
SIZE = 4 * F + 100
KEY = "tampered/object.bin"


@pytest.fixture
def store(cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring) -> SecureStore:
    return cs_store(aes_keyring, frame_length=F)


@pytest.fixture
def written(store: SecureStore, raw: Raw) -> tuple[bytes, Stored]:
    """The plaintext and the raw stored message at KEY."""
    plaintext = os.urandom(SIZE)
    store.put(KEY, plaintext)
    stored = raw.stored(KEY)
    assert stored.layout.frame_count == 5
    return plaintext, stored


# -- header ------------------------------------------------------------------------------------


def header_offsets(stored: Stored) -> dict[str, int]:
    data, length = stored.data, stored.header.length
    aad_length = int.from_bytes(data[35:37], "big")
    edk_count = 37 + aad_length
    return {
        "version": 0,
        "suite-id-high": 1,
        "suite-id-low": 2,
        "message-id": 3 + 17,
        "aad-length": 36,
        "context": 37 + aad_length - 1,
        "edk-count": edk_count + 1,
        "edk-provider-id-length": edk_count + 3,
        "content-type": length - 53,
        "frame-length": length - 50,
        "commitment": length - 48 + 5,
        "header-tag": length - 1,
    }


HEADER_FIELDS = {
    "version": (0x01, FormatError),
    "suite-id-high": (0x04, FormatError),  # 0x0478 -> 0x0078, a version-1 suite
    "suite-id-low": (0x01, FormatError),  # unknown suite 0x0479
    "message-id": (0x01, AuthenticationError),
    "aad-length": (0x01, FormatError),
    "context": (0x01, IntegrityError),  # the key name changes: another location
    "edk-count": (0x02, FormatError),
    "edk-provider-id-length": (0x01, FormatError),
    "content-type": (0x03, FormatError),  # 0x02 -> 0x01, non-framed
    "frame-length": (0x01, AuthenticationError),
    "commitment": (0x01, AuthenticationError),
    "header-tag": (0x80, AuthenticationError),
}


@pytest.mark.parametrize("field", HEADER_FIELDS)
def test_header_bit_flip(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], field: str, tmp_path: Path
) -> None:
    _, stored = written
    mask, error = HEADER_FIELDS[field]
    raw.put(KEY, flip(stored.data, header_offsets(stored)[field], mask))
    caught = assert_rejected(store, KEY, tmp_path, error)
    if error is AuthenticationError:
        assert caught.message == AuthenticationError.MESSAGE


def test_flipped_wrapped_data_key_cannot_be_unwrapped(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    """A damaged EDK is indistinguishable from one for another key (docs/format.md § 8)."""
    _, stored = written
    edk = stored.header.encrypted_data_keys[0]
    offset = stored.data.index(edk.ciphertext) + 3
    raw.put(KEY, flip(stored.data, offset))
    caught = assert_rejected(store, KEY, tmp_path, NoMatchingKeyError)
    assert isinstance(caught, NoMatchingKeyError)
    assert caught.tried == (f"raw-aes {NAMESPACE}/{AES_NAME}",)


def test_substituted_data_key_is_detected(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    """An EDK of another message at the same location unwraps fine, to the wrong data key."""
    _, stored = written
    store.put(KEY, os.urandom(10))
    donor = raw.stored(KEY).header.encrypted_data_keys[0]
    victim = stored.header.encrypted_data_keys[0]
    # The raw AES provider info holds the wrapping IV: substitute the whole data key.
    old = victim.provider_info + len(victim.ciphertext).to_bytes(2, "big") + victim.ciphertext
    new = donor.provider_info + len(donor.ciphertext).to_bytes(2, "big") + donor.ciphertext
    assert len(old) == len(new) and old != new and stored.data.count(old) == 1
    raw.put(KEY, stored.data.replace(old, new))
    caught = assert_rejected(store, KEY, tmp_path, AuthenticationError)
    assert caught.message == AuthenticationError.MESSAGE


def test_header_of_another_message_fails_on_the_frames(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    _, stored = written
    store.put(KEY, os.urandom(SIZE))
    other = raw.stored(KEY)
    length = stored.header.length
    raw.put(KEY, other.data[: other.header.length] + stored.data[length:])
    assert_rejected(store, KEY, tmp_path, AuthenticationError)


# -- frames ------------------------------------------------------------------------------------


def frame_offsets(stored: Stored) -> dict[str, int]:
    middle, _ = stored.frame(3)
    final, final_end = stored.frame(5)
    return {
        "middle-sequence-number": middle + 3,
        "middle-iv": middle + 4 + 11,
        "middle-ciphertext": middle + 16 + 1000,
        "middle-tag": middle + 16 + F + 15,
        "final-marker": final,
        "final-sequence-number": final + 7,
        "final-iv": final + 8,
        "final-length": final + 23,
        "final-ciphertext": final + 24 + 50,
        "final-tag": final_end - 1,
    }


FRAME_FIELDS = {
    "middle-sequence-number": FormatError,
    "middle-iv": AuthenticationError,
    "middle-ciphertext": AuthenticationError,
    "middle-tag": AuthenticationError,
    "final-marker": FormatError,
    "final-sequence-number": FormatError,
    "final-iv": AuthenticationError,
    "final-length": FormatError,
    "final-ciphertext": AuthenticationError,
    "final-tag": AuthenticationError,
}


@pytest.mark.parametrize("field", FRAME_FIELDS)
def test_frame_bit_flip(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], field: str, tmp_path: Path
) -> None:
    _, stored = written
    raw.put(KEY, flip(stored.data, frame_offsets(stored)[field]))
    caught = assert_rejected(store, KEY, tmp_path, FRAME_FIELDS[field])
    if isinstance(caught, AuthenticationError):
        assert caught.message == AuthenticationError.MESSAGE


def truncations(stored: Stored) -> dict[str, bytes]:
    data = stored.data
    length = stored.header.length
    return {
        "empty": b"",
        "inside-header": data[: length // 2],
        "header-only": data[:length],
        "before-final-frame": data[: stored.frame(5)[0]],
        "before-frame-4": data[: stored.frame(4)[0]],
        "inside-frame-3": data[: stored.frame(3)[0] + 10],
        "inside-final-frame": data[: stored.frame(5)[0] + 20],
        "last-byte": data[:-1],
    }


@pytest.mark.parametrize(
    "cut",
    [
        "empty",
        "inside-header",
        "header-only",
        "before-final-frame",
        "before-frame-4",
        "inside-frame-3",
        "inside-final-frame",
        "last-byte",
    ],
)
def test_truncation(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], cut: str, tmp_path: Path
) -> None:
    _, stored = written
    raw.put(KEY, truncations(stored)[cut])
    assert_rejected(store, KEY, tmp_path, FormatError)


@pytest.mark.parametrize("extra", ["one-byte", "forty-bytes", "a-frame", "final-frame-again"])
def test_appended_bytes(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], extra: str, tmp_path: Path
) -> None:
    _, stored = written
    start, end = stored.frame(5)
    suffix = {
        "one-byte": b"\x00",
        "forty-bytes": os.urandom(40),
        "a-frame": stored.data[slice(*stored.frame(2))],
        "final-frame-again": stored.data[start:end],
    }[extra]
    raw.put(KEY, stored.data + suffix)
    assert_rejected(store, KEY, tmp_path, FormatError)


def swap(data: bytes, a: tuple[int, int], b: tuple[int, int]) -> bytes:
    assert a[1] <= b[0] and a[1] - a[0] == b[1] - b[0]
    return data[: a[0]] + data[b[0] : b[1]] + data[a[1] : b[0]] + data[a[0] : a[1]] + data[b[1] :]


def renumber(frame: bytes, seq: int) -> bytes:
    """A regular frame with its sequence number and IV rewritten to claim position ``seq``."""
    number = seq.to_bytes(4, "big")
    return number + bytes(8) + number + frame[16:]


def test_swapped_frames(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    _, stored = written
    raw.put(KEY, swap(stored.data, stored.frame(1), stored.frame(2)))
    assert_rejected(store, KEY, tmp_path, FormatError)


def test_swapped_frames_with_rewritten_numbers(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    """Renumbering swapped frames does not help: the AAD binds the sequence number."""
    _, stored = written
    data = stored.data
    (a0, a1), (b0, b1) = stored.frame(2), stored.frame(3)
    forged = data[:a0] + renumber(data[b0:b1], 2) + renumber(data[a0:a1], 3) + data[b1:]
    raw.put(KEY, forged)
    assert_rejected(store, KEY, tmp_path, AuthenticationError)


def test_duplicated_frame(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    _, stored = written
    data = stored.data
    (a0, a1), (b0, b1) = stored.frame(2), stored.frame(3)
    raw.put(KEY, data[:b0] + data[a0:a1] + data[b1:])
    assert_rejected(store, KEY, tmp_path, FormatError)


def test_final_frame_moved_forward(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    """Dropping middle frames and keeping the final one: the sequence numbers give it away."""
    _, stored = written
    data = stored.data
    raw.put(KEY, data[: stored.frame(2)[0]] + data[stored.frame(5)[0] :])
    assert_rejected(store, KEY, tmp_path, FormatError)


def test_frame_spliced_from_another_message(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    _, stored = written
    store.put(KEY, os.urandom(SIZE))
    other = raw.stored(KEY)
    start, end = stored.frame(3)
    raw.put(KEY, stored.data[:start] + other.data[start:end] + stored.data[end:])
    assert_rejected(store, KEY, tmp_path, AuthenticationError)


# -- open(): failures surface exactly where the damage is ----------------------------------------


def test_open_reads_up_to_a_tampered_middle_frame(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored]
) -> None:
    plaintext, stored = written
    raw.put(KEY, flip(stored.data, frame_offsets(stored)["middle-ciphertext"]))
    with store.open(KEY) as reader:
        assert reader.read(2 * F) == plaintext[: 2 * F]
        with pytest.raises(AuthenticationError):
            reader.read(1)
        # Frames after the damaged one are still readable at random.
        assert reader.read_range(3 * F, F + 100) == plaintext[3 * F :]
        assert reader.read_range(F - 1, F + 1) == plaintext[F - 1 : 2 * F]
        with pytest.raises(AuthenticationError):
            reader.read_range(2 * F - 1, 2)
        reader.seek(2 * F + 10)
        with pytest.raises(AuthenticationError):
            reader.read(1)


def test_open_raises_at_a_tampered_final_frame_instead_of_eof(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored]
) -> None:
    plaintext, stored = written
    raw.put(KEY, flip(stored.data, frame_offsets(stored)["final-tag"]))
    with store.open(KEY) as reader:
        assert reader.read(4 * F) == plaintext[: 4 * F]
        with pytest.raises(AuthenticationError):
            reader.read()
        with pytest.raises(AuthenticationError):
            reader.read_range(SIZE, 1)
        reader.seek(SIZE + 5)
        with pytest.raises(AuthenticationError):
            reader.read(1)


@pytest.fixture
def esdk_exact_multiple(
    cs_store: Callable[..., SecureStore], aes_keyring: RawAesKeyring, raw: Raw, bucket: str
) -> tuple[SecureStore, bytes, bytes]:
    """An ESDK message of 3 whole frames: it ends with an extra, empty final frame."""
    plaintext = os.urandom(3 * F)
    message = esdk.esdk_encrypt(
        plaintext,
        esdk.aes_master_key(NAMESPACE, AES_NAME, AES_KEY),
        frame_length=F,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: KEY},
    )
    raw.put(KEY, flip(message, len(message) - 1), marker=False)  # the empty final frame's tag
    return cs_store(aes_keyring), plaintext, message


def test_open_raises_at_eof_of_a_tampered_empty_final_frame(
    esdk_exact_multiple: tuple[SecureStore, bytes, bytes], tmp_path: Path
) -> None:
    store, plaintext, _ = esdk_exact_multiple
    with store.open(KEY) as reader:
        assert reader.read(3 * F) == plaintext
        with pytest.raises(AuthenticationError):
            reader.read(1)
    with pytest.raises(AuthenticationError):
        store.download_file(KEY, tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []


def test_get_authenticates_a_tampered_empty_final_frame(
    esdk_exact_multiple: tuple[SecureStore, bytes, bytes],
) -> None:
    store, _, _ = esdk_exact_multiple
    with pytest.raises(AuthenticationError):
        store.get(KEY)


@pytest.mark.parametrize(
    "damage", ["header-tag", "middle-ciphertext", "final-ciphertext", "before-final-frame"]
)
def test_failed_download_to_a_new_path_leaves_no_file(
    store: SecureStore, raw: Raw, written: tuple[bytes, Stored], damage: str, tmp_path: Path
) -> None:
    """Damage found at open, or after other ranges were already written to the temp file."""
    _, stored = written
    if damage == "header-tag":
        data = flip(stored.data, header_offsets(stored)[damage])
    elif damage == "before-final-frame":
        data = truncations(stored)[damage]
    else:
        data = flip(stored.data, frame_offsets(stored)[damage])
    raw.put(KEY, data)
    with pytest.raises(IntegrityError):
        store.download_file(KEY, tmp_path / "new.bin")
    assert list(tmp_path.iterdir()) == []


# -- signed messages (0x0578, written by the ESDK) ----------------------------------------------


@pytest.mark.parametrize("where", ["middle-frame", "signature"])
def test_tampered_signed_message(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    bucket: str,
    where: str,
    tmp_path: Path,
) -> None:
    message = esdk.esdk_encrypt(
        os.urandom(3 * F + 7),
        esdk.aes_master_key(NAMESPACE, AES_NAME, AES_KEY),
        frame_length=F,
        algorithm=esdk.COMMITTING_SIGNED,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: KEY},
    )
    offset = len(message) - 5 if where == "signature" else len(message) // 2
    raw.put(KEY, flip(message, offset), marker=False)
    assert_rejected(cs_store(aes_keyring), KEY, tmp_path, IntegrityError)


# -- location, keys and context -----------------------------------------------------------------


def test_copied_object_needs_relocated(
    store: SecureStore,
    raw: Raw,
    written: tuple[bytes, Stored],
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    connection: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    plaintext, _ = written
    raw.s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": KEY})
    caught = assert_rejected(store, "copy", tmp_path / "same-bucket", IntegrityError)
    assert caught.hint is not None and "relocated" in caught.hint
    assert store.get("copy", relocated=True) == plaintext
    with store.open("copy", relocated=True) as reader:
        assert reader.read_range(F - 1, 2) == plaintext[F - 1 : F + 1]
    store.download_file("copy", tmp_path / "copy.bin", relocated=True)
    assert (tmp_path / "copy.bin").read_bytes() == plaintext

    other_bucket = unique_bucket_name()
    create_bucket(connection, other_bucket)
    raw.s3.copy_object(Bucket=other_bucket, Key=KEY, CopySource={"Bucket": bucket, "Key": KEY})
    elsewhere = SecureStore(
        other_bucket,
        encryption=ClientSide(aes_keyring),
        connection=connection,
        transfer=store.transfer,
    )
    with pytest.raises(IntegrityError):
        elsewhere.get(KEY)
    assert elsewhere.get(KEY, relocated=True) == plaintext


def test_wrong_keyring_reports_what_was_tried(
    cs_store: Callable[..., SecureStore],
    written: tuple[bytes, Stored],
    tmp_path: Path,
) -> None:
    wrong_key = RawAesKeyring(NAMESPACE, AES_NAME, OTHER_AES_KEY)
    caught = assert_rejected(cs_store(wrong_key), KEY, tmp_path / "a", NoMatchingKeyError)
    assert isinstance(caught, NoMatchingKeyError)
    assert caught.tried == (f"raw-aes {NAMESPACE}/{AES_NAME}",)
    assert f"encrypted for: {NAMESPACE} {AES_NAME}" in caught.message
    assert OTHER_AES_KEY.hex() not in str(caught) and AES_KEY.hex() not in str(caught)

    wrong_name = RawAesKeyring(NAMESPACE, "other-name", AES_KEY)
    multi = MultiKeyring(generator=wrong_key, children=[wrong_name])
    with pytest.raises(NoMatchingKeyError) as caught_multi:
        cs_store(multi).get(KEY)
    assert caught_multi.value.tried == (
        f"raw-aes {NAMESPACE}/{AES_NAME}",
        f"raw-aes {NAMESPACE}/other-name",
    )


def test_kms_keyring_on_an_aes_object_and_back(
    cs_store: Callable[..., SecureStore],
    kms_keyring: AwsKmsKeyring,
    second_kms_keyring: AwsKmsKeyring,
    aes_keyring: RawAesKeyring,
    second_kms_key: str,
    kms_key: str,
    written: tuple[bytes, Stored],
) -> None:
    with pytest.raises(NoMatchingKeyError) as caught:
        cs_store(kms_keyring).get(KEY)
    assert caught.value.tried == (f"aws-kms {kms_key}",)
    cs_store(second_kms_keyring).put("kms-object", b"kms")
    with pytest.raises(NoMatchingKeyError) as caught:
        cs_store(kms_keyring).get("kms-object")
    assert caught.value.tried == (f"aws-kms {kms_key}",)
    assert second_kms_key in caught.value.message
    with pytest.raises(NoMatchingKeyError):
        cs_store(aes_keyring).get("kms-object")


@pytest.mark.parametrize(
    ("read_context", "via"),
    [
        ({"tenant": "t-2"}, "call"),
        ({"tenant": "t-1", "extra": "x"}, "call"),
        ({"tenant": "t-2"}, "mode"),
    ],
)
def test_context_mismatch(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    read_context: dict[str, str],
    via: str,
    tmp_path: Path,
) -> None:
    writer = cs_store(aes_keyring, frame_length=F, context={"tenant": "t-1"})
    writer.put("ctx", b"tenant data")
    assert writer.get("ctx") == b"tenant data"
    assert writer.get("ctx", context={"tenant": "t-1"}) == b"tenant data"
    # The header authenticates: the error names the context key that differs (not its
    # value) instead of reporting tampering.
    if via == "call":
        caught = assert_rejected(writer, "ctx", tmp_path, IntegrityError, context=read_context)
    else:
        reader = cs_store(aes_keyring, context=read_context)
        caught = assert_rejected(reader, "ctx", tmp_path, IntegrityError)
    differing = "'extra'" if "extra" in read_context else "'tenant'"
    assert differing in caught.message or differing.strip("'") + "\n" in caught.message + "\n"
    assert "t-1" not in caught.message and "t-2" not in caught.message
    assert not isinstance(caught, AuthenticationError)
    assert "authentication failed" not in str(caught)


def test_context_check_does_not_hide_tampering(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    tmp_path: Path,
) -> None:
    """A wrong context on a tampered header is still an opaque authentication failure."""
    writer = cs_store(aes_keyring, frame_length=F, context={"tenant": "t-1"})
    writer.put("ctx", b"tenant data")
    data = raw.get("ctx")
    raw.put("ctx", flip(data, parse(data).length - 1))  # the header tag
    assert_rejected(writer, "ctx", tmp_path / "a", AuthenticationError, context={"tenant": "t-1"})
    assert_rejected(writer, "ctx", tmp_path / "b", AuthenticationError, context={"tenant": "t-2"})


# -- downgrades ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"plain text", b"\x02\x04\x78" + bytes(200), b"\x01\x80\x04\x78" + bytes(100)],
    ids=["empty", "text", "v2-lookalike", "v1-lookalike"],
)
def test_client_side_store_refuses_a_plain_object(
    store: SecureStore,
    make_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    body: bytes,
    tmp_path: Path,
) -> None:
    make_store().put("plain", body)
    assert_rejected(store, "plain", tmp_path / "a", FormatError)
    # Forging the client-side marker changes nothing.
    raw.put("plain", body, marker=True)
    assert_rejected(store, "plain", tmp_path / "b", FormatError)
    # Neither does an SSE store that demands the client-side mode.
    sse_store = make_store(keyring=aes_keyring)
    assert_rejected(
        sse_store, "plain", tmp_path / "c", FormatError, require=ClientSide(aes_keyring)
    )


def test_sse_store_without_keyring_refuses_a_client_side_object(
    make_store: Callable[..., SecureStore], written: tuple[bytes, Stored], tmp_path: Path
) -> None:
    caught = assert_rejected(make_store(), KEY, tmp_path, KeyringError)
    assert caught.hint is not None and "keyring" in caught.hint


def test_non_committing_suite_needs_opt_in(
    cs_store: Callable[..., SecureStore],
    aes_keyring: RawAesKeyring,
    raw: Raw,
    bucket: str,
    tmp_path: Path,
) -> None:
    from aws_encryption_sdk.identifiers import Algorithm

    plaintext = os.urandom(2 * F + 1)
    message = esdk.esdk_encrypt(
        plaintext,
        esdk.aes_master_key(NAMESPACE, AES_NAME, AES_KEY),
        frame_length=F,
        algorithm=Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        context={CONTEXT_BUCKET: bucket, CONTEXT_KEY: "legacy"},
        client=esdk.LEGACY,
    )
    raw.put("legacy", message, marker=False)
    assert_rejected(cs_store(aes_keyring), "legacy", tmp_path, PolicyError)
    lenient = cs_store(aes_keyring, policy=DecryptPolicy.ALLOW_NON_COMMITTING)
    assert lenient.get("legacy") == plaintext

"""The official AWS Encryption SDK decrypt vectors, on every read path (README in esdk-official/).

Every vector whose keys are local (raw AES, raw RSA) is decrypted in memory, as a
stream, frame by frame and by ranges of frames with the :class:`Decryptor`; a
sample goes through the store. Vectors with AWS KMS keys only are skipped: their
key lives in the ESDK team's account. The invalid set must be rejected everywhere.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from securestore import SecureStore
from securestore.clientside import ClientSide
from securestore.errors import (
    AuthenticationError,
    IntegrityError,
    NoMatchingKeyError,
    PolicyError,
)
from securestore.keyrings import DecryptionMaterials, Keyring
from securestore.message import (
    DecryptingReader,
    Decryptor,
    DecryptPolicy,
    decrypt,
    parse,
    verify_signature,
)
from securestore.message.derivation import content_key
from securestore.message.frames import FINAL_FRAME_OVERHEAD, REGULAR_FRAME_OVERHEAD, FrameCipher
from securestore.transport import Connection
from tests.vectors.esdk_official import INVALID, VALID, Vector, load

VALID_VECTORS = [vector for name in VALID for vector in load(name)]
INVALID_VECTORS = [vector for name in INVALID for vector in load(name)]
KMS_ONLY = "AWS KMS vector: its key is in the ESDK team's AWS account (no local key)"
ALLOW = DecryptPolicy.ALLOW_NON_COMMITTING
REFUSED = (IntegrityError, NoMatchingKeyError)


def _keyring(vector: Vector) -> Keyring:
    keyring = vector.local_keyring()
    if keyring is None:
        pytest.skip(KMS_ONLY)
    return keyring


def _policy(vector: Vector) -> DecryptPolicy:
    return DecryptPolicy.REQUIRE_COMMITTING if vector.suite.committing else ALLOW


def _frames(message: bytes) -> tuple[list[tuple[int, int, bool]], int]:
    """The (start, end, final) of each frame, and where the footer starts."""
    header = parse(message)
    size = header.frame_length + REGULAR_FRAME_OVERHEAD
    frames, pos = [], header.length
    while True:
        final = message[pos : pos + 4] == b"\xff\xff\xff\xff"
        if final:
            end = pos + int.from_bytes(message[pos + 20 : pos + 24], "big") + FINAL_FRAME_OVERHEAD
        else:
            end = pos + size
        frames.append((pos, end, final))
        pos = end
        if final:
            return frames, pos


def test_the_sets_hold_what_the_readme_says() -> None:
    assert len(VALID_VECTORS) == 137 and len(INVALID_VECTORS) == 28
    local = [vector for vector in VALID_VECTORS if vector.local_keyring() is not None]
    assert len(local) == 104
    suites = {vector.suite.value for vector in local}
    assert len(suites) == 11
    assert {vector.cmm for vector in local} == {"Default", "RequiredEncryptionContext"}
    paddings = {spec.get("padding-hash") for vector in local for spec in vector.master_keys} - {
        None
    }
    assert paddings == {"sha256", "sha512"}


@pytest.mark.parametrize("vector", VALID_VECTORS, ids=lambda vector: vector.id)
def test_valid_vector_decrypts_on_every_path(vector: Vector) -> None:
    keyring = _keyring(vector)
    message, plaintext, context = vector.ciphertext, vector.plaintext, vector.context
    policy = _policy(vector)

    assert decrypt(message, keyring, expected_context=context, policy=policy) == plaintext

    reader = DecryptingReader(io.BytesIO(message), keyring, expected_context=context, policy=policy)
    pieces = []
    while piece := reader.read(1000):
        pieces.append(piece)
    assert b"".join(pieces) == plaintext

    decryptor = Decryptor(parse(message), keyring, expected_context=context, policy=policy)
    frames, footer = _frames(message)
    by_frame = b"".join(
        decryptor.decrypt_frame(seq, message[start:end], final=final)
        for seq, (start, end, final) in enumerate(frames, 1)
    )
    assert by_frame == plaintext
    length = decryptor.frame_length
    middle = len(frames) // 2 + 1
    first, _, _ = frames[middle - 1]
    _, last_end, _ = frames[-2] if len(frames) > 1 else frames[-1]
    tail = decryptor.decrypt_frames(middle, message[first:footer], includes_final=True)
    assert tail == plaintext[(middle - 1) * length :]
    if middle < len(frames):
        inner = decryptor.decrypt_frames(middle, message[first:last_end], includes_final=False)
        assert inner == plaintext[(middle - 1) * length : (len(frames) - 1) * length]
    if vector.suite.signed:
        verify_signature(io.BytesIO(message), keyring, expected_context=context, policy=policy)
    else:
        assert footer == len(message)


@pytest.mark.parametrize("vector", VALID_VECTORS, ids=lambda vector: vector.id)
def test_non_committing_vectors_are_refused_by_default(vector: Vector) -> None:
    keyring = _keyring(vector)
    if vector.suite.committing:
        assert decrypt(vector.ciphertext, keyring, expected_context=vector.context)
        return
    with pytest.raises(PolicyError):
        decrypt(vector.ciphertext, keyring, expected_context=vector.context)
    with pytest.raises(PolicyError):
        DecryptingReader(io.BytesIO(vector.ciphertext), keyring, expected_context=vector.context)


@pytest.mark.parametrize(
    "vector",
    [vector for vector in VALID_VECTORS if vector.cmm == "RequiredEncryptionContext"],
    ids=lambda vector: vector.id,
)
def test_required_context_must_be_reproduced(vector: Vector) -> None:
    keyring = _keyring(vector)
    stored = parse(vector.ciphertext).encryption_context
    assert not set(vector.context) & set(stored)  # required pairs are not stored
    policy = ALLOW
    # The raw AES keyring (its AAD is the whole context) or the header tag refuses.
    with pytest.raises(REFUSED):
        decrypt(vector.ciphertext, keyring, policy=policy)
    for name in vector.context:
        partial = {key: value for key, value in vector.context.items() if key != name}
        with pytest.raises(REFUSED):
            decrypt(vector.ciphertext, keyring, expected_context=partial, policy=policy)
        wrong = {**vector.context, name: vector.context[name] + "x"}
        with pytest.raises(REFUSED):
            decrypt(vector.ciphertext, keyring, expected_context=wrong, policy=policy)


@pytest.mark.parametrize("vector", INVALID_VECTORS, ids=lambda vector: vector.id)
def test_invalid_vector_is_rejected(vector: Vector) -> None:
    keyring = _keyring(vector)
    message, context = vector.ciphertext, vector.context
    with pytest.raises(IntegrityError):
        decrypt(message, keyring, expected_context=context, policy=ALLOW)
    with pytest.raises(IntegrityError):
        DecryptingReader(io.BytesIO(message), keyring, expected_context=context, policy=ALLOW)
    header = parse(message)
    with pytest.raises(IntegrityError):
        Decryptor(header, keyring, expected_context=context, policy=ALLOW)
    if header.suite.committing and vector.cmm == "Default":
        # Why: the tag verifies only over the body followed by two zero bytes.
        materials = keyring.unwrap(
            DecryptionMaterials(header.suite, header.encryption_context),
            header.encrypted_data_keys,
        )
        assert materials.data_key is not None
        key = content_key(header.suite, materials.data_key, header.message_id)
        cipher = FrameCipher(header.suite, key, header.message_id, header.frame_length)
        cipher.verify_header(header.body + b"\x00\x00", header.iv, header.auth_tag)
        with pytest.raises(AuthenticationError):
            cipher.verify_header(header.body, header.iv, header.auth_tag)


def _store_sample() -> list[Vector]:
    """One local vector per suite and CMM (and key kind), to keep the store test short."""
    chosen: dict[tuple[int, str, str], Vector] = {}
    for vector in load(VALID[0]):
        if vector.local_keyring() is None:
            continue
        kind = vector.master_keys[0]["key"]
        chosen.setdefault((vector.suite.value, vector.cmm, kind), vector)
    return [chosen[key] for key in sorted(chosen) if key[0] in (0x0078, 0x0478, 0x0578)]


@pytest.mark.parametrize("vector", _store_sample(), ids=lambda vector: vector.id)
def test_official_vector_through_the_store(
    vector: Vector,
    connection: Connection,
    bucket: str,
    make_store: Callable[..., SecureStore],
) -> None:
    keyring = _keyring(vector)
    connection.client("s3").put_object(Bucket=bucket, Key="official", Body=vector.ciphertext)
    plaintext, context = vector.plaintext, vector.context or None
    store = make_store(encryption=ClientSide(keyring, policy=_policy(vector)))
    # The message carries no securestore location: a default read refuses it, and says so.
    with pytest.raises(IntegrityError, match="carries no securestore location") as info:
        store.get("official", context=context)
    assert info.value.hint is not None and "relocated=True" in info.value.hint
    assert store.get("official", context=context, relocated=True) == plaintext
    with store.open("official", context=context, relocated=True) as reader:
        assert reader.read_range(1000, 3000) == plaintext[1000:4000]
    if not vector.suite.committing:
        with pytest.raises(PolicyError):
            make_store(encryption=ClientSide(keyring)).get(
                "official", context=context, relocated=True
            )

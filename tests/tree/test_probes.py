"""tree/probes.py rule by rule: the plaintext length a move checks its copy against.

Objects are written behind the store's back (plain boto3), with or without our
metadata, so that each rule of :func:`stored_plaintext` decides alone: a server
may keep none of the metadata, and another tool's bytes may carry ours.
"""

from __future__ import annotations

import pytest

from securestore import Connection, RawAesKeyring, SecureStore
from securestore.clientside import FORMAT_METADATA, HEADER_PROBE, LENGTH_METADATA
from securestore.errors import PreconditionFailedError
from securestore.message import AlgorithmSuite, encrypt
from securestore.tree.paths import Remote
from securestore.tree.probes import first_client_side, starts_like_message_at, stored_plaintext

KEYRING = RawAesKeyring("securestore", "test", b"p" * 32)
FRAME = 4096
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


@pytest.fixture
def store(connection: Connection, bucket: str) -> SecureStore:
    return SecureStore(bucket, connection=connection)


def _message(length: int, *, suite: AlgorithmSuite | None = None, big: bool = False) -> bytes:
    context = {"padding": "x" * (2 * HEADER_PROBE)} if big else {}
    kwargs = {"suite": suite} if suite else {}
    return bytes(
        encrypt(b"m" * length, KEYRING, encryption_context=context, frame_length=FRAME, **kwargs)
    )


def _put(
    store: SecureStore, key: str, body: bytes, metadata: dict[str, str] | None = None
) -> Remote:
    store.connection.client("s3").put_object(
        Bucket=store.bucket, Key=key, Body=body, Metadata=metadata or {}
    )
    return Remote(store, key)


def _length(side: Remote, *, message: bool) -> int | None:
    return stored_plaintext(side, side.store.head(side.prefix), message=message)


@pytest.mark.parametrize("length", [0, 1, FRAME - 1, FRAME, FRAME + 1, 5 * FRAME + 7])
def test_a_message_without_metadata_is_sized_from_its_layout(
    store: SecureStore, length: int
) -> None:
    side = _put(store, "m", _message(length))
    assert _length(side, message=True) == length
    # Read as not a message (no keyring in play, no metadata): the stored bytes.
    assert _length(side, message=False) == side.store.head("m").size


def test_a_header_longer_than_the_probe_is_read_whole(store: SecureStore) -> None:
    body = _message(3 * FRAME + 5, big=True)
    side = _put(store, "big", body)
    assert _length(side, message=True) == 3 * FRAME + 5


def test_our_metadata_on_a_plain_object_is_not_believed(store: SecureStore) -> None:
    """Another tool's copy carries our metadata on bytes that are no message."""
    side = _put(store, "p", b"plain bytes", {FORMAT_METADATA: "1", LENGTH_METADATA: "999"})
    assert _length(side, message=False) == len(b"plain bytes")
    assert _length(side, message=True) == len(b"plain bytes")


def test_our_metadata_makes_a_message_read_as_one(store: SecureStore) -> None:
    body = _message(FRAME + 3)
    side = _put(store, "m", body, {FORMAT_METADATA: "1"})
    assert _length(side, message=False) == FRAME + 3


def test_an_empty_object_holds_nothing(store: SecureStore) -> None:
    side = _put(store, "empty", b"", {FORMAT_METADATA: "1"})
    assert _length(side, message=True) == 0


def test_a_signed_message_is_sized_only_by_its_metadata(store: SecureStore) -> None:
    body = _message(FRAME + 9, suite=SIGNED)
    assert _length(_put(store, "s", body), message=True) is None
    assert _length(_put(store, "s", body, {LENGTH_METADATA: str(FRAME + 9)}), message=True) == (
        FRAME + 9
    )
    assert _length(_put(store, "s", body, {LENGTH_METADATA: "many"}), message=True) is None


def test_the_probe_is_pinned_to_the_version_it_was_told(store: SecureStore) -> None:
    side = _put(store, "m", _message(10))
    info = store.head("m")
    _put(store, "m", _message(20))
    with pytest.raises(PreconditionFailedError):
        stored_plaintext(side, info, message=True)


def test_starts_like_message_at(store: SecureStore) -> None:
    assert starts_like_message_at(_put(store, "m", _message(5)), store.head("m"))
    assert not starts_like_message_at(_put(store, "p", b"\x02\x04 not a header"), store.head("p"))
    assert not starts_like_message_at(_put(store, "e", b""), store.head("e"))


def test_first_client_side_looks_at_the_first_non_empty_object(store: SecureStore) -> None:
    _put(store, "d/0-empty", b"")
    _put(store, "d/1-message", _message(5))
    _put(store, "d/2-plain", b"plain")
    assert first_client_side(Remote(store, "d/")) == f"s3://{store.bucket}/d/1-message"
    _put(store, "e/1-plain", b"plain")
    _put(store, "e/2-message", _message(5))
    assert first_client_side(Remote(store, "e/")) is None
    _put(store, "f/1-tagged", b"plain", {FORMAT_METADATA: "1"})
    assert first_client_side(Remote(store, "f/")) == f"s3://{store.bucket}/f/1-tagged"
    assert first_client_side(Remote(store, "nothing/")) is None

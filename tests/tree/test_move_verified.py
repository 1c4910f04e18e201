"""mv S3 → S3 deletes a source only when its copy holds as many plaintext bytes.

Another writer replaces the copy between the copy and the check: the source must
stay, whatever the source was: a plain object, a client-side message, or a signed
message whose length no metadata records (its length is then the one the copy read).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from securestore import ClientSide, Connection, RawAesKeyring, SecureStore
from securestore.errors import IntegrityError
from securestore.message import AlgorithmSuite, encrypt
from securestore.tree import TreeProgress, TreeResult, move_tree

MakeStore = Callable[..., SecureStore]
KEYRING = RawAesKeyring("securestore", "test", b"m" * 32)
DATA = bytes(range(256)) * 40


def _put_source(kind: str, store: SecureStore, connection: Connection, bucket: str) -> None:
    if kind != "signed":
        store.put("src/a.txt", DATA)
        return
    # Another ESDK's signed message, bound to its place, with none of our metadata.
    message = encrypt(
        DATA,
        KEYRING,
        encryption_context={"securestore:bucket": bucket, "securestore:key": "src/a.txt"},
        suite=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    )
    connection.client("s3").put_object(
        Bucket=bucket, Key="src/a.txt", Body=bytes(message), ServerSideEncryption="AES256"
    )


def _replace_copy_when_done(connection: Connection, bucket: str) -> Callable[[TreeProgress], None]:
    """A progress callback that overwrites the copy once all its bytes moved."""
    done = [False]

    def progress(snapshot: TreeProgress) -> None:
        if snapshot.bytes_done >= len(DATA) and not done[0]:
            done[0] = True
            connection.client("s3").put_object(
                Bucket=bucket, Key="dst/a.txt", Body=b"short", ServerSideEncryption="AES256"
            )

    return progress


def _move(
    make_store: MakeStore,
    connection: Connection,
    bucket: str,
    kind: str,
    progress: Callable[[TreeProgress], None] | None = None,
) -> tuple[SecureStore, TreeResult]:
    store = make_store(encryption=None if kind == "plain" else ClientSide(KEYRING))
    _put_source(kind, store, connection, bucket)
    return store, move_tree((store, "src/"), (store, "dst/"), progress=progress)


@pytest.mark.parametrize("kind", ["plain", "client-side", "signed"])
def test_mv_keeps_the_source_when_its_copy_lost_bytes(
    make_store: MakeStore, connection: Connection, bucket: str, kind: str
) -> None:
    progress = _replace_copy_when_done(connection, bucket)
    store, result = _move(make_store, connection, bucket, kind, progress)
    assert len(result.failed) == 1, result
    error = result.failed[0].error
    assert isinstance(error, IntegrityError), error
    assert "the source was not deleted" in str(error) and f"expected {len(DATA)}" in str(error)
    assert store.get("src/a.txt") == DATA  # the source is still there and whole


@pytest.mark.parametrize("kind", ["plain", "client-side", "signed"])
def test_mv_deletes_the_source_of_a_whole_copy(
    make_store: MakeStore, connection: Connection, bucket: str, kind: str
) -> None:
    store, result = _move(make_store, connection, bucket, kind)
    assert result.ok and result.done == 1, result
    assert [s.key for s in store.list("")] == ["dst/a.txt"]
    assert store.get("dst/a.txt") == DATA

"""Copies on ``rclone serve s3``: no stored SSE, no UploadPartCopy ETag."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from securestore import (
    ClientSide,
    NotFoundError,
    PolicyError,
    SecureStore,
    SseKms,
    SseS3,
    TransferConfig,
    create_bucket,
)
from securestore.copying import CopyMethod, copy_object
from securestore.keyrings import RawAesKeyring
from securestore.reencrypt import Outcome, Reencryptor, reencrypt
from tests.support.rclone import RcloneEndpoint, RcloneServer, find_rclone

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(find_rclone() is None, reason="rclone is not installed")


@pytest.fixture(scope="module")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneEndpoint]:
    with RcloneServer(tmp_path_factory.mktemp("rclone-copy")) as endpoint:
        yield endpoint


def test_rebind_falls_back_to_streaming_the_ciphertext(rclone: RcloneEndpoint) -> None:
    connection = rclone.connection()
    create_bucket(connection, "copy-rebind")
    keyring = RawAesKeyring("securestore", "default", os.urandom(32))
    store = SecureStore(
        "copy-rebind",
        encryption=ClientSide(keyring),
        connection=connection,
        transfer=TransferConfig(part_size=5 * MiB, concurrency=2),
    )
    plaintext = os.urandom(12 * MiB)
    store.put("old", plaintext)
    result = copy_object(store._reads, store._writes, "old", "new", mode=store.encryption)
    assert result.method is CopyMethod.REBIND_STREAMED  # chosen because the copy had no ETag
    assert store.get("new") == plaintext
    assert store.get("old") == plaintext
    s3 = connection.client("s3")
    assert not s3.list_multipart_uploads(Bucket="copy-rebind").get("Uploads")


def test_a_mode_the_server_cannot_store_is_refused_before_writing(
    rclone: RcloneEndpoint,
) -> None:
    connection = rclone.connection()
    create_bucket(connection, "copy-refused")
    keyring = RawAesKeyring("securestore", "default", os.urandom(32))
    source = SecureStore("copy-refused", encryption=ClientSide(keyring), connection=connection)
    source.put("a", b"client-side data")
    plain = SecureStore("copy-refused", encryption=SseS3(), connection=connection)
    with pytest.raises(PolicyError, match="refused before writing"):
        source.copy("a", plain, "b")
    with pytest.raises(NotFoundError):
        plain.head("b")


def test_reencrypt_never_replaces_data_on_a_server_without_the_operation(
    rclone: RcloneEndpoint,
) -> None:
    """rclone takes ``PUT ?encryption`` for a PutObject: only the probe key may see it."""
    connection = rclone.connection()
    create_bucket(connection, "reencrypt-probe")
    s3 = connection.client("s3")
    s3.put_object(Bucket="reencrypt-probe", Key="keep", Body=b"precious")
    store = SecureStore("reencrypt-probe", connection=connection)
    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert Reencryptor(store, SseKms(arn))._supports_update(arn) is False
    listed = s3.list_objects_v2(Bucket="reencrypt-probe").get("Contents", [])
    assert [o["Key"] for o in listed] == ["keep"]  # the probe object was deleted again
    report = reencrypt(store, "keep", SseS3())
    (entry,) = report.objects
    assert entry.outcome is Outcome.FAILED and "refused before writing" in str(entry.note)
    assert s3.get_object(Bucket="reencrypt-probe", Key="keep")["Body"].read() == b"precious"

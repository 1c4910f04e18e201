"""Re-wrap on ``rclone serve s3``: no UploadPartCopy ETag there, so the body is streamed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from securestore import ClientSide, SecureStore, TransferConfig, create_bucket
from securestore.keyrings import RawAesKeyring
from securestore.message import parse
from securestore.rewrap import Method
from tests.support.rclone import RcloneEndpoint, RcloneServer, find_rclone

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(find_rclone() is None, reason="rclone is not installed")


@pytest.fixture(scope="module")
def rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneEndpoint]:
    with RcloneServer(tmp_path_factory.mktemp("rclone-rewrap")) as endpoint:
        yield endpoint


def test_large_object_falls_back_to_a_streamed_copy(rclone: RcloneEndpoint, tmp_path: Path) -> None:
    connection = rclone.connection()
    create_bucket(connection, "rewrap-stream")
    old_key = RawAesKeyring("securestore", "default", os.urandom(32))
    new_key = RawAesKeyring("securestore", "new", os.urandom(32))
    store = SecureStore(
        "rewrap-stream",
        encryption=ClientSide(old_key),
        connection=connection,
        transfer=TransferConfig(part_size=5 * MiB, concurrency=2),
    )
    plaintext = os.urandom(12 * MiB)
    store.put("big", plaintext)
    s3 = connection.client("s3")
    before = s3.get_object(Bucket="rewrap-stream", Key="big")["Body"].read()
    result = store.rewrap("big", add=[new_key], remove=[old_key])
    assert result.method is Method.STREAMED_COPY  # chosen because the copy had no ETag
    assert result.bytes_copied == 0
    assert result.bytes_fetched >= len(before) - parse(before).length
    after = s3.get_object(Bucket="rewrap-stream", Key="big")["Body"].read()
    assert after[parse(after).length :] == before[parse(before).length :]
    reader = SecureStore("rewrap-stream", encryption=ClientSide(new_key), connection=connection)
    assert reader.get("big") == plaintext
    assert not s3.list_multipart_uploads(Bucket="rewrap-stream").get("Uploads")

    store.put("small", b"small body")
    small = store.rewrap("small", add=[new_key])
    assert small.method is Method.SINGLE_PUT
    assert reader.get("small") == b"small body"

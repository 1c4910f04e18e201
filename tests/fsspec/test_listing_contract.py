"""The fs listing is held to S3's contract: rm(recursive) deletes nothing outside it (rev2 G)."""

from __future__ import annotations

from typing import Any

import pytest

from securestore import Connection, StorageError
from securestore.fs import SecureStoreFileSystem


def test_rm_recursive_never_deletes_a_key_outside_the_prefix(
    connection: Connection, bucket: str, cs_fs: SecureStoreFileSystem
) -> None:
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="important/keep", Body=b"keep")
    s3.put_object(Bucket=bucket, Key="tmp/scratch", Body=b"scratch")

    def outside(parsed: dict[str, Any], **_: Any) -> None:
        contents = parsed.get("Contents")
        if contents:
            contents.insert(0, {**contents[0], "Key": "important/keep"})

    cs_fs._s3(bucket).meta.events.register("after-call.s3.ListObjectsV2", outside)
    with pytest.raises(StorageError, match="outside the prefix was listed: 'important/keep'"):
        cs_fs.rm(f"{bucket}/tmp", recursive=True)
    assert s3.head_object(Bucket=bucket, Key="important/keep")["ContentLength"] == 4

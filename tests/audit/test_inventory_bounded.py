"""Inventory files are read to the sizes the manifest declares, not to the server's EOF (rev2 L6).

A body that never ends (an endless stream claiming a terabyte, swapped in by a
botocore handler on a connection of the test's own) must neither fill the disk
nor the memory: the download stops one byte past the declared size.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from securestore.audit.inventory_fetch import S3Reader
from securestore.audit.inventory_manifest import InventoryError, InventoryFile
from tests.conftest import Endpoint, unique_bucket_name
from tests.store.test_bounded_reads import endless_gets


def test_a_data_file_longer_than_the_manifest_says_is_refused_at_its_size(
    tls_endpoint: Endpoint, tmp_path: Path
) -> None:
    connection = tls_endpoint.connection()
    bucket = unique_bucket_name("inv-endless")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/one.csv.gz", Body=b"0123456789")
    endless_gets(connection, "data/one.csv.gz")
    file = InventoryFile(
        key="data/one.csv.gz",
        size=10,
        md5=hashlib.md5(b"0123456789", usedforsecurity=False).hexdigest(),
    )
    with pytest.raises(InventoryError, match="longer than the 10 bytes"):
        S3Reader(connection).download(bucket, file, tmp_path)
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) <= 11


def test_a_manifest_and_its_checksum_are_read_up_to_a_bound(tls_endpoint: Endpoint) -> None:
    connection = tls_endpoint.connection()
    bucket = unique_bucket_name("inv-endless")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x/manifest.json", Body=b"{}")
    endless_gets(connection, "x/manifest.json")
    with pytest.raises(InventoryError, match="larger than 1024 bytes"):
        S3Reader(connection).read(bucket, "x/manifest.json", limit=1024)

"""Writes through the filesystem: streamed multipart uploads that commit only on close."""

from __future__ import annotations

import gc
import os

import pytest

from securestore import Connection, SecureStore, TransferConfig
from securestore.clientside import ClientSide
from securestore.errors import NotFoundError, SecureStoreError
from securestore.fs import SecureStoreFileSystem
from securestore.keyrings import RawAesKeyring
from securestore.message import parse

MiB = 1024 * 1024
PARTS = TransferConfig(part_size=5 * MiB, concurrency=2)


def uploads(connection: Connection, bucket: str) -> list[object]:
    found: list[object] = (
        connection.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )
    return found


def keys(connection: Connection, bucket: str) -> list[str]:
    listed = connection.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return [item["Key"] for item in listed]


@pytest.fixture
def fs(connection: Connection, key_file: str) -> SecureStoreFileSystem:
    return SecureStoreFileSystem(
        connection=connection, key_file=key_file, transfer=PARTS, skip_instance_cache=True
    )


def test_large_write_streams_a_multipart_client_side_upload(
    bucket: str, fs: SecureStoreFileSystem, connection: Connection
) -> None:
    data = os.urandom(12 * MiB + 12345)
    with fs.open(f"{bucket}/big.bin", "wb") as out:
        for start in range(0, len(data), 300_001):  # writes that align with nothing
            out.write(data[start : start + 300_001])
        assert out.tell() == len(data)
    etag = connection.client("s3").head_object(Bucket=bucket, Key="big.bin")["ETag"]
    assert etag.endswith('-3"')  # three parts: sent while being written
    raw = connection.client("s3").get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert parse(raw).encryption_context["securestore:key"] == "big.bin"
    assert fs.cat_file(f"{bucket}/big.bin") == data
    assert (
        fs.cat_file(f"{bucket}/big.bin", start=6 * MiB, end=6 * MiB + 10)
        == data[6 * MiB : 6 * MiB + 10]
    )


def test_exception_in_with_block_aborts_and_leaves_nothing(
    bucket: str, fs: SecureStoreFileSystem, connection: Connection
) -> None:
    class BoomError(Exception):
        pass

    def write_then_fail() -> None:
        with fs.open(f"{bucket}/half.bin", "wb") as out:
            out.write(os.urandom(11 * MiB))  # the first parts are uploaded already
            raise BoomError

    with pytest.raises(BoomError):
        write_then_fail()
    assert keys(connection, bucket) == []
    assert uploads(connection, bucket) == []


def test_file_dropped_without_close_leaves_nothing(
    bucket: str, fs: SecureStoreFileSystem, connection: Connection
) -> None:
    out = fs.open(f"{bucket}/dropped.bin", "wb")
    out.write(os.urandom(11 * MiB))
    del out
    gc.collect()
    assert keys(connection, bucket) == []
    assert uploads(connection, bucket) == []


def test_discard_leaves_the_previous_object(bucket: str, fs: SecureStoreFileSystem) -> None:
    fs.pipe_file(f"{bucket}/keep.bin", b"previous")
    out = fs.open(f"{bucket}/keep.bin", "wb")
    out.write(b"new content")
    out.discard()
    assert out.closed
    assert fs.cat_file(f"{bucket}/keep.bin") == b"previous"


def test_failed_upload_raises_a_typed_error_on_close(
    connection: Connection, fs: SecureStoreFileSystem
) -> None:
    out = fs.open("no-such-bucket-fsspec-test/x.bin", "wb")
    out.write(b"data")
    with pytest.raises(NotFoundError):
        out.close()
    assert out.closed


def test_exclusive_mode_refuses_an_existing_object(bucket: str, fs: SecureStoreFileSystem) -> None:
    fs.pipe_file(f"{bucket}/x.bin", b"1")
    with pytest.raises(FileExistsError):
        fs.open(f"{bucket}/x.bin", "xb")


def test_store_factory_and_keyring_options(bucket: str, connection: Connection) -> None:
    keyring = RawAesKeyring("securestore", "default", bytes(range(32)))
    by_keyring = SecureStoreFileSystem(
        connection=connection, keyring=keyring, skip_instance_cache=True
    )
    by_keyring.pipe_file(f"{bucket}/k.bin", b"via keyring")

    def factory(name: str) -> SecureStore:
        return SecureStore(name, connection=connection, encryption=ClientSide(keyring))

    by_factory = SecureStoreFileSystem(store=factory, skip_instance_cache=True)
    assert by_factory.cat_file(f"{bucket}/k.bin") == b"via keyring"
    with pytest.raises(SecureStoreError):
        SecureStoreFileSystem(store=factory, key_file="k", skip_instance_cache=True)

"""Reads through the filesystem: few bytes for few columns, authenticated, fail-closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from securestore import Connection, IntegrityError
from securestore.fs import SecureStoreFileSystem
from securestore.message import Layout, parse
from tests.fsspec.conftest import FRAME, GetCounter

Counted = Callable[[], tuple[Connection, GetCounter]]


def wide_frame(rows: int, columns: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(7)  # random doubles: column chunks do not compress
    return pd.DataFrame({f"c{i:02d}": rng.random(rows) for i in range(columns)})


def test_two_of_twenty_columns_fetch_a_fraction_of_the_file(
    bucket: str, counted: Counted, key_file: str
) -> None:
    connection, counter = counted()
    fs = SecureStoreFileSystem(connection=connection, key_file=key_file, frame_length=FRAME)
    df = wide_frame(50_000)  # 8 MB of doubles
    path = f"{bucket}/wide.parquet"
    with fs.open(path, "wb") as out:
        # Two row groups: each column chunk (~200 KB) spans several 64 KiB frames.
        df.to_parquet(out, row_group_size=25_000)
    stored = fs.info(path)["stored_size"]
    assert stored > 7_000_000

    counter.reset()
    table = pq.read_table(path, filesystem=fs, columns=["c03", "c17"])
    pd.testing.assert_frame_equal(table.to_pandas(), df[["c03", "c17"]])
    # 2 columns x 2 row groups = 4 chunks, about 10 % of the file, plus the footer,
    # frame rounding and one frame of read-ahead per read (measured: 16 %, 7 GETs:
    # header, footer, one per chunk).
    assert counter.bytes < stored * 0.25, counter.ranges
    assert counter.requests <= 8, counter.ranges


def test_info_reports_plaintext_size_and_ls_makes_no_object_request(
    bucket: str, counted: Counted, key_file: str, connection: Connection
) -> None:
    conn, counter = counted()
    fs = SecureStoreFileSystem(connection=conn, key_file=key_file, frame_length=FRAME)
    payload = bytes(range(256)) * 1000 + b"tail"
    fs.pipe_file(f"{bucket}/dir/a.bin", payload)
    fs.pipe_file(f"{bucket}/dir/sub/b.bin", b"b")
    raw = connection.client("s3").get_object(Bucket=bucket, Key="dir/a.bin")["Body"].read()
    header = parse(raw)
    layout = Layout.from_ciphertext_length(len(raw), header.frame_length, header.length)
    assert layout.plaintext_length == len(payload) < len(raw)

    counter.reset()
    info = fs.info(f"securestore://{bucket}/dir/a.bin")
    assert counter.requests == 1  # the header; the size comes from HEAD
    fs.info(f"{bucket}/dir/a.bin")
    assert counter.requests == 1  # remembered for this ETag
    assert info["type"] == "file"
    assert info["size"] == len(payload)
    assert info["stored_size"] == len(raw)
    assert fs.size(f"{bucket}/dir/a.bin") == len(payload)

    counter.reset()
    listing = {entry["name"]: entry for entry in fs.ls(f"{bucket}/dir", detail=True)}
    assert counter.requests == 0  # no GetObject per listed object
    assert listing[f"{bucket}/dir/a.bin"]["size"] == len(raw)  # S3's stored size
    assert listing[f"{bucket}/dir/sub"]["type"] == "directory"

    exact = SecureStoreFileSystem(
        connection=conn, key_file=key_file, exact_sizes=True, skip_instance_cache=True
    )
    sizes = {e["name"]: e["size"] for e in exact.ls(f"{bucket}/dir") if e["type"] == "file"}
    assert sizes == {f"{bucket}/dir/a.bin": len(payload)}


def test_tampered_object_raises_integrity_error(
    bucket: str, cs_fs: SecureStoreFileSystem, connection: Connection
) -> None:
    df = wide_frame(5_000, columns=4)
    path = f"{bucket}/t.parquet"
    with cs_fs.open(path, "wb") as out:
        df.to_parquet(out)
    s3 = connection.client("s3")
    raw = bytearray(s3.get_object(Bucket=bucket, Key="t.parquet")["Body"].read())
    raw[len(raw) // 2] ^= 0x01  # one bit inside a frame in the middle of the data
    s3.put_object(
        Bucket=bucket,
        Key="t.parquet",
        Body=bytes(raw),
        Metadata={"securestore-format": "aws-esdk-v2"},
    )
    with pytest.raises(IntegrityError):
        cs_fs.cat_file(path)
    with pytest.raises(IntegrityError):
        pq.read_table(path, filesystem=cs_fs)


def test_client_side_filesystem_refuses_plaintext_objects(
    bucket: str, cs_fs: SecureStoreFileSystem, connection: Connection
) -> None:
    connection.client("s3").put_object(Bucket=bucket, Key="plain.csv", Body=b"a,b\n1,2\n")
    with pytest.raises(IntegrityError):
        cs_fs.cat_file(f"{bucket}/plain.csv")
    with pytest.raises(IntegrityError):
        cs_fs.info(f"{bucket}/plain.csv")
    with pytest.raises(IntegrityError):
        pd.read_csv(f"securestore://{bucket}/plain.csv", storage_options=cs_fs.storage_options)


def test_a_message_for_another_location_is_refused(
    bucket: str, cs_fs: SecureStoreFileSystem, connection: Connection
) -> None:
    cs_fs.pipe_file(f"{bucket}/here.bin", b"secret")
    s3 = connection.client("s3")
    s3.copy_object(Bucket=bucket, Key="there.bin", CopySource={"Bucket": bucket, "Key": "here.bin"})
    with pytest.raises(IntegrityError):
        cs_fs.cat_file(f"{bucket}/there.bin")


def test_server_side_filesystem_reads_and_writes_sse(
    bucket: str, endpoint_options: dict[str, Any], connection: Connection
) -> None:
    fs = fsspec.filesystem("securestore", **endpoint_options)
    fs.pipe_file(f"{bucket}/s.txt", b"server-side")
    head = connection.client("s3").head_object(Bucket=bucket, Key="s.txt")
    assert head["ServerSideEncryption"] == "AES256"
    assert fs.cat_file(f"{bucket}/s.txt") == b"server-side"
    assert fs.info(f"{bucket}/s.txt")["size"] == len(b"server-side")

"""pandas, pyarrow, DuckDB and polars read and write client-side objects through fsspec."""

from __future__ import annotations

from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from securestore import Connection
from securestore.fs import SecureStoreFileSystem
from securestore.message import parse


def frame(rows: int = 1000, columns: int = 4, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"c{i}": rng.random(rows) for i in range(columns)}
    data["label"] = [f"row-{i}" for i in range(rows)]
    return pd.DataFrame(data)


def raw_object(connection: Connection, bucket: str, key: str) -> bytes:
    body: bytes = connection.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_pandas_parquet_round_trip_is_stored_as_message(
    bucket: str, cs_options: dict[str, Any], connection: Connection
) -> None:
    df = frame()
    url = f"securestore://{bucket}/tables/t.parquet"
    df.to_parquet(url, storage_options=cs_options)
    stored = raw_object(connection, bucket, "tables/t.parquet")
    header = parse(stored)  # an Encryption SDK message, bound to its location
    assert header.encryption_context["securestore:key"] == "tables/t.parquet"
    assert b"PAR1" not in stored[:64] and b"row-1" not in stored
    back = pd.read_parquet(url, storage_options=cs_options)
    pd.testing.assert_frame_equal(back, df)


def test_pandas_csv_round_trip(bucket: str, cs_options: dict[str, Any]) -> None:
    df = frame(rows=300)
    url = f"securestore://{bucket}/csv/t.csv"
    df.to_csv(url, index=False, storage_options=cs_options)
    back = pd.read_csv(url, storage_options=cs_options)
    pd.testing.assert_frame_equal(back, df)


def test_reading_needs_only_the_key(
    bucket: str, cs_options: dict[str, Any], endpoint_options: dict[str, Any], key_file: str
) -> None:
    df = frame(rows=50)
    url = f"securestore://{bucket}/k.parquet"
    df.to_parquet(url, storage_options=cs_options)
    reader_options = {**endpoint_options, "key_file": key_file}  # no frame_length, no mode
    pd.testing.assert_frame_equal(pd.read_parquet(url, storage_options=reader_options), df)


def test_pyarrow_dataset_over_a_prefix(bucket: str, cs_fs: SecureStoreFileSystem) -> None:
    parts = [frame(rows=200, seed=seed) for seed in range(3)]
    for i, part in enumerate(parts):
        with cs_fs.open(f"{bucket}/ds/part-{i}.parquet", "wb") as out:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), out)
    dataset = ds.dataset(f"{bucket}/ds", filesystem=cs_fs, format="parquet")
    table = dataset.to_table(columns=["c1", "label"])
    assert table.num_rows == 600
    expected = pd.concat(parts, ignore_index=True)[["c1", "label"]]
    got = table.to_pandas().sort_values("label", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected.sort_values("label", ignore_index=True))


def test_duckdb_reads_through_a_registered_filesystem(
    bucket: str, cs_fs: SecureStoreFileSystem
) -> None:
    duckdb = pytest.importorskip("duckdb")
    df = frame(rows=500)
    with cs_fs.open(f"{bucket}/duck/t.parquet", "wb") as out:
        df.to_parquet(out)
    con = duckdb.connect()
    con.register_filesystem(cs_fs)
    url = f"securestore://{bucket}/duck/t.parquet"
    query = "SELECT sum(c2), count(*) FROM read_parquet($1)"
    total, count = con.execute(query, [url]).fetchone()
    assert count == 500
    assert total == pytest.approx(df["c2"].sum())
    with cs_fs.open(f"{bucket}/duck/u.parquet", "wb") as out:
        df.to_parquet(out)
    glob = f"securestore://{bucket}/duck/*.parquet"
    (count,) = con.execute("SELECT count(*) FROM read_parquet($1)", [glob]).fetchone()
    assert count == 1000


def test_polars_reads_and_writes(bucket: str, cs_fs: SecureStoreFileSystem) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": list(range(100)), "b": [f"x{i}" for i in range(100)]})
    with cs_fs.open(f"{bucket}/pl/t.parquet", "wb") as out:
        df.write_parquet(out)
    with cs_fs.open(f"{bucket}/pl/t.parquet", "rb") as source:
        back = pl.read_parquet(source)
    assert back.equals(df)


def test_fsspec_open_url_with_options(bucket: str, cs_options: dict[str, Any]) -> None:
    with fsspec.open(f"securestore://{bucket}/plain.txt", "wt", **cs_options) as out:
        out.write("hello, encrypted world\n")
    with fsspec.open(f"securestore://{bucket}/plain.txt", "rt", **cs_options) as source:
        assert source.read() == "hello, encrypted world\n"

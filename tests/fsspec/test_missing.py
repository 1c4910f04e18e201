"""A missing object reads as fsspec's FileNotFoundError (and securestore's NotFoundError)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from securestore.errors import NotFoundError
from securestore.fs import ObjectFileNotFoundError, SecureStoreFileSystem

Read = Callable[[SecureStoreFileSystem, str], Any]

READS: dict[str, Read] = {
    "open": lambda fs, path: fs.open(path, "rb"),
    "cat_file": lambda fs, path: fs.cat_file(path),
    "cp_file": lambda fs, path: fs.cp_file(path, path + ".copy"),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_reading_a_missing_object_raises_file_not_found(
    bucket: str, cs_fs: SecureStoreFileSystem, read: Read
) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        read(cs_fs, f"{bucket}/missing.bin")
    assert isinstance(caught.value, ObjectFileNotFoundError)
    assert isinstance(caught.value, NotFoundError)
    assert (caught.value.bucket, caught.value.key) == (bucket, "missing.bin")
    assert not cs_fs.exists(f"{bucket}/missing.bin.copy")


def test_reading_from_a_missing_bucket_raises_file_not_found(cs_fs: SecureStoreFileSystem) -> None:
    with pytest.raises(FileNotFoundError):
        cs_fs.cat_file("no-such-bucket-fsspec-test/x.bin")


def test_get_file_of_a_missing_object_raises_file_not_found_and_writes_nothing(
    bucket: str, cs_fs: SecureStoreFileSystem, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        cs_fs.get_file(f"{bucket}/missing.bin", str(tmp_path / "out.bin"))
    assert not (tmp_path / "out.bin").exists()


def test_pandas_reads_of_a_missing_object_raise_file_not_found_whatever_the_format(
    bucket: str, cs_options: dict[str, Any]
) -> None:
    # pyarrow asks info() first (FileNotFoundError); the CSV reader opens the file.
    with pytest.raises(FileNotFoundError):
        pd.read_parquet(f"securestore://{bucket}/missing.parquet", storage_options=cs_options)
    with pytest.raises(FileNotFoundError):
        pd.read_csv(f"securestore://{bucket}/missing.csv", storage_options=cs_options)

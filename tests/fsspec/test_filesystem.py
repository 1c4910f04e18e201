"""Filesystem operations: prefixes as directories, rm, cp, exists, mkdir, registration."""

from __future__ import annotations

from typing import Any

import fsspec
import pytest

from securestore import Connection
from securestore.errors import ConfigurationError
from securestore.fs import SecureStoreFileSystem


def test_protocol_is_registered_by_the_entry_point() -> None:
    assert fsspec.get_filesystem_class("securestore") is SecureStoreFileSystem


def test_prefixes_behave_as_directories(bucket: str, cs_fs: SecureStoreFileSystem) -> None:
    cs_fs.pipe_file(f"{bucket}/a/b/c.txt", b"c")
    cs_fs.pipe_file(f"{bucket}/a/d.txt", b"dd")
    assert cs_fs.ls(f"securestore://{bucket}/a", detail=False) == [
        f"{bucket}/a/b",
        f"{bucket}/a/d.txt",
    ]
    assert cs_fs.isdir(f"{bucket}/a/b") and cs_fs.isfile(f"{bucket}/a/d.txt")
    assert cs_fs.ls(f"{bucket}/a/d.txt", detail=False) == [f"{bucket}/a/d.txt"]
    assert sorted(cs_fs.find(f"{bucket}/a")) == [f"{bucket}/a/b/c.txt", f"{bucket}/a/d.txt"]
    assert cs_fs.glob(f"{bucket}/a/*.txt") == [f"{bucket}/a/d.txt"]
    assert cs_fs.info(f"{bucket}/a")["type"] == "directory"
    cs_fs.mkdir(f"{bucket}/new/prefix")  # no-op, as in s3fs
    assert not cs_fs.exists(f"{bucket}/new")
    with pytest.raises(FileNotFoundError):
        cs_fs.info(f"{bucket}/missing.txt")
    with pytest.raises(FileNotFoundError):
        cs_fs.ls(f"{bucket}/missing")
    with pytest.raises(FileNotFoundError):
        cs_fs.ls("no-such-bucket-fsspec-test/x")


def test_exists_and_rm(bucket: str, cs_fs: SecureStoreFileSystem) -> None:
    cs_fs.pipe_file(f"{bucket}/x/1.bin", b"1")
    cs_fs.pipe_file(f"{bucket}/x/y/2.bin", b"2")
    assert cs_fs.exists(f"{bucket}/x/1.bin") and cs_fs.exists(f"{bucket}/x")
    assert not cs_fs.exists(f"{bucket}/x/3.bin")
    cs_fs.rm_file(f"{bucket}/x/1.bin")
    assert not cs_fs.exists(f"{bucket}/x/1.bin")
    cs_fs.rm(f"{bucket}/x", recursive=True)
    assert not cs_fs.exists(f"{bucket}/x")


def test_cp_file_re_encrypts_for_the_new_location(
    bucket: str, cs_fs: SecureStoreFileSystem, connection: Connection
) -> None:
    cs_fs.pipe_file(f"{bucket}/src.bin", b"copied secret")
    cs_fs.cp_file(f"{bucket}/src.bin", f"{bucket}/dst/copy.bin")
    assert cs_fs.cat_file(f"{bucket}/dst/copy.bin") == b"copied secret"
    raw = connection.client("s3").get_object(Bucket=bucket, Key="dst/copy.bin")["Body"].read()
    assert b"dst/copy.bin" in raw  # the message is bound to its new key
    assert b"copied secret" not in raw


def test_mkdir_of_a_bare_bucket_creates_it(cs_fs: SecureStoreFileSystem) -> None:
    from tests.conftest import unique_bucket_name

    name = unique_bucket_name("fsmk")
    cs_fs.mkdir(name)
    assert cs_fs.exists(name) and cs_fs.ls(name) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kms_key_id": ["a", "b"]}, "several kms_key_id"),
        ({"kms_key_id": " "}, "empty kms_key_id"),
        ({"sse_kms_key_id": "k"}, "sse_kms_key_id goes with client-side"),
        ({"frame_length": 4096}, "go with client-side"),
        ({"context": ["novalue"]}, "invalid context pair"),
        ({"sse": "rot13"}, "unknown encryption mode"),
    ],
)
def test_contradictory_options_are_refused(
    endpoint_options: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SecureStoreFileSystem(**endpoint_options, **options, skip_instance_cache=True)


def test_plain_http_endpoint_is_refused() -> None:
    from securestore.errors import TransportSecurityError

    with pytest.raises(TransportSecurityError):
        SecureStoreFileSystem(endpoint_url="http://127.0.0.1:1", skip_instance_cache=True)


def test_sse_kms_filesystem_uses_the_key(
    bucket: str, endpoint_options: dict[str, Any], kms_key: str, connection: Connection
) -> None:
    fs = SecureStoreFileSystem(**endpoint_options, kms_key_id=kms_key, skip_instance_cache=True)
    fs.pipe_file(f"{bucket}/k.txt", b"kms")
    head = connection.client("s3").head_object(Bucket=bucket, Key="k.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    strict = SecureStoreFileSystem(
        **endpoint_options, require="kms", kms_key_id=kms_key, skip_instance_cache=True
    )
    assert strict.cat_file(f"{bucket}/k.txt") == b"kms"

"""Bad input is refused with a typed error, and nothing is written anywhere."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from securestore import (
    ConfigurationError,
    Connection,
    DsseKms,
    EncryptionMode,
    InvalidLocationError,
    KeyUnavailableError,
    LocalFileError,
    NotFoundError,
    S3Url,
    SecureStore,
    SseKms,
)
from tests.store.conftest import PART, list_uploads

BAD_BUCKETS = [
    "Bad_Name",
    "UPPER",
    "ab",
    "a" * 64,
    "",
    "192.168.1.1",
    "-leading",
    "trailing-",
    ".dot",
    "two..dots",
    "dot-.dash",
    "xn--punycode",
    "sthree-reserved",
    "bucket-s3alias",
    "bucket--ol-s3",
    "under_score",
    "spa ce",
    "bucket/key",
]


@pytest.mark.parametrize("name", BAD_BUCKETS)
def test_invalid_bucket_names(name: str, connection: Connection) -> None:
    with pytest.raises(InvalidLocationError) as info:
        SecureStore(name, connection=connection)
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, ValueError)
    assert info.value.hint


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "1bucket", "192.168.1.1a"])
def test_valid_bucket_names(name: str, connection: Connection) -> None:
    assert SecureStore(name, connection=connection).bucket == name


@pytest.mark.parametrize(
    "url",
    [
        "bucket/key",
        "http://bucket/key",
        "S3://bucket/key",
        "s3:/bucket/key",
        "s3://",
        "s3:///key",
        "s3://Bad_Bucket/key",
        "s3://ab/key",
        "s3://bucket/" + "k" * 1025,
        "s3://bucket/\udc80",
    ],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidLocationError):
        S3Url.parse(url)


@pytest.mark.parametrize("url", ["s3://bucket", "s3://bucket/"])
def test_url_without_key_when_one_is_required(url: str) -> None:
    with pytest.raises(InvalidLocationError):
        S3Url.parse(url, require_key=True)


@pytest.mark.parametrize(
    ("url", "bucket_name", "key"),
    [
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://bucket/a", "bucket", "a"),
        ("s3://bucket/dir/sub/file.txt", "bucket", "dir/sub/file.txt"),
        ("s3://bucket//double", "bucket", "/double"),
        ("s3://bucket/é ü", "bucket", "é ü"),
        ("s3://bucket/" + "k" * 1024, "bucket", "k" * 1024),
    ],
)
def test_well_formed_urls(url: str, bucket_name: str, key: str) -> None:
    parsed = S3Url.parse(url)
    assert (parsed.bucket, parsed.key) == (bucket_name, key)
    assert S3Url.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    "key", ["", "k" * 1025, "é" * 513, "\ud800"], ids=["empty", "long", "long-utf8", "surrogate"]
)
def test_invalid_keys_are_refused_before_any_request(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, key: str, tmp_path: Path
) -> None:
    sent: list[str] = []
    fault_connection.client("s3").meta.events.register("before-send", lambda **_: sent.append("x"))
    store = fault_store()
    source = tmp_path / "f"
    source.write_bytes(b"x")
    for call in (
        lambda: store.put(key, b"x"),
        lambda: store.upload_file(source, key),
        lambda: store.get(key),
        lambda: store.head(key),
        lambda: store.open(key),
        lambda: store.download_file(key, tmp_path / "out"),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidLocationError):
            call()
    assert sent == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# -- missing bucket or key ---------------------------------------------------------------------


def test_missing_bucket_is_not_found(connection: Connection, tmp_path: Path) -> None:
    store = SecureStore("securestore-no-such-bucket", connection=connection)
    source = tmp_path / "f"
    source.write_bytes(b"x")
    calls: dict[str, Callable[[], Any]] = {
        "put": lambda: store.put("k", b"x"),
        "upload_file": lambda: store.upload_file(source, "k"),
        "get": lambda: store.get("k"),
        "head": lambda: store.head("k"),
        "open": lambda: store.open("k"),
        "download_file": lambda: store.download_file("k", tmp_path / "out"),
        "delete": lambda: store.delete("k"),
        "list": lambda: next(store.list()),
    }
    for name, call in calls.items():
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.bucket == store.bucket, name
        assert "bucket" in str(info.value), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_missing_key_is_not_found(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    for call in (
        lambda: store.get("missing"),
        lambda: store.head("missing"),
        lambda: store.open("missing"),
        lambda: store.download_file("missing", tmp_path / "out"),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert (info.value.bucket, info.value.key) == (store.bucket, "missing")
    assert list(tmp_path.iterdir()) == []


# -- KMS keys ----------------------------------------------------------------------------------

UNKNOWN_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"


def unusable_modes(disabled_key: str) -> dict[str, EncryptionMode]:
    return {
        "unknown-id": SseKms("00000000-0000-0000-0000-000000000000"),
        "unknown-arn": SseKms(UNKNOWN_KEY),
        "unknown-alias": SseKms("alias/securestore-no-such-alias"),
        "unknown-dsse": DsseKms(UNKNOWN_KEY),
        "disabled": SseKms(disabled_key),
    }


@pytest.fixture(scope="module")
def disabled_key(connection: Connection) -> str:
    kms = connection.client("kms")
    key_id: str = kms.create_key(Description="securestore tests: disabled")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    return key_id


@pytest.mark.parametrize(
    "mode_name", ["unknown-id", "unknown-arn", "unknown-alias", "unknown-dsse", "disabled"]
)
@pytest.mark.parametrize("size", [1, PART + 1], ids=["single", "multipart"])
def test_unusable_kms_key_writes_nothing(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    disabled_key: str,
    tmp_path: Path,
    mode_name: str,
    size: int,
) -> None:
    mode = unusable_modes(disabled_key)[mode_name]
    store = fault_store()
    sent: list[str] = []
    fault_connection.client("s3").meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(request.method)
    )
    source = tmp_path / "f"
    source.write_bytes(b"x" * size)
    with pytest.raises(KeyUnavailableError) as info:
        store.put("k", b"x" * size, encryption=mode)
    assert info.value.bucket == store.bucket
    if mode_name != "disabled":
        assert isinstance(info.value.__cause__, botocore.exceptions.ClientError)
    with pytest.raises(KeyUnavailableError):
        store.upload_file(source, "k", encryption=mode)
    with pytest.raises(KeyUnavailableError):
        fault_store(encryption=mode).put("k", b"x" * size)
    assert sent == []
    assert list_uploads(fault_connection, bucket) == []
    with pytest.raises(NotFoundError):
        store.head("k")


# -- bodies and metadata -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["text, not bytes", ["a", "b"], [b"ok", 3]],
    ids=["str", "iterable-of-str", "mixed-iterable"],
)
def test_body_that_is_not_bytes_is_a_configuration_error(
    make_store: Callable[..., SecureStore], body: Any
) -> None:
    store = make_store()
    with pytest.raises(ConfigurationError):
        store.put("k", body)
    with pytest.raises(NotFoundError):
        store.head("k")


def test_text_mode_file_is_a_configuration_error(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    source = tmp_path / "text.txt"
    source.write_text("hello")
    store = make_store()
    with source.open("r") as handle, pytest.raises(ConfigurationError):
        store.put("k", handle)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.head("k")


@pytest.mark.parametrize(
    "metadata",
    [
        {"": "v"},
        {"has space": "v"},
        {"naïve": "v"},
        {"a:b": "v"},
        {"a/b": "v"},
        {"ok": "vålue"},
        {"ok": 1},
        {2: "v"},
    ],
    ids=[
        "empty",
        "space",
        "non-ascii-name",
        "colon",
        "slash",
        "non-ascii-value",
        "int-value",
        "int-name",
    ],
)
def test_invalid_metadata_is_a_configuration_error(
    make_store: Callable[..., SecureStore], tmp_path: Path, metadata: dict[Any, Any]
) -> None:
    store = make_store()
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(ConfigurationError):
        store.put("k", b"x", metadata=metadata)
    with pytest.raises(ConfigurationError):
        store.upload_file(source, "k", metadata=metadata)
    with pytest.raises(NotFoundError):
        store.head("k")


# -- local files -------------------------------------------------------------------------------


def test_upload_of_missing_file(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    with pytest.raises(LocalFileError) as info:
        store.upload_file(tmp_path / "nope.bin", "k")
    assert "nope.bin" in str(info.value)
    with pytest.raises(NotFoundError):
        store.head("k")


def test_upload_of_a_directory(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    with pytest.raises(LocalFileError):
        store.upload_file(tmp_path, "k")
    with pytest.raises(NotFoundError):
        store.head("k")


def test_download_into_missing_folder_creates_it(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("k", b"data")
    store.download_file("k", tmp_path / "restore" / "deeper" / "out.bin")
    assert (tmp_path / "restore" / "deeper" / "out.bin").read_bytes() == b"data"


def test_failed_download_removes_the_folders_it_created(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    with pytest.raises(NotFoundError):
        store.download_file("missing", tmp_path / "restore" / "deeper" / "out.bin")
    assert list(tmp_path.iterdir()) == []


def test_download_under_a_file_is_refused(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("k", b"data")
    (tmp_path / "file").write_bytes(b"keep")
    with pytest.raises(LocalFileError):
        store.download_file("k", tmp_path / "file" / "sub" / "out.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_download_onto_a_directory(make_store: Callable[..., SecureStore], tmp_path: Path) -> None:
    store = make_store()
    store.put("k", b"data")
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_bytes(b"keep")
    with pytest.raises(LocalFileError):
        store.download_file("k", target)
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert (target / "inside").read_bytes() == b"keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_download_into_read_only_folder(
    make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    store = make_store()
    store.put("k", b"data")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(LocalFileError):
            store.download_file("k", folder / "out.bin")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)

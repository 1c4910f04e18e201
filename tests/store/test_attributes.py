"""Object attributes on the write path: storage class and content headers, end to end.

Every assertion reads what S3 stored through a plain boto3 ``head_object``.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import (
    ArchivedObjectError,
    ClientSide,
    ConfigurationError,
    Connection,
    ObjectAttributes,
    RawAesKeyring,
    SecureStore,
    SseKms,
)
from securestore.attributes import CONTENT_ENCODING_METADATA
from tests.store.conftest import PART

BIG = random.Random(11).randbytes(PART + 100)
EXPIRES = datetime.datetime(2031, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
ALL = ObjectAttributes(
    storage_class="STANDARD_IA",
    cache_control="max-age=3600",
    content_encoding="gzip",
    content_disposition='attachment; filename="a.gz"',
    content_language="de-CH",
    expires=EXPIRES,
)
STORED = {
    "StorageClass": "STANDARD_IA",
    "CacheControl": "max-age=3600",
    "ContentEncoding": "gzip",
    "ContentDisposition": 'attachment; filename="a.gz"',
    "ContentLanguage": "de-CH",
}


def head(connection: Connection, bucket: str, key: str) -> dict[str, Any]:
    """What S3 stored, through plain boto3."""
    response: dict[str, Any] = connection.client("s3").head_object(Bucket=bucket, Key=key)
    return response


def stored(connection: Connection, bucket: str, key: str) -> dict[str, Any]:
    """The attribute fields of the stored object (``Expires`` as a datetime)."""
    answer = head(connection, bucket, key)
    fields = (*STORED, "Expires")
    return {name: answer.get(name) for name in fields if answer.get(name) is not None}


def sent(connection: Connection) -> list[str]:
    """The names of the S3 operations sent on ``connection`` from now on."""
    names: list[str] = []
    connection.client("s3").meta.events.register(
        "before-send.s3.*", lambda request, **_: names.append(str(request.url))
    )
    return names


def keyring() -> RawAesKeyring:
    return RawAesKeyring("securestore-tests", "attributes", bytes(range(32)))


@pytest.mark.parametrize("body", [b"small body", BIG], ids=["put-object", "multipart"])
def test_put_stores_every_attribute(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, body: bytes
) -> None:
    make_store().put("k", body, attributes=ALL, content_type="application/gzip")
    assert stored(connection, bucket, "k") == {**STORED, "Expires": EXPIRES}
    assert head(connection, bucket, "k")["ContentType"] == "application/gzip"


@pytest.mark.parametrize("size", [10, PART + 1], ids=["put-object", "multipart"])
def test_upload_file_stores_every_attribute(
    make_store: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    tmp_path: Path,
    size: int,
) -> None:
    source = tmp_path / "f.gz"
    source.write_bytes(bytes(size))
    make_store(encryption=SseKms(None)).upload_file(source, "k", attributes=ALL)
    assert stored(connection, bucket, "k") == {**STORED, "Expires": EXPIRES}


def test_unknown_storage_class_is_refused_before_any_request(
    fault_store: Callable[..., SecureStore], fault_connection: Connection
) -> None:
    store = fault_store()
    urls = sent(fault_connection)
    with pytest.raises(ConfigurationError) as info:
        store.put("k", b"x", attributes=ObjectAttributes(storage_class="glacier"))
    assert "invalid storage class 'glacier'" in str(info.value)
    assert "DEEP_ARCHIVE" in (info.value.hint or "")
    assert urls == []


@pytest.mark.parametrize("value", ["", "a\nb", "café"], ids=["empty", "newline", "non-ascii"])
def test_header_values_s3_would_mangle_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError):
        ObjectAttributes(cache_control=value)


@pytest.mark.parametrize("body", [b"small body", BIG], ids=["put-object", "multipart"])
def test_client_side_content_encoding_is_metadata_not_the_header(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, body: bytes
) -> None:
    """A Content-Encoding: gzip header over ciphertext would make HTTP clients gunzip it."""
    store = make_store(encryption=ClientSide(keyring()))
    store.put("k", body, attributes=ALL)
    answer = head(connection, bucket, "k")
    assert "ContentEncoding" not in answer
    assert answer["Metadata"][CONTENT_ENCODING_METADATA] == "gzip"
    assert {k: v for k, v in stored(connection, bucket, "k").items()} == {
        **{k: v for k, v in STORED.items() if k != "ContentEncoding"},
        "Expires": EXPIRES,
    }
    assert store.get("k") == body


def test_reserved_content_encoding_metadata_cannot_be_set_by_hand(
    make_store: Callable[..., SecureStore],
) -> None:
    with pytest.raises(ConfigurationError):
        make_store().put("k", b"x", metadata={CONTENT_ENCODING_METADATA: "gzip"})


# -- archived objects ---------------------------------------------------------------------


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_reading_an_archived_object_is_a_typed_error_with_a_restore_hint(
    make_store: Callable[..., SecureStore], tmp_path: Path, storage_class: str
) -> None:
    store = make_store()
    store.put("cold", b"frozen", attributes=ObjectAttributes(storage_class=storage_class))
    with pytest.raises(ArchivedObjectError) as info:
        store.get("cold")
    assert info.value.code == "InvalidObjectState"
    assert (info.value.bucket, info.value.key) == (store.bucket, "cold")
    assert "restore-object" in (info.value.hint or "")
    target = tmp_path / "out"
    with pytest.raises(ArchivedObjectError):
        store.download_file("cold", target)
    assert not target.exists()


def test_fsspec_open_for_writing_takes_attributes(connection: Connection, bucket: str) -> None:
    from securestore.fs import SecureStoreFileSystem

    fs = SecureStoreFileSystem(connection=connection, skip_instance_cache=True)
    with fs.open(f"{bucket}/k", "wb", attributes=ALL) as out:
        out.write(b"written through fsspec")
    assert stored(connection, bucket, "k") == {**STORED, "Expires": EXPIRES}

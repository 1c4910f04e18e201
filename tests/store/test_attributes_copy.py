"""Copies keep the source's storage class and content headers (as ``aws s3 cp`` does);
attributes given explicitly override them. Asserted through plain boto3 ``head_object``.

Every mechanism of :mod:`securestore.copying` is covered: CopyObject (with and
without replaced metadata), multipart UploadPartCopy, the streamed copies that
decrypt or encrypt, the client-side re-bind, reencrypt's in-place copy and
rewrap's rewrite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from securestore import (
    ClientSide,
    Connection,
    ObjectAttributes,
    RawAesKeyring,
    SecureStore,
    SseKms,
    SseS3,
    create_bucket,
)
from securestore.attributes import CONTENT_ENCODING_METADATA
from securestore.copying import CopyLimits, CopyMethod, copy_object
from securestore.reencrypt import reencrypt
from tests.conftest import SMALL_TRANSFER, unique_bucket_name
from tests.store.test_attributes import ALL, EXPIRES, STORED, head, stored

MiB = 1024 * 1024
SMALL_LIMITS = CopyLimits(multipart_threshold=6 * MiB, part_size=5 * MiB)
EVERYTHING = {**STORED, "Expires": EXPIRES}
WITHOUT_ENCODING = {k: v for k, v in EVERYTHING.items() if k != "ContentEncoding"}


@pytest.fixture
def other(connection: Connection) -> Iterator[str]:
    name = unique_bucket_name("attr-dst")
    create_bucket(connection, name)
    yield name
    s3 = connection.client("s3")
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=name, Delete={"Objects": keys})


def keyring(name: str = "attributes") -> RawAesKeyring:
    return RawAesKeyring("securestore-tests", name, bytes(range(32)))


def put_plain(connection: Connection, bucket: str, key: str, body: bytes) -> None:
    """A source written by plain boto3 with every attribute (not through securestore)."""
    connection.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/gzip",
        Metadata={"owner": "ops"},
        ServerSideEncryption="AES256",
        Expires=EXPIRES,
        **STORED,
    )


@pytest.mark.parametrize(
    ("size", "method"),
    [(100, CopyMethod.COPY_OBJECT), (7 * MiB, CopyMethod.MULTIPART_COPY)],
    ids=["copy-object", "multipart-copy"],
)
def test_server_side_copy_keeps_storage_class_and_headers(
    make_store: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    other: str,
    size: int,
    method: CopyMethod,
) -> None:
    put_plain(connection, bucket, "src", bytes(size))
    source, destination = make_store(), SecureStore(other, connection=connection)
    result = copy_object(
        source._reads, destination._writes, "src", "dst", mode=SseS3(), limits=SMALL_LIMITS
    )
    assert result.method is method
    assert stored(connection, other, "dst") == EVERYTHING
    assert head(connection, other, "dst")["Metadata"] == {"owner": "ops"}


def test_copy_with_replaced_metadata_keeps_the_other_headers(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str
) -> None:
    """MetadataDirective REPLACE: every kept header must be sent again (Expires was lost)."""
    put_plain(connection, bucket, "src", b"data")
    store = make_store()
    store.copy("src", store, "dst", metadata={"team": "dev"}, content_type="text/plain")
    assert stored(connection, bucket, "dst") == EVERYTHING
    assert head(connection, bucket, "dst")["Metadata"] == {"team": "dev"}


@pytest.mark.parametrize("size", [100, 7 * MiB], ids=["copy-object", "multipart-copy"])
def test_explicit_attributes_override_the_source_s(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, size: int
) -> None:
    put_plain(connection, bucket, "src", bytes(size))
    store = make_store()
    override = ObjectAttributes(storage_class="ONEZONE_IA", cache_control="no-store")
    copy_object(
        store._reads,
        store._writes,
        "src",
        "dst",
        mode=SseS3(),
        attributes=override,
        limits=SMALL_LIMITS,
    )
    assert stored(connection, bucket, "dst") == {
        **EVERYTHING,
        "StorageClass": "ONEZONE_IA",
        "CacheControl": "no-store",
    }
    # Metadata and content type are still the source's.
    answer = head(connection, bucket, "dst")
    assert answer["Metadata"] == {"owner": "ops"}
    assert answer["ContentType"] == "application/gzip"


def test_explicit_storage_class_alone_keeps_the_copy_directive(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str
) -> None:
    put_plain(connection, bucket, "src", b"data")
    store = make_store()
    store.copy("src", store, "dst", attributes=ObjectAttributes(storage_class="STANDARD"))
    answer = head(connection, bucket, "dst")
    assert answer.get("StorageClass", "STANDARD") == "STANDARD"
    assert {k: v for k, v in stored(connection, bucket, "dst").items()} == {
        k: v for k, v in EVERYTHING.items() if k != "StorageClass"
    }


@pytest.mark.parametrize("size", [100, 7 * MiB], ids=["single-part", "multipart"])
def test_client_side_source_copied_decrypted_gets_its_encoding_header_back(
    connection: Connection, bucket: str, other: str, size: int
) -> None:
    source = SecureStore(
        bucket, encryption=ClientSide(keyring()), connection=connection, transfer=SMALL_TRANSFER
    )
    source.put("src", bytes(size), attributes=ALL)
    destination = SecureStore(other, connection=connection, transfer=SMALL_TRANSFER)
    result = source.copy("src", destination, "dst", encryption=SseS3())
    assert stored(connection, other, "dst") == EVERYTHING
    assert CONTENT_ENCODING_METADATA not in head(connection, other, "dst")["Metadata"]
    assert destination.get("dst") == bytes(size)
    assert result.size == size


def test_server_side_source_copied_encrypted_keeps_its_encoding_as_metadata(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, other: str
) -> None:
    put_plain(connection, bucket, "src", b"gzip bytes")
    destination = SecureStore(other, encryption=ClientSide(keyring()), connection=connection)
    make_store().copy("src", destination, "dst")
    answer = head(connection, other, "dst")
    assert "ContentEncoding" not in answer
    assert answer["Metadata"][CONTENT_ENCODING_METADATA] == "gzip"
    assert stored(connection, other, "dst") == WITHOUT_ENCODING
    assert destination.get("dst") == b"gzip bytes"


@pytest.mark.parametrize("size", [100, 7 * MiB], ids=["single-part", "multipart"])
def test_rebound_client_side_copy_keeps_attributes(
    connection: Connection, bucket: str, other: str, size: int
) -> None:
    mode = ClientSide(keyring())
    source = SecureStore(bucket, encryption=mode, connection=connection, transfer=SMALL_TRANSFER)
    source.put("src", bytes(size), attributes=ALL)
    destination = SecureStore(other, encryption=mode, connection=connection)
    source.copy("src", destination, "dst")
    answer = head(connection, other, "dst")
    assert answer["Metadata"][CONTENT_ENCODING_METADATA] == "gzip"
    assert stored(connection, other, "dst") == WITHOUT_ENCODING
    assert destination.get("dst") == bytes(size)


def test_rebind_with_explicit_attributes_overrides(
    connection: Connection, bucket: str, other: str
) -> None:
    mode = ClientSide(keyring())
    source = SecureStore(bucket, encryption=mode, connection=connection)
    source.put("src", b"data", attributes=ALL)
    destination = SecureStore(other, encryption=mode, connection=connection)
    override = ObjectAttributes(content_encoding="br", content_language="fr")
    source.copy("src", destination, "dst", attributes=override)
    answer = head(connection, other, "dst")
    assert answer["Metadata"][CONTENT_ENCODING_METADATA] == "br"
    assert answer["ContentLanguage"] == "fr"
    assert "ContentEncoding" not in answer


def test_reencrypt_in_place_keeps_storage_class_and_headers(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str, kms_key: str
) -> None:
    put_plain(connection, bucket, "src", b"data")
    reencrypt(make_store(), "src", SseKms(kms_key))
    answer = head(connection, bucket, "src")
    assert answer["ServerSideEncryption"] == "aws:kms"
    assert stored(connection, bucket, "src") == EVERYTHING
    assert answer["Metadata"] == {"owner": "ops"}


def test_rewrap_keeps_storage_class_and_headers(connection: Connection, bucket: str) -> None:
    mode = ClientSide(keyring())
    store = SecureStore(bucket, encryption=mode, connection=connection)
    store.put("src", b"data", attributes=ALL)
    store.rewrap("src", add=[keyring("second")])
    assert stored(connection, bucket, "src") == WITHOUT_ENCODING
    assert head(connection, bucket, "src")["Metadata"][CONTENT_ENCODING_METADATA] == "gzip"


def test_server_side_copy_with_replaced_headers_keeps_the_securestore_entries(
    make_store: Callable[..., SecureStore], connection: Connection, bucket: str
) -> None:
    """The bytes are the source's, so what describes them (the stored mtime) stays true."""
    store = make_store()
    store.put("src", b"data", metadata={"securestore-mtime": "1700000000.000000", "a": "1"})
    store.copy("src", store, "dst", attributes=ObjectAttributes(cache_control="no-cache"))
    answer = head(connection, bucket, "dst")
    assert answer["Metadata"] == {"securestore-mtime": "1700000000.000000", "a": "1"}
    assert answer["CacheControl"] == "no-cache"

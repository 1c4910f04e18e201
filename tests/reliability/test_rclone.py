"""securestore against ``rclone serve s3``: a strict (SigV4-checking) S3 server without SSE.

What rclone 1.75 does that matters here (measured by these tests):

* it checks SigV4 signatures and refuses aws-chunked uploads (``MissingContentLength``),
  so the transport's ``checksum="when_required"`` default on custom endpoints is needed;
* it stores no server-side encryption: PutObject, CreateMultipartUpload and
  CompleteMultipartUpload responses carry no ``ServerSideEncryption``, so every
  SSE write is refused with PolicyError (which is right), before the existing
  object is replaced (the store checks the mode with an aborted multipart
  upload before a single PutObject); yet HEAD/GET echo the SSE headers a write sent, so a read with
  ``require=SseS3()`` of such an object passes although the bytes on disk are plain;
* it returns user-metadata names capitalised (``Securestore-Format``);
* it ignores ``If-Match`` on GET and ``If-None-Match`` on PUT;
* after a multipart upload it reports the object's plain MD5 as ETag (not ``<md5>-N``),
  and ListMultipartUploads answers NoSuchUpload for a bucket that never had one.

Client-side encryption without SSE is what round-trips against it
(:data:`CLIENT_SIDE_MODES`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from securestore import (
    AccessDeniedError,
    ClientSide,
    Connection,
    EncryptionMode,
    KeyUnavailableError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    RawAesKeyring,
    SecureStore,
    SecureStoreError,
    SseKms,
    SseS3,
    TransferConfig,
)
from tests.support.rclone import RcloneEndpoint

MiB = 1024 * 1024
TRANSFER = TransferConfig(part_size=5 * MiB, concurrency=2)
MULTIPART = 5 * MiB + 300 * 1024

#: One wrapping key for the whole module, so any store here can read what another wrote.
_WRAPPING_KEY = os.urandom(32)

ModeFactory = Callable[[], EncryptionMode]


def _keyring() -> RawAesKeyring:
    return RawAesKeyring("securestore-tests", "rclone", _WRAPPING_KEY)


#: Modes with a server-side layer: rclone cannot satisfy them, so writes must be refused.
SSE_MODES = [
    pytest.param(lambda: SseS3(), PolicyError, id="sse-s3"),
    pytest.param(lambda: SseKms(), PolicyError, id="sse-kms-aws-managed"),
    pytest.param(lambda: SseKms("alias/securestore-tests"), KeyUnavailableError, id="sse-kms-key"),
    pytest.param(lambda: ClientSide(_keyring(), sse=SseS3()), PolicyError, id="client-side+sse-s3"),
]

#: Modes that need nothing from the server but storage: they must round-trip on rclone.
#: (The lead extends this list as client-side modes are added.)
CLIENT_SIDE_MODES = [
    pytest.param(lambda: ClientSide(_keyring()), id="client-side-raw-aes"),
    pytest.param(
        lambda: ClientSide(_keyring(), context={"purpose": "rclone"}, frame_length=64 * 1024),
        id="client-side-raw-aes-64k-frames-context",
    ),
]


def _put(store: SecureStore, key: str, data: bytes, folder: Path) -> None:
    store.put(key, data)


def _put_stream(store: SecureStore, key: str, data: bytes, folder: Path) -> None:
    store.put(key, (data[i : i + 256 * 1024] for i in range(0, len(data), 256 * 1024)))


def _upload_file(store: SecureStore, key: str, data: bytes, folder: Path) -> None:
    source = folder / "upload.bin"
    source.write_bytes(data)
    store.upload_file(source, key)


WRITES = [
    pytest.param(_put, 300_000, id="put"),
    pytest.param(_put_stream, MULTIPART, id="put-stream"),
    pytest.param(_upload_file, MULTIPART, id="upload-file"),
]


def _open_uploads(connection: Connection, bucket: str) -> list[Any]:
    try:
        response = connection.client("s3").list_multipart_uploads(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        # rclone answers NoSuchUpload for a bucket that never had a multipart upload.
        if exc.response["Error"]["Code"] == "NoSuchUpload":
            return []
        raise
    return list(response.get("Uploads", []))


def _store(connection: Connection, bucket: str, **kwargs: Any) -> SecureStore:
    return SecureStore(bucket, connection=connection, transfer=TRANSFER, **kwargs)


# -- the transport against a SigV4-checking server -------------------------------------------


def test_raw_put_and_ranged_get(rclone_connection: Connection, rclone_bucket: str) -> None:
    s3 = rclone_connection.client("s3")
    data = os.urandom(200_000)
    s3.put_object(Bucket=rclone_bucket, Key="raw/object", Body=data)
    assert s3.get_object(Bucket=rclone_bucket, Key="raw/object")["Body"].read() == data
    ranged = s3.get_object(Bucket=rclone_bucket, Key="raw/object", Range="bytes=1000-1999")
    assert ranged["Body"].read() == data[1000:2000]
    assert ranged["ContentRange"] == f"bytes 1000-1999/{len(data)}"


def test_raw_multipart_upload(rclone_connection: Connection, rclone_bucket: str) -> None:
    s3 = rclone_connection.client("s3")
    parts = [os.urandom(5 * MiB), os.urandom(123_456)]
    upload = s3.create_multipart_upload(Bucket=rclone_bucket, Key="raw/multipart")
    done = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=rclone_bucket,
            Key="raw/multipart",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=rclone_bucket,
        Key="raw/multipart",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": done},
    )
    got = s3.get_object(Bucket=rclone_bucket, Key="raw/multipart")
    assert got["Body"].read() == b"".join(parts)
    # Unlike S3, rclone reports the MD5 of the whole object afterwards, not "<md5>-2".
    assert not got["ETag"].endswith('-2"')
    assert _open_uploads(rclone_connection, rclone_bucket) == []


def test_aws_chunked_uploads_are_refused(
    rclone_endpoint: RcloneEndpoint, rclone_connection: Connection, rclone_bucket: str
) -> None:
    """botocore's default (``when_supported``) sends aws-chunked bodies: rclone refuses them."""
    s3 = rclone_endpoint.connection(checksum="when_supported", max_attempts=1).client("s3")
    with pytest.raises(botocore.exceptions.ClientError) as put:
        s3.put_object(Bucket=rclone_bucket, Key="chunked", Body=os.urandom(100_000))
    assert put.value.response["Error"]["Code"] == "MissingContentLength"
    assert put.value.response["ResponseMetadata"]["HTTPStatusCode"] == 411
    upload = s3.create_multipart_upload(Bucket=rclone_bucket, Key="chunked")
    with pytest.raises(botocore.exceptions.ClientError) as part:
        s3.upload_part(
            Bucket=rclone_bucket,
            Key="chunked",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=os.urandom(100_000),
        )
    assert part.value.response["Error"]["Code"] == "MissingContentLength"
    s3.abort_multipart_upload(Bucket=rclone_bucket, Key="chunked", UploadId=upload["UploadId"])
    # Nothing was stored, not even a corrupt object.
    with pytest.raises(botocore.exceptions.ClientError):
        rclone_connection.client("s3").head_object(Bucket=rclone_bucket, Key="chunked")
    assert _open_uploads(rclone_connection, rclone_bucket) == []


def test_wrong_secret_is_refused(rclone_endpoint: RcloneEndpoint, rclone_bucket: str) -> None:
    forged = RcloneEndpoint(
        url=rclone_endpoint.url,
        ca_bundle=rclone_endpoint.ca_bundle,
        certificates=rclone_endpoint.certificates,
        root=rclone_endpoint.root,
        secret_key="not-the-secret",
    )
    store = _store(forged.connection(), rclone_bucket)
    with pytest.raises(AccessDeniedError) as raised:
        list(store.list())
    assert raised.value.code == "SignatureDoesNotMatch"
    with pytest.raises(AccessDeniedError):
        store.head("anything")  # a HEAD answer has no body: only the status (403) is known


# -- server-side modes: refused, and nothing left behind ---------------------------------------


@pytest.mark.parametrize(("factory", "error"), SSE_MODES)
@pytest.mark.parametrize(("write", "size"), WRITES)
def test_sse_writes_are_refused(
    rclone_endpoint: RcloneEndpoint,
    rclone_connection: Connection,
    rclone_bucket: str,
    tmp_path: Path,
    factory: ModeFactory,
    error: type[SecureStoreError],
    write: Callable[..., None],
    size: int,
) -> None:
    store = _store(rclone_connection, rclone_bucket, encryption=factory())
    data = os.urandom(size)
    with pytest.raises(error) as raised:
        write(store, "refused", data, tmp_path)
    assert _open_uploads(rclone_connection, rclone_bucket) == []
    on_disk = rclone_endpoint.root / rclone_bucket / "refused"
    if error is PolicyError:
        assert "refused before writing: any existing object is untouched" in str(raised.value)
    # Refused before any data was sent (KMS key check, the mode check before a single
    # PutObject, or the CreateMultipartUpload answer).
    assert not on_disk.exists()
    with pytest.raises(NotFoundError):
        store.head("refused")


@pytest.mark.parametrize(("factory", "error"), SSE_MODES)
@pytest.mark.parametrize(("write", "size"), WRITES)
def test_failed_sse_write_keeps_the_existing_object(
    rclone_endpoint: RcloneEndpoint,
    rclone_connection: Connection,
    rclone_bucket: str,
    tmp_path: Path,
    factory: ModeFactory,
    error: type[SecureStoreError],
    write: Callable[..., None],
    size: int,
) -> None:
    """The data-loss bug: the undo of a refused single PutObject deleted the previous object."""
    previous = os.urandom(70_000)
    rclone_connection.client("s3").put_object(Bucket=rclone_bucket, Key="kept", Body=previous)
    store = _store(rclone_connection, rclone_bucket, encryption=factory())
    with pytest.raises(error):
        write(store, "kept", os.urandom(size), tmp_path)
    assert (rclone_endpoint.root / rclone_bucket / "kept").read_bytes() == previous
    assert (
        rclone_connection.client("s3").get_object(Bucket=rclone_bucket, Key="kept")["Body"].read()
        == previous
    )
    assert _open_uploads(rclone_connection, rclone_bucket) == []


def test_sse_headers_are_echoed_but_not_applied(
    rclone_endpoint: RcloneEndpoint, rclone_connection: Connection, rclone_bucket: str
) -> None:
    """A server's report is not proof: rclone reports SSE-S3 for plain bytes on disk."""
    data = os.urandom(50_000)
    rclone_connection.client("s3").put_object(
        Bucket=rclone_bucket, Key="echoed", Body=data, ServerSideEncryption="AES256"
    )
    store = _store(rclone_connection, rclone_bucket)
    assert store.head("echoed").encryption.sse_name == "sse-s3"
    assert store.get("echoed", require=SseS3()) == data
    assert (rclone_endpoint.root / rclone_bucket / "echoed").read_bytes() == data


def test_reads_refuse_objects_without_the_required_mode(
    rclone_connection: Connection, rclone_bucket: str, tmp_path: Path
) -> None:
    rclone_connection.client("s3").put_object(Bucket=rclone_bucket, Key="plain", Body=b"plain")
    store = _store(rclone_connection, rclone_bucket, require=SseS3())
    with pytest.raises(PolicyError):
        store.get("plain")
    with pytest.raises(PolicyError):
        store.download_file("plain", tmp_path / "plain")
    assert list(tmp_path.iterdir()) == []


# -- what works without SSE: reads of plain objects, client-side round trips -------------------


def test_store_reads_plain_objects(
    rclone_connection: Connection, rclone_bucket: str, tmp_path: Path
) -> None:
    s3 = rclone_connection.client("s3")
    small, large = os.urandom(70_000), os.urandom(MULTIPART)
    s3.put_object(Bucket=rclone_bucket, Key="dir/small", Body=small)
    s3.put_object(Bucket=rclone_bucket, Key="dir/large", Body=large)
    store = _store(rclone_connection, rclone_bucket)
    assert store.get("dir/small") == small
    with store.open("dir/large") as reader:
        assert reader.read_range(5 * MiB - 10, 100) == large[5 * MiB - 10 : 5 * MiB + 90]
        assert reader.read_range(17, 1000) == large[17:1017]
    store.download_file("dir/large", tmp_path / "large")
    assert (tmp_path / "large").read_bytes() == large
    assert [p.name for p in tmp_path.iterdir()] == ["large"]
    listed = {s.key: s.size for s in store.list("dir/")}
    assert listed == {"dir/small": len(small), "dir/large": len(large)}
    info = store.head("dir/small")
    assert (info.size, info.encryption.sse_name) == (len(small), "none")
    store.delete("dir/small")
    with pytest.raises(NotFoundError):
        store.head("dir/small")


@pytest.mark.parametrize("factory", CLIENT_SIDE_MODES)
def test_client_side_round_trip(
    rclone_endpoint: RcloneEndpoint,
    rclone_connection: Connection,
    rclone_bucket: str,
    tmp_path: Path,
    factory: ModeFactory,
) -> None:
    store = _store(rclone_connection, rclone_bucket, encryption=factory())
    small, large = os.urandom(100_000), os.urandom(MULTIPART)
    store.put("cs/small", small)
    _put_stream(store, "cs/stream", large, tmp_path)
    _upload_file(store, "cs/file", large, tmp_path)
    assert store.get("cs/small") == small
    assert store.get("cs/stream") == large
    with store.open("cs/file") as reader:
        assert reader.read_range(5 * MiB - 3, 1000) == large[5 * MiB - 3 : 5 * MiB + 997]
        assert reader.read_range(0, 10) == large[:10]
    store.download_file("cs/file", tmp_path / "file")
    assert (tmp_path / "file").read_bytes() == large
    # What rclone holds is ciphertext, larger than the plaintext.
    for key, plain in (("cs/small", small), ("cs/file", large)):
        stored = (rclone_endpoint.root / rclone_bucket / key).read_bytes()
        assert len(stored) > len(plain)
        assert plain[:4096] not in stored
    assert sorted(s.key for s in store.list("cs/")) == ["cs/file", "cs/small", "cs/stream"]
    for key in ("cs/small", "cs/stream", "cs/file"):
        store.delete(key)
    assert list(store.list("cs/")) == []
    assert _open_uploads(rclone_connection, rclone_bucket) == []


# -- library bugs that rclone exposes ---------------------------------------------------------


def test_sse_store_with_keyring_decrypts_client_side_objects(
    rclone_connection: Connection, rclone_bucket: str
) -> None:
    data = os.urandom(20_000)
    _store(rclone_connection, rclone_bucket, encryption=ClientSide(_keyring())).put("cs", data)
    reader = _store(rclone_connection, rclone_bucket, keyring=_keyring())
    assert reader.head("cs").encryption.client_side is not None
    assert reader.get("cs") == data


def test_reader_refuses_a_replaced_object(
    rclone_connection: Connection, rclone_bucket: str
) -> None:
    s3 = rclone_connection.client("s3")
    v1, v2 = os.urandom(3 * MiB), os.urandom(3 * MiB)
    s3.put_object(Bucket=rclone_bucket, Key="replaced", Body=v1)
    store = _store(rclone_connection, rclone_bucket)
    with store.open("replaced") as reader:
        assert reader.read(1000) == v1[:1000]
        s3.put_object(Bucket=rclone_bucket, Key="replaced", Body=v2)
        reader.seek(2 * MiB)
        with pytest.raises(PreconditionFailedError):
            reader.read(1000)


def test_rclone_ignores_conditional_headers(
    rclone_connection: Connection, rclone_bucket: str
) -> None:
    """Documents the server behaviour behind the xfail above."""
    s3 = rclone_connection.client("s3")
    s3.put_object(Bucket=rclone_bucket, Key="cond", Body=b"one")
    got = s3.get_object(Bucket=rclone_bucket, Key="cond", IfMatch='"0000"')
    assert got["Body"].read() == b"one"
    s3.put_object(Bucket=rclone_bucket, Key="cond", Body=b"two", IfNoneMatch="*")
    assert s3.get_object(Bucket=rclone_bucket, Key="cond")["Body"].read() == b"two"

"""Post-write verification: S3's answer to every write is checked against the mode asked for.

A botocore ``after-call`` handler on a connection of the test's own rewrites what
S3 reports, as a proxy or a non-conforming server would. Until the server has
confirmed a mode, even a single-part write of it is sent as a multipart upload
whose CreateMultipartUpload answer is checked before any data is sent (see
:mod:`securestore.writing`): a server that ignores the mode is refused before the
existing object is replaced. Tests of what a PutObject answer does first make
one such write (:func:`confirmed`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

import pytest

from securestore import (
    ClientSide,
    Connection,
    DsseKms,
    NotFoundError,
    PolicyError,
    RawAesKeyring,
    SecureStore,
    SseKms,
    SseS3,
    TransferConfig,
)
from tests.store.conftest import PART, error_response, list_uploads

BIG = random.Random(3).randbytes(PART + 1)


def report(connection: Connection, operation: str, **fields: Any) -> list[str]:
    """Make S3's answer to ``operation`` report ``fields`` (``None`` removes a field)."""
    calls: list[str] = []

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(operation)
        for name, value in fields.items():
            if value is None:
                parsed.pop(name, None)
            else:
                parsed[name] = value

    connection.client("s3").meta.events.register(f"after-call.s3.{operation}", rewrite)
    return calls


def confirmed(store: SecureStore) -> SecureStore:
    """``store`` after one write of its mode: its later small writes are single PutObjects."""
    store.put("mode-confirmed", b"x")
    return store


def count(connection: Connection, operation: str) -> list[str]:
    sent: list[str] = []
    connection.client("s3").meta.events.register(
        f"before-send.s3.{operation}", lambda **_: sent.append(operation)
    )
    return sent


REPORTED_DIFFERENTLY = pytest.mark.parametrize(
    ("mode_name", "fields"),
    [
        ("sse-kms", {"ServerSideEncryption": "AES256", "SSEKMSKeyId": None}),
        ("sse-kms", {"ServerSideEncryption": None, "SSEKMSKeyId": None}),
        ("sse-kms", {"SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/other"}),
        ("sse-kms", {"BucketKeyEnabled": False}),
        ("sse-s3", {"ServerSideEncryption": None}),
        ("sse-s3", {"ServerSideEncryption": "aws:kms"}),
        ("dsse-kms", {"ServerSideEncryption": "aws:kms"}),
    ],
    ids=[
        "kms-reported-as-s3",
        "kms-reported-unencrypted",
        "kms-other-key",
        "kms-bucket-key-refused",
        "s3-reported-unencrypted",
        "s3-reported-as-kms",
        "dsse-reported-as-kms",
    ],
)


def _mode(mode_name: str, kms_key: str) -> Any:
    return {"sse-kms": SseKms(kms_key), "sse-s3": SseS3(), "dsse-kms": DsseKms(kms_key)}[mode_name]


@REPORTED_DIFFERENTLY
def test_server_ignoring_the_mode_is_refused_before_the_previous_object_is_replaced(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    kms_key: str,
    mode_name: str,
    fields: dict[str, Any],
) -> None:
    """The data-loss bug: the undo of a refused PutObject deleted the object it had replaced."""
    mode = _mode(mode_name, kms_key)
    previous = random.Random(5).randbytes(1000)
    fault_store().put("obj", previous)  # written in the default mode (SSE-S3), unversioned
    store = fault_store(encryption=mode)
    report(fault_connection, "CreateMultipartUpload", **fields)
    puts = count(fault_connection, "PutObject")
    deletes = count(fault_connection, "DeleteObject")
    with pytest.raises(PolicyError) as info:
        store.put("obj", b"new data")
    assert (info.value.bucket, info.value.key) == (store.bucket, "obj")
    assert mode.name in str(info.value)
    assert "refused before writing: any existing object is untouched" in str(info.value)
    assert puts == [] and deletes == []
    assert store.get("obj") == previous
    assert list_uploads(fault_connection, store.bucket) == []


@REPORTED_DIFFERENTLY
def test_single_put_reported_differently_after_the_check_is_deleted_and_says_so(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    kms_key: str,
    mode_name: str,
    fields: dict[str, Any],
) -> None:
    """What stays possible: the server confirms the mode, then stores the write otherwise."""
    mode = _mode(mode_name, kms_key)
    store = confirmed(fault_store(encryption=mode))
    calls = report(fault_connection, "PutObject", **fields)
    with pytest.raises(PolicyError) as info:
        store.put("obj", b"data")
    assert calls == ["PutObject"]
    assert (info.value.bucket, info.value.key) == (store.bucket, "obj")
    assert mode.name in str(info.value)
    # Unversioned: the new object is deleted, and the message says what that means.
    assert "the previous object, if any, was replaced; the new object was deleted" in str(
        info.value
    )
    with pytest.raises(NotFoundError):
        store.head("obj")


def test_undo_that_cannot_delete_says_what_is_left(
    fault_store: Callable[..., SecureStore], fault_connection: Connection
) -> None:
    store = confirmed(fault_store())
    report(fault_connection, "PutObject", ServerSideEncryption=None)
    fault_connection.client("s3").meta.events.register(
        "before-send.s3.DeleteObject", lambda request, **_: error_response(request, "AccessDenied")
    )
    with pytest.raises(PolicyError) as info:
        store.put("obj", b"data")
    assert (
        "the previous object, if any, was replaced; the new object is left in place, "
        "stored as none: remove it by hand" in str(info.value)
    )


def test_mode_check_costs_and_what_it_leaves_behind(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, kms_key: str
) -> None:
    """The measured cost of the check (documented in securestore.writing).

    SSE-S3 keeps single PutObjects (MD5 ETags) after one probe upload per store;
    the first small SSE-KMS write is a one-part multipart upload, checked at its
    create, with no probe; later small writes of a mode are single PutObjects.
    """
    operations = ("CreateMultipartUpload", "AbortMultipartUpload", "PutObject", "UploadPart")
    sent = {name: count(fault_connection, name) for name in operations}
    store = fault_store()
    for index in range(3):
        store.put(f"s3-{index}", b"small")
    store.put("kms-0", b"small", encryption=SseKms(kms_key))
    store.put("kms-1", b"small", encryption=SseKms(kms_key))
    assert {name: len(calls) for name, calls in sent.items()} == {
        "CreateMultipartUpload": 2,
        "AbortMultipartUpload": 1,
        "PutObject": 4,
        "UploadPart": 1,
    }
    # A large first write confirms its mode the same way.
    other = fault_store(encryption=SseKms(kms_key, bucket_key=False))
    other.put("big", BIG)
    other.put("small", b"small")
    assert len(sent["CreateMultipartUpload"]) == 3
    assert len(sent["PutObject"]) == 5
    # Client-side without an SSE layer asks nothing of the server: no check at all.
    keyring = RawAesKeyring("securestore-tests", "verification", bytes(32))
    fault_store(encryption=ClientSide(keyring)).put("cs", b"small")
    assert len(sent["CreateMultipartUpload"]) == 3
    assert len(sent["AbortMultipartUpload"]) == 1
    assert list_uploads(fault_connection, store.bucket) == []


def test_put_reported_as_asked_passes(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, kms_key: str
) -> None:
    """Control: the handler alone (reporting what S3 really did) changes nothing."""
    store = confirmed(fault_store(encryption=SseKms(kms_key)))
    calls = report(fault_connection, "PutObject", ServerSideEncryption="aws:kms")
    store.put("obj", b"data")
    assert calls == ["PutObject"]
    assert store.get("obj") == b"data"


def test_upload_file_reported_differently_is_a_policy_error(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, tmp_path: Any
) -> None:
    store = confirmed(fault_store())
    report(fault_connection, "PutObject", ServerSideEncryption=None)
    source = tmp_path / "f.bin"
    source.write_bytes(b"file body")
    with pytest.raises(PolicyError):
        store.upload_file(source, "obj")


def test_versioned_single_put_is_undone(
    new_connection: Callable[..., Connection], versioned_bucket: str, kms_key: str
) -> None:
    connection = new_connection()
    store = SecureStore(versioned_bucket, encryption=SseKms(kms_key), connection=connection)
    first = store.put("obj", b"version one")
    assert first.version_id
    report(connection, "PutObject", ServerSideEncryption="AES256")
    with pytest.raises(PolicyError) as info:
        store.put("obj", b"version two")
    assert "new version was deleted" in str(info.value)
    versions = connection.client("s3").list_object_versions(Bucket=versioned_bucket)
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [first.version_id]
    assert versions.get("DeleteMarkers", []) == []
    assert store.get("obj") == b"version one"
    assert store.head("obj").version_id == first.version_id


def test_versioned_single_put_into_empty_key_is_undone(
    new_connection: Callable[..., Connection], versioned_bucket: str
) -> None:
    connection = new_connection()
    store = confirmed(SecureStore(versioned_bucket, connection=connection))
    report(connection, "PutObject", ServerSideEncryption=None)
    with pytest.raises(PolicyError):
        store.put("obj", b"unwanted")
    with pytest.raises(NotFoundError):
        store.head("obj")


@pytest.mark.parametrize("previous", [False, True], ids=["no-previous", "previous"])
def test_multipart_refused_at_create_sends_no_data(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    kms_key: str,
    previous: bool,
) -> None:
    store = fault_store(encryption=SseKms(kms_key))
    if previous:
        store.put("obj", b"previous object")
    report(fault_connection, "CreateMultipartUpload", ServerSideEncryption="AES256")
    parts = count(fault_connection, "UploadPart")
    aborts = count(fault_connection, "AbortMultipartUpload")
    with pytest.raises(PolicyError):
        store.put("obj", BIG)
    assert parts == []
    assert aborts == ["AbortMultipartUpload"]
    assert list_uploads(fault_connection, bucket) == []
    if previous:
        assert store.get("obj") == b"previous object"
    else:
        with pytest.raises(NotFoundError):
            store.head("obj")


def test_multipart_upload_file_refused_at_create(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    tmp_path: Any,
) -> None:
    store = fault_store()
    report(fault_connection, "CreateMultipartUpload", ServerSideEncryption=None)
    source = tmp_path / "big.bin"
    source.write_bytes(BIG)
    with pytest.raises(PolicyError):
        store.upload_file(source, "obj")
    assert list_uploads(fault_connection, bucket) == []
    with pytest.raises(NotFoundError):
        store.head("obj")


def test_multipart_refused_at_complete_is_a_policy_error(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, kms_key: str
) -> None:
    store = fault_store(encryption=SseKms(kms_key))
    report(fault_connection, "CompleteMultipartUpload", ServerSideEncryption="AES256")
    with pytest.raises(PolicyError) as info:
        store.put("obj", BIG)
    assert "the previous object, if any, was replaced; the new object was deleted" in str(
        info.value
    )


def test_versioned_multipart_refused_at_complete_is_undone(
    new_connection: Callable[..., Connection], versioned_bucket: str
) -> None:
    """Like a single put: the completed but refused version is deleted."""
    connection = new_connection()
    store = SecureStore(
        versioned_bucket,
        connection=connection,
        transfer=TransferConfig(part_size=PART, concurrency=2),
    )
    first = store.put("obj", b"version one")
    report(connection, "CompleteMultipartUpload", ServerSideEncryption="aws:kms")
    with pytest.raises(PolicyError) as info:
        store.put("obj", BIG)
    assert "new version was deleted" in str(info.value)
    assert store.get("obj") == b"version one"
    assert store.head("obj").version_id == first.version_id
    versions = connection.client("s3").list_object_versions(Bucket=versioned_bucket)
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [first.version_id]
    assert list_uploads(connection, versioned_bucket) == []


@pytest.mark.parametrize("mode_name", ["sse-kms", "dsse-kms"])
def test_write_whose_key_is_not_reported_is_a_policy_error(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    kms_key: str,
    mode_name: str,
) -> None:
    """A demanded key the server does not confirm after the write is not accepted."""
    mode = {"sse-kms": SseKms(kms_key), "dsse-kms": DsseKms(kms_key)}[mode_name]
    store = confirmed(fault_store(encryption=mode))
    report(fault_connection, "PutObject", SSEKMSKeyId=None)
    with pytest.raises(PolicyError) as info:
        store.put("obj", b"data")
    assert "cannot be confirmed" in str(info.value)


def test_dsse_write_with_a_key_is_confirmed_by_the_embedded_endpoint(
    make_store: Callable[..., SecureStore], kms_key: str
) -> None:
    store = make_store(encryption=DsseKms(kms_key))
    info = store.put("obj", b"data")
    assert info.encryption.kms_key_id == kms_key
    assert store.get("obj", require=DsseKms(kms_key)) == b"data"


def _deny_aborts(connection: Connection) -> list[str]:
    """Credentials without s3:AbortMultipartUpload: every abort is refused."""
    denied: list[str] = []

    def refuse(request: Any, **_: Any) -> Any:
        denied.append("AbortMultipartUpload")
        return error_response(request, "AccessDenied", 403)

    connection.client("s3").meta.events.register("before-send.s3.AbortMultipartUpload", refuse)
    return denied


@pytest.mark.parametrize("body", [b"small", BIG], ids=["small", "multipart"])
def test_write_without_abort_permission_leaves_no_upload_behind(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    kms_key: str,
    body: bytes,
) -> None:
    """The probe (create, abort) left an empty upload whenever the abort was denied: KMS
    writes need no probe now."""
    denied = _deny_aborts(fault_connection)
    store = fault_store(encryption=SseKms(kms_key))
    store.put("previous", b"previous")
    store.put("previous", body)  # over an existing object, mode confirmed by the first write
    store.put("new", body)
    assert denied == []
    assert list_uploads(fault_connection, bucket) == []
    assert store.get("new", require=SseKms(kms_key)) == body


def test_copy_to_a_new_key_asks_no_probe_and_over_an_existing_one_does(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, bucket: str, kms_key: str
) -> None:
    """CopyObject replaces in one request: the server is asked first only if it could replace."""
    source = fault_store()
    source.put("src", b"source")
    source.put("taken", b"old")
    creates = count(fault_connection, "CreateMultipartUpload")
    source.copy("src", fault_store(encryption=SseKms(kms_key)), "fresh")
    assert creates == []
    source.copy("src", fault_store(encryption=SseKms(kms_key)), "taken")
    assert creates == ["CreateMultipartUpload"]
    assert list_uploads(fault_connection, bucket) == []


def test_copy_refused_by_the_probe_keeps_the_existing_destination(
    fault_store: Callable[..., SecureStore], fault_connection: Connection, kms_key: str
) -> None:
    fault_store().put("src", b"source")
    fault_store().put("taken", b"old")
    report(fault_connection, "CreateMultipartUpload", ServerSideEncryption="AES256")
    copies = count(fault_connection, "CopyObject")
    with pytest.raises(PolicyError) as info:
        fault_store().copy("src", fault_store(encryption=SseKms(kms_key)), "taken")
    assert "refused before writing" in str(info.value)
    assert copies == []
    assert fault_store().get("taken") == b"old"


def test_sse_s3_probe_without_abort_permission_leaves_an_empty_upload_and_warns(
    fault_store: Callable[..., SecureStore],
    fault_connection: Connection,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The documented remaining case: SSE-S3 keeps its MD5 ETag at the price of the probe."""
    denied = _deny_aborts(fault_connection)
    store = fault_store()
    info = store.put("k", b"small")
    assert info.etag.strip('"') == hashlib.md5(b"small").hexdigest()  # noqa: S324 - S3's ETag
    assert denied == ["AbortMultipartUpload"]
    left = list_uploads(fault_connection, bucket)
    assert [upload["Key"] for upload in left] == ["k"]
    assert "could not abort multipart upload" in caplog.text

"""S3 → S3 copies on the TLS moto endpoint: server-side copies, re-binding, streaming, failures."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import (
    AuthenticationError,
    ClientSide,
    ConfigurationError,
    Connection,
    KeyringError,
    NoMatchingKeyError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    SecureStore,
    SseKms,
    SseS3,
    StorageError,
    TransferConfig,
    move_tree,
)
from securestore.copying import CopyLimits, CopyMethod, copy_object
from securestore.keyrings import RawAesKeyring, RawRsaKeyring
from securestore.message import parse
from tests.clientside.conftest import NAMESPACE, RSA_NAME
from tests.copying.conftest import open_uploads
from tests.message import esdk
from tests.store.conftest import error_response

MiB = 1024 * 1024
SMALL_LIMITS = CopyLimits(multipart_threshold=6 * MiB, part_size=5 * MiB)


def _copy(source: SecureStore, destination: SecureStore, key: str, dest_key: str, **kw: Any) -> Any:
    """The library call under the facade, with small multipart limits."""
    kw.setdefault("mode", destination.encryption)
    kw.setdefault("limits", SMALL_LIMITS)
    return copy_object(source._reads, destination._writes, key, dest_key, **kw)


def test_sse_s3_to_sse_kms_copy_is_verified_and_keeps_metadata(
    store_at: Callable[..., SecureStore], bucket: str, kms_key: str
) -> None:
    store = store_at(bucket, encryption=SseS3())
    store.put("a.txt", b"hello", metadata={"owner": "ops"}, content_type="text/plain")
    info = store.copy("a.txt", store, "b.txt", encryption=SseKms(kms_key))
    assert info.encryption.sse_name == "sse-kms"
    assert info.encryption.kms_key_id == kms_key
    head = store.head("b.txt")
    assert head.encryption.sse_name == "sse-kms" and head.encryption.kms_key_id == kms_key
    assert head.metadata == {"owner": "ops"}
    assert head.content_type == "text/plain"
    assert store.get("b.txt", require=SseKms(kms_key)) == b"hello"
    assert store.head("a.txt").encryption.sse_name == "sse-s3"


def test_given_metadata_and_content_type_replace_the_source_s(
    store_at: Callable[..., SecureStore], bucket: str
) -> None:
    store = store_at(bucket)
    store.put("a", b"x", metadata={"owner": "ops"}, content_type="text/plain")
    store.copy("a", store, "b", metadata={"team": "dev"}, content_type="application/json")
    head = store.head("b")
    assert head.metadata == {"team": "dev"}
    assert head.content_type == "application/json"


def test_cross_bucket_copy_is_written_with_the_destination_mode(
    store_at: Callable[..., SecureStore], bucket: str, other_bucket: str, kms_key: str
) -> None:
    source = store_at(bucket)
    destination = store_at(other_bucket, encryption=SseKms(kms_key))
    source.put("k", b"data", metadata={"m": "1"})
    result = _copy(source, destination, "k", "dir/k")
    assert result.method is CopyMethod.COPY_OBJECT
    head = destination.head("dir/k")
    assert head.encryption.kms_key_id == kms_key
    assert head.metadata == {"m": "1"}
    assert destination.get("dir/k") == b"data"


def test_large_object_is_copied_in_parts_above_the_threshold(
    store_at: Callable[..., SecureStore],
    own_connection: Connection,
    bucket: str,
    other_bucket: str,
    kms_key: str,
) -> None:
    source = store_at(bucket)
    destination = store_at(other_bucket, encryption=SseKms(kms_key))
    data = os.urandom(12 * MiB + 3)
    source.put("big", data, metadata={"m": "1"}, content_type="application/x-big")
    seen: list[int] = []
    result = _copy(source, destination, "big", "big", progress=seen.append)
    assert result.method is CopyMethod.MULTIPART_COPY
    assert sum(seen) == len(data) and len(seen) == 3
    head = destination.head("big")
    assert head.size == len(data) and head.encryption.kms_key_id == kms_key
    assert head.metadata == {"m": "1"} and head.content_type == "application/x-big"
    assert destination.get("big") == data
    assert open_uploads(own_connection, other_bucket) == []


def test_failure_midway_aborts_the_multipart_copy(
    store_at: Callable[..., SecureStore], own_connection: Connection, bucket: str
) -> None:
    store = store_at(bucket)
    store.put("big", os.urandom(12 * MiB))

    def fail_part_two(request: Any, **_: Any) -> Any:
        return error_response(request) if "partNumber=2" in request.url else None

    own_connection.client("s3").meta.events.register("before-send.s3.UploadPartCopy", fail_part_two)
    with pytest.raises(StorageError):
        _copy(store, store, "big", "copy")
    assert open_uploads(own_connection, bucket) == []
    with pytest.raises(NotFoundError):
        store.head("copy")


def test_a_copy_stored_otherwise_than_asked_is_removed(
    store_at: Callable[..., SecureStore], own_connection: Connection, bucket: str, kms_key: str
) -> None:
    store = store_at(bucket)
    store.put("a", b"secret")

    def downgrade(parsed: dict[str, Any], **_: Any) -> None:
        # What a proxy that strips SSE would make the server answer.
        parsed["ServerSideEncryption"] = "AES256"
        parsed.pop("SSEKMSKeyId", None)

    own_connection.client("s3").meta.events.register("after-call.s3.CopyObject", downgrade)
    with pytest.raises(PolicyError, match="the new object was deleted"):
        store.copy("a", store, "b", encryption=SseKms(kms_key))
    with pytest.raises(NotFoundError):
        store.head("b")


def test_the_source_must_satisfy_require(
    store_at: Callable[..., SecureStore], bucket: str, kms_key: str
) -> None:
    store = store_at(bucket)
    store.put("a", b"x")
    with pytest.raises(PolicyError, match="refusing to read"):
        store.copy("a", store, "b", require=SseKms(kms_key))
    with pytest.raises(NotFoundError):
        store.head("b")


def test_a_source_replaced_during_the_copy_is_detected(
    store_at: Callable[..., SecureStore],
    own_connection: Connection,
    connection: Connection,
    bucket: str,
) -> None:
    """moto ignores CopySourceIfMatch: the check after the copy must catch the change."""
    store = store_at(bucket)
    store.put("a", b"first")

    def replace_source(**_: Any) -> None:
        connection.client("s3").put_object(Bucket=bucket, Key="a", Body=b"second")

    own_connection.client("s3").meta.events.register_first(
        "before-call.s3.CopyObject", replace_source
    )
    with pytest.raises(PreconditionFailedError, match="changed"):
        store.copy("a", store, "b")
    with pytest.raises(NotFoundError):
        store.head("b")


def test_a_source_replaced_during_a_multipart_copy_aborts_it(
    store_at: Callable[..., SecureStore],
    own_connection: Connection,
    connection: Connection,
    bucket: str,
) -> None:
    # One part at a time, and a replacement of the same size: every copied range stays
    # valid, so only the check before completion can tell that the source changed.
    store = store_at(bucket, transfer=TransferConfig(part_size=5 * MiB, concurrency=1))
    store.put("big", os.urandom(12 * MiB))
    replacement = os.urandom(12 * MiB)
    done: list[bool] = []

    def replace_source(**_: Any) -> None:
        if not done:
            done.append(True)
            connection.client("s3").put_object(Bucket=bucket, Key="big", Body=replacement)

    own_connection.client("s3").meta.events.register_first(
        "before-call.s3.UploadPartCopy", replace_source
    )
    with pytest.raises(PreconditionFailedError):
        _copy(store, store, "big", "copy")
    assert open_uploads(own_connection, bucket) == []
    with pytest.raises(NotFoundError):
        store.head("copy")


@pytest.mark.parametrize("size", [300_000, 12 * MiB], ids=["single-put", "server-side"])
def test_client_side_copy_is_rebound_to_its_new_location(
    store_at: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    other_bucket: str,
    aes_keyring: RawAesKeyring,
    size: int,
) -> None:
    source = store_at(bucket, encryption=ClientSide(aes_keyring))
    destination = store_at(other_bucket, encryption=ClientSide(aes_keyring))
    plaintext = os.urandom(size)
    source.put("old/key", plaintext, metadata={"owner": "ops"})
    s3 = connection.client("s3")
    before = s3.get_object(Bucket=bucket, Key="old/key")["Body"].read()
    result = _copy(source, destination, "old/key", "new/key")
    assert result.method is CopyMethod.REBIND
    after = s3.get_object(Bucket=other_bucket, Key="new/key")["Body"].read()
    header = parse(after)
    assert header.encryption_context["securestore:bucket"] == other_bucket
    assert header.encryption_context["securestore:key"] == "new/key"
    assert header.message_id == parse(before).message_id
    assert after[header.length :] == before[parse(before).length :]  # the body is unchanged
    assert destination.get("new/key") == plaintext  # no relocated=True needed
    assert source.get("old/key") == plaintext  # the source still reads
    head = destination.head("new/key")
    assert head.metadata["owner"] == "ops"
    assert head.metadata["securestore-format"] == "aws-esdk-v2"
    assert open_uploads(connection, other_bucket) == []


def test_rebound_copy_carries_the_destination_keyring_s_keys_only(
    store_at: Callable[..., SecureStore],
    bucket: str,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    rsa_private_keyring: RawRsaKeyring,
) -> None:
    source = store_at(bucket, encryption=ClientSide(aes_keyring, context={"team": "ops"}))
    destination = store_at(bucket, encryption=ClientSide(rsa_public_keyring))
    source.put("a", b"for the rsa holder")
    source.copy("a", destination, "b")
    reader = store_at(bucket, encryption=ClientSide(rsa_private_keyring))
    assert reader.get("b") == b"for the rsa holder"
    with pytest.raises(NoMatchingKeyError):
        store_at(bucket, encryption=ClientSide(aes_keyring)).get("b")
    assert "team" not in destination.inspect("b").encryption_context


def test_client_side_to_server_side_is_decrypted_on_the_way(
    store_at: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring, kms_key: str
) -> None:
    source = store_at(bucket, encryption=ClientSide(aes_keyring))
    plaintext = os.urandom(7 * MiB)
    source.put("cs", plaintext, metadata={"owner": "ops"})
    plain = store_at(bucket, encryption=SseKms(kms_key))
    result = _copy(source, plain, "cs", "plain")
    assert result.method is CopyMethod.STREAMED
    assert plain.get("plain") == plaintext
    head = plain.head("plain")
    assert head.metadata == {"owner": "ops"}  # the client-side marker is gone
    assert head.encryption.kms_key_id == kms_key


def test_server_side_to_client_side_is_encrypted_on_the_way(
    store_at: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring
) -> None:
    plain = store_at(bucket)
    plain.put("p", b"plain data")
    encrypted = store_at(bucket, encryption=ClientSide(aes_keyring))
    plain.copy("p", encrypted, "c")
    assert encrypted.get("c") == b"plain data"
    with pytest.raises(KeyringError):
        plain.get("c")


def test_client_side_object_without_a_keyring_is_refused(
    store_at: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring
) -> None:
    store_at(bucket, encryption=ClientSide(aes_keyring)).put("cs", b"x")
    plain = store_at(bucket)
    with pytest.raises(KeyringError):
        plain.copy("cs", plain, "copy")
    with pytest.raises(NotFoundError):
        plain.head("copy")


def test_rebind_over_an_existing_object_replaces_it(
    store_at: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring
) -> None:
    store = store_at(bucket, encryption=ClientSide(aes_keyring))
    store.put("a", b"new data")
    store.put("b", b"old data")
    store.copy("a", store, "b")
    assert store.get("b") == b"new data"


def test_a_server_without_copy_part_etags_gets_a_streamed_copy(
    store_at: Callable[..., SecureStore], own_connection: Connection, bucket: str, kms_key: str
) -> None:
    """What rclone does to UploadPartCopy, played on moto so that the SSE path runs."""
    store = store_at(bucket)
    data = os.urandom(12 * MiB)
    store.put("big", data)

    def drop_etag(parsed: dict[str, Any], **_: Any) -> None:
        parsed["CopyPartResult"] = {}

    own_connection.client("s3").meta.events.register("after-call.s3.UploadPartCopy", drop_etag)
    result = _copy(store, store, "big", "copy", mode=SseKms(kms_key))
    assert result.method is CopyMethod.STREAMED
    assert store.get("copy", require=SseKms(kms_key)) == data
    assert open_uploads(own_connection, bucket) == []


def test_a_rebound_copy_stored_otherwise_than_asked_is_removed(
    store_at: Callable[..., SecureStore],
    own_connection: Connection,
    bucket: str,
    aes_keyring: RawAesKeyring,
    kms_key: str,
) -> None:
    store = store_at(bucket, encryption=ClientSide(aes_keyring, sse=SseKms(kms_key)))
    store.put("a", b"secret")

    def downgrade(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ServerSideEncryption"] = "AES256"
        parsed.pop("SSEKMSKeyId", None)

    own_connection.client("s3").meta.events.register("after-call.s3.PutObject", downgrade)
    with pytest.raises(PolicyError, match="the copy was deleted"):
        store.copy("a", store, "b")
    with pytest.raises(NotFoundError):
        store.head("b")


def test_a_copy_over_its_own_source_is_never_streamed(
    store_at: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring
) -> None:
    store = store_at(bucket, encryption=ClientSide(aes_keyring))
    store.put("a", b"secret")
    plain = store_at(bucket)
    with pytest.raises(ConfigurationError, match="over its own source"):
        store.copy("a", plain, "a")
    assert store.get("a") == b"secret"


def test_copy_from_a_versioned_bucket_rebinds_the_current_version(
    store_at: Callable[..., SecureStore],
    versioned_bucket: str,
    other_bucket: str,
    aes_keyring: RawAesKeyring,
) -> None:
    source = store_at(versioned_bucket, encryption=ClientSide(aes_keyring))
    source.put("k", b"old")
    source.put("k", os.urandom(6 * MiB))
    current = source.get("k")
    destination = store_at(other_bucket, encryption=ClientSide(aes_keyring))
    source.copy("k", destination, "k")
    assert destination.get("k") == current


def test_a_rebound_copy_decrypts_with_the_aws_encryption_sdk(
    store_at: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    source = store_at(bucket, encryption=ClientSide(aes_keyring))
    plaintext = os.urandom(6 * MiB + 17)
    source.put("a", plaintext)
    destination = store_at(bucket, encryption=ClientSide(rsa_public_keyring))
    result = _copy(source, destination, "a", "b")
    assert result.method is CopyMethod.REBIND
    stored = connection.client("s3").get_object(Bucket=bucket, Key="b")["Body"].read()
    assert [e.provider_info for e in parse(stored).encrypted_data_keys] == [RSA_NAME.encode()]
    oracle = esdk.rsa_master_key(NAMESPACE, RSA_NAME, rsa_private_key)
    assert esdk.esdk_decrypt(stored, oracle) == plaintext


@pytest.mark.parametrize("size", [300_000, 12 * MiB], ids=["single-put", "server-side"])
def test_a_damaged_body_is_never_copied_and_mv_keeps_its_source(
    store_at: Callable[..., SecureStore],
    connection: Connection,
    bucket: str,
    other_bucket: str,
    aes_keyring: RawAesKeyring,
    size: int,
) -> None:
    """A re-bind authenticates only the header itself: the body is authenticated first,
    so a damaged one is refused (exit 3 in the CLI) and nothing is written or deleted."""
    source = store_at(bucket, encryption=ClientSide(aes_keyring))
    destination = store_at(other_bucket, encryption=ClientSide(aes_keyring))
    source.put("k", os.urandom(size))
    s3 = connection.client("s3")
    got = s3.get_object(Bucket=bucket, Key="k")
    damaged = bytearray(got["Body"].read())
    damaged[len(damaged) - 1000] ^= 1  # inside the last frame, past the first part
    s3.put_object(Bucket=bucket, Key="k", Body=bytes(damaged), Metadata=got["Metadata"])
    with pytest.raises(AuthenticationError):
        _copy(source, destination, "k", "copy")
    with pytest.raises(NotFoundError):
        destination.head("copy")
    result = move_tree((source, ""), (destination, "moved/"))
    assert [f.source for f in result.failed] == [f"s3://{bucket}/k"]
    assert isinstance(result.failed[0].error, AuthenticationError)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == bytes(damaged)
    assert "Contents" not in s3.list_objects_v2(Bucket=other_bucket)
    assert open_uploads(connection, other_bucket) == []

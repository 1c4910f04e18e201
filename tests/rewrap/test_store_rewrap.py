"""Re-wrapping stored objects: small PUT path, server-side copy path, re-binding, versions."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from securestore import (
    ConfigurationError,
    Connection,
    NoMatchingKeyError,
    PolicyError,
    PreconditionFailedError,
    SecureStore,
)
from securestore.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring, RawRsaKeyring
from securestore.message import encrypt, parse
from securestore.message.suites import AlgorithmSuite
from securestore.rewrap import Method
from tests.clientside.conftest import NAMESPACE, RSA_NAME, Raw
from tests.message import esdk
from tests.rewrap.conftest import ByteCounter

MiB = 1024 * 1024
FRAME = 256 * 1024


def _rsa_oracle(key: rsa.RSAPrivateKey) -> Any:
    return esdk.rsa_master_key(NAMESPACE, RSA_NAME, key)


def _body(data: bytes) -> bytes:
    return data[parse(data).length :]


def test_small_object_rewrap_in_place(
    store_on: Callable[..., SecureStore],
    bucket: str,
    raw: Raw,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    rsa_private_keyring: RawRsaKeyring,
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    store = store_on(bucket, aes_keyring, context={"team": "ops"})
    plaintext = os.urandom(300_000)
    store.put("a/b.bin", plaintext, metadata={"owner": "me"}, content_type="application/x-test")
    before = raw.get("a/b.bin")
    result = store.rewrap("a/b.bin", add=[rsa_public_keyring], remove=[aes_keyring])
    assert result.method is Method.SINGLE_PUT
    assert len(result.removed) == 1 and result.removed[0].startswith(NAMESPACE)
    after = raw.get("a/b.bin")
    assert _body(after) == _body(before)
    edks = parse(after).encrypted_data_keys
    assert [e.provider_info for e in edks] == [RSA_NAME.encode()]
    reader = store_on(bucket, rsa_private_keyring, context={"team": "ops"})
    assert reader.get("a/b.bin") == plaintext
    with pytest.raises(NoMatchingKeyError):
        store.get("a/b.bin")
    assert esdk.esdk_decrypt(after, _rsa_oracle(rsa_private_key)) == plaintext
    info = store.head("a/b.bin")
    assert info.metadata["owner"] == "me"
    assert info.metadata["securestore-format"] == "aws-esdk-v2"
    assert info.content_type == "application/x-test"


def test_large_object_moves_at_most_one_part_through_the_client(
    store_on: Callable[..., SecureStore],
    own_connection: Connection,
    bucket: str,
    raw: Raw,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    rsa_private_keyring: RawRsaKeyring,
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    store = store_on(bucket, aes_keyring)
    plaintext = os.urandom(64 * MiB)
    store.put("big.bin", plaintext)
    old = raw.get("big.bin")
    old_header = parse(old)
    counter = ByteCounter(own_connection)
    result = store.rewrap("big.bin", add=[rsa_public_keyring], remove=[aes_keyring])
    assert result.method is Method.SERVER_SIDE_COPY
    # Measured with the event hook, not taken from the result: what S3 sent the client.
    assert counter.fetched <= 5 * MiB + old_header.length + FRAME
    assert counter.fetched == result.bytes_fetched
    assert result.bytes_copied == len(old) - old_header.length - 5 * MiB
    assert result.bytes_uploaded <= 5 * MiB + 2 * old_header.length
    new = raw.get("big.bin")
    assert hashlib.sha256(_body(new)).digest() == hashlib.sha256(_body(old)).digest()
    assert store_on(bucket, rsa_private_keyring).get("big.bin") == plaintext
    assert esdk.esdk_decrypt(new, _rsa_oracle(rsa_private_key)) == plaintext
    assert not raw.open_uploads()


def test_move_from_one_kms_key_to_another(
    store_on: Callable[..., SecureStore],
    bucket: str,
    raw: Raw,
    kms_keyring: AwsKmsKeyring,
    second_kms_keyring: AwsKmsKeyring,
    kms_key: str,
    second_kms_key: str,
) -> None:
    store = store_on(bucket, kms_keyring)
    store.put("k", b"kms data")
    result = store.rewrap("k", add=[second_kms_keyring], remove_kms_keys=[kms_key])
    assert len(result.added) == 1 and len(result.removed) == 1
    edks = parse(raw.get("k")).encrypted_data_keys
    assert [e.provider_info.decode() for e in edks] == [second_kms_key]
    assert store_on(bucket, second_kms_keyring).get("k") == b"kms data"
    with pytest.raises(NoMatchingKeyError):
        store.get("k")


def test_rebind_to_a_new_location_carries_kms_and_raw_keys(
    store_on: Callable[..., SecureStore],
    bucket: str,
    raw: Raw,
    kms_keyring: AwsKmsKeyring,
    aes_keyring: RawAesKeyring,
) -> None:
    store = store_on(bucket, MultiKeyring(generator=kms_keyring, children=[aes_keyring]))
    plaintext = os.urandom(6 * MiB)  # multipart: the copy path across keys
    store.put("src", plaintext)
    result = store.rewrap("src", destination=(bucket, "moved/dst"), context={"moved": "yes"})
    assert result.method is Method.SERVER_SIDE_COPY
    assert len(result.rewrapped) == 2
    assert result.context["securestore:key"] == "moved/dst"
    for keyring in (kms_keyring, aes_keyring):
        reader = store_on(bucket, keyring, context={"moved": "yes"})
        assert reader.get("moved/dst") == plaintext
    assert store.get("src") == plaintext  # the source is untouched
    with pytest.raises(PreconditionFailedError):  # an existing destination is not replaced
        store.rewrap("src", destination=(bucket, "moved/dst"))
    small = store_on(bucket, aes_keyring)
    small.put("small", b"x")
    with pytest.raises(PreconditionFailedError):
        small.rewrap("small", destination=(bucket, "moved/dst"))
    assert reader.get("moved/dst") == plaintext


def test_dry_run_changes_nothing(
    store_on: Callable[..., SecureStore],
    bucket: str,
    raw: Raw,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
) -> None:
    store = store_on(bucket, aes_keyring)
    store.put("k", b"data")
    etag = store.head("k").etag
    result = store.rewrap("k", add=[rsa_public_keyring], dry_run=True)
    assert result.dry_run and result.method is None and len(result.added) == 1
    assert store.head("k").etag == etag


def test_a_key_that_cannot_unwrap_writes_nothing(
    store_on: Callable[..., SecureStore],
    bucket: str,
    raw: Raw,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
) -> None:
    store_on(bucket, aes_keyring).put("k", os.urandom(6 * MiB))
    etag = store_on(bucket, aes_keyring).head("k").etag
    other = store_on(bucket, RawAesKeyring(NAMESPACE, "aes-key-1", bytes(32)))
    with pytest.raises(NoMatchingKeyError):
        other.rewrap("k", add=[rsa_public_keyring])
    assert other.head("k").etag == etag
    assert not raw.open_uploads()


def test_removing_the_last_key_is_refused(
    store_on: Callable[..., SecureStore], bucket: str, aes_keyring: RawAesKeyring
) -> None:
    store = store_on(bucket, aes_keyring)
    store.put("k", b"data")
    etag = store.head("k").etag
    with pytest.raises(ConfigurationError, match="last data key"):
        store.rewrap("k", remove=[aes_keyring])
    assert store.head("k").etag == etag


def test_signed_messages_are_refused(
    store_on: Callable[..., SecureStore], bucket: str, raw: Raw, aes_keyring: RawAesKeyring
) -> None:
    signed = encrypt(
        b"signed",
        aes_keyring,
        encryption_context={"securestore:bucket": bucket, "securestore:key": "s"},
        suite=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    )
    raw.put("s", bytes(signed))
    with pytest.raises(PolicyError, match="signed message"):
        store_on(bucket, aes_keyring).rewrap("s", add=[aes_keyring])


def _inject_write_before(
    connection: Connection, operation: str, raw: Raw, key: str, data: bytes
) -> list[int]:
    """Write ``data`` at ``key`` behind the store's back just before its first ``operation``."""
    calls: list[int] = []

    def hook(**_: Any) -> None:
        if not calls:
            raw.put(key, data)
        calls.append(1)

    connection.client("s3").meta.events.register(f"before-call.s3.{operation}", hook)
    return calls


@pytest.mark.parametrize(
    ("size", "operation"), [(100_000, "PutObject"), (11 * MiB, "UploadPartCopy")]
)
def test_a_concurrent_write_is_refused_and_kept(
    store_on: Callable[..., SecureStore],
    own_connection: Connection,
    bucket: str,
    raw: Raw,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    size: int,
    operation: str,
) -> None:
    store = store_on(bucket, aes_keyring)
    store.put("k", os.urandom(size))
    theirs = b"someone else's write"
    calls = _inject_write_before(own_connection, operation, raw, "k", theirs)
    with pytest.raises(PreconditionFailedError):
        store.rewrap("k", add=[rsa_public_keyring])
    assert calls
    assert raw.get("k") == theirs
    assert not raw.open_uploads()


def test_versioned_keeps_or_deletes_the_old_version(
    store_on: Callable[..., SecureStore],
    connection: Connection,
    versioned_bucket: str,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
) -> None:
    s3 = connection.client("s3")
    store = store_on(versioned_bucket, aes_keyring)
    for key, size in (("small", 1000), ("large", 6 * MiB)):
        store.put(key, os.urandom(size))
        old = store.head(key).version_id
        kept = store.rewrap(key, add=[rsa_public_keyring])
        assert kept.source_version_id == old and not kept.old_version_deleted
        versions = [
            v["VersionId"]
            for v in s3.list_object_versions(Bucket=versioned_bucket, Prefix=key)["Versions"]
        ]
        assert old in versions and kept.version_id in versions
        deleted = store.rewrap(key, add=[rsa_public_keyring], delete_old_versions=True)
        assert deleted.old_version_deleted
        versions = [
            v["VersionId"]
            for v in s3.list_object_versions(Bucket=versioned_bucket, Prefix=key)["Versions"]
            if v["Key"] == key
        ]
        assert kept.version_id not in versions and deleted.version_id in versions


def test_versioned_race_at_completion_is_undone(
    store_on: Callable[..., SecureStore],
    own_connection: Connection,
    connection: Connection,
    versioned_bucket: str,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
) -> None:
    store = store_on(versioned_bucket, aes_keyring)
    plaintext = os.urandom(6 * MiB)
    store.put("k", plaintext)
    raw = Raw(connection, versioned_bucket)
    theirs = b"written during the completion"
    # After the pre-completion check: only the completion's If-Match (which the test
    # server ignores) or the version check afterwards can catch this one.
    calls = _inject_write_before(own_connection, "CompleteMultipartUpload", raw, "k", theirs)
    with pytest.raises(PreconditionFailedError, match="concurrent write"):
        store.rewrap("k", add=[rsa_public_keyring])
    assert calls
    assert raw.get("k") == theirs


def test_sse_kms_of_the_source_is_kept(
    store_on: Callable[..., SecureStore],
    bucket: str,
    aes_keyring: RawAesKeyring,
    rsa_public_keyring: RawRsaKeyring,
    kms_key: str,
) -> None:
    from securestore import SseKms

    store = store_on(bucket, aes_keyring, sse=SseKms(kms_key))
    for key, size in (("small", 10), ("large", 6 * MiB)):
        store.put(key, os.urandom(size))
        before = store.head(key).encryption
        store.rewrap(key, add=[rsa_public_keyring])
        after = store.head(key).encryption
        assert after.sse_name == before.sse_name == "sse-kms"
        assert after.kms_key_id == before.kms_key_id


def test_context_change_with_kms_discovery_rewraps_through_the_named_key(
    store_on: Callable[..., SecureStore],
    own_connection: Connection,
    bucket: str,
    kms_keyring: AwsKmsKeyring,
) -> None:
    from securestore import AwsKmsDiscoveryKeyring

    store_on(bucket, kms_keyring).put("k", b"discovered")
    discovery = AwsKmsDiscoveryKeyring(
        client_factory=lambda region: own_connection.client("kms", region)
    )
    store = store_on(bucket, discovery)
    result = store.rewrap("k", context={"stage": "2"})
    assert len(result.rewrapped) == 1
    assert store_on(bucket, kms_keyring, context={"stage": "2"}).get("k") == b"discovered"

"""S3EC objects read through real S3 and KMS (the embedded TLS moto endpoint).

Objects are written with the test-only encoder (tests/s3ec/encoder.py) through
boto3, data keys from the endpoint's KMS with the S3EC's own encryption context,
then read with ``SecureStore.get/open/download_file`` and the CLI's ``get``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from securestore import SecureStore
from securestore.clientside import ClientSide
from securestore.errors import (
    AuthenticationError,
    FormatError,
    IntegrityError,
    KeyringError,
    PolicyError,
)
from securestore.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring
from securestore.transport import Connection
from tests.s3ec import encoder
from tests.s3ec.objects import AES_KEY, aes_v3, kms_v2, kms_v3
from tests.support.cli import Run

MiB = 1 << 20


def test_v3_kms_object_reads_through_get_open_and_download(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
    tmp_path: Path,
) -> None:
    data = os.urandom(3 * MiB + 123)  # several 1 MiB digest chunks
    body, metadata = kms_v3(connection, kms_key, data, {"team": "a"})
    encoder.put(s3, bucket, "v3.bin", body, metadata)
    store = make_store(keyring=AwsKmsKeyring(kms_key, client=connection.client("kms")))
    assert store.get("v3.bin", context={"team": "a"}, allow_s3ec=True) == data
    with store.open("v3.bin", context={"team": "a"}, allow_s3ec=True) as reader:
        assert reader.size == len(data)
        assert reader.read_range(MiB - 5, 10) == data[MiB - 5 : MiB + 5]
        reader.seek(len(data) - 7)
        assert reader.read() == data[-7:]
    target = tmp_path / "out.bin"
    store.download_file("v3.bin", target, context={"team": "a"}, allow_s3ec=True)
    assert target.read_bytes() == data
    assert target.stat().st_mode & 0o077 == 0  # fresh plaintext is the caller's alone


def test_v2_kms_object_reads_with_a_client_side_require(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    body, metadata = kms_v2(connection, kms_key, b"v2 object", {})
    encoder.put(s3, bucket, "v2.bin", body, metadata)
    mode = ClientSide(AwsKmsKeyring(kms_key, client=connection.client("kms")))
    assert make_store().get("v2.bin", require=mode, allow_s3ec=True) == b"v2 object"


def test_instruction_files_v3_and_v2(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    store = make_store(keyring=AwsKmsKeyring(kms_key, client=connection.client("kms")))
    for name, (body, metadata) in {
        "v3i": kms_v3(connection, kms_key, b"three", {}),
        "v2i": kms_v2(connection, kms_key, b"two", {}),
    }.items():
        own, instruction = encoder.split_instruction_file(metadata)
        encoder.put(s3, bucket, name, body, own)
        s3.put_object(Bucket=bucket, Key=name + ".instruction", Body=instruction)
    assert store.get("v3i", allow_s3ec=True) == b"three"
    # No S3EC metadata at all on the object itself:
    assert store.get("v2i", allow_s3ec=True) == b"two"
    # Without the opt-in: refused by the object's own metadata (V3), and an object
    # whose metadata is all in the instruction file is a non-message (no extra GET).
    with pytest.raises(PolicyError, match="S3 Encryption Client"):
        store.get("v3i")
    with pytest.raises(FormatError, match="not a"):
        store.get("v2i")
    s3.delete_object(Bucket=bucket, Key="v3i.instruction")
    with pytest.raises(FormatError, match="instruction file"):
        store.get("v3i", allow_s3ec=True)


def test_without_a_keyring_an_s3ec_object_is_refused_never_returned(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    body, metadata = aes_v3(b"secret")
    encoder.put(s3, bucket, "k", body, metadata)
    store = make_store()
    with pytest.raises(PolicyError, match="S3 Encryption Client"):
        store.get("k")
    with pytest.raises(KeyringError, match="S3 Encryption Client"):
        store.get("k", allow_s3ec=True)
    with pytest.raises(KeyringError):
        store.download_file("k", tmp_path / "x", allow_s3ec=True)
    assert not (tmp_path / "x").exists()


def test_tampered_body_fails_and_leaves_no_file(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore], tmp_path: Path
) -> None:
    body, metadata = aes_v3(os.urandom(2 * MiB))
    damaged = bytearray(body)
    damaged[MiB] ^= 1
    encoder.put(s3, bucket, "k", bytes(damaged), metadata)
    store = make_store(keyring=RawAesKeyring("any", "name", AES_KEY))
    with pytest.raises(AuthenticationError):
        store.get("k", allow_s3ec=True)
    with pytest.raises(AuthenticationError):
        store.download_file("k", tmp_path / "out", allow_s3ec=True)
    assert list(tmp_path.iterdir()) == []


def test_wrong_context_names_the_key_and_wrong_key_is_no_match(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    body, metadata = kms_v3(connection, kms_key, b"x", {"team": "alpha"})
    encoder.put(s3, bucket, "k", body, metadata)
    store = make_store(keyring=AwsKmsKeyring(kms_key, client=connection.client("kms")))
    with pytest.raises(IntegrityError, match="'team'") as caught:
        store.get("k", context={"team": "bravo"}, allow_s3ec=True)
    assert "alpha" not in str(caught.value) and "bravo" not in str(caught.value)
    other = connection.client("kms").create_key()["KeyMetadata"]["Arn"]
    # Real KMS answers IncorrectKeyException (no match), moto AccessDenied: both refuse.
    with pytest.raises(KeyringError):
        make_store(keyring=AwsKmsKeyring(other, client=connection.client("kms"))).get(
            "k", context={"team": "alpha"}, allow_s3ec=True
        )
    # A context changed in the metadata: KMS itself refuses the data key.
    forged = {**metadata, "x-amz-t": json.dumps({"team": "bravo", "aws:x-amz-cek-alg": "115"})}
    encoder.put(s3, bucket, "forged", body, forged)
    with pytest.raises(KeyringError):
        store.get("forged", context={"team": "bravo"}, allow_s3ec=True)


def test_multi_keyring_and_legacy_refusal(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore]
) -> None:
    data_key = os.urandom(32)
    body, metadata = encoder.encrypt_cbc(
        b"old", data_key, encoder.aes_keywrap(AES_KEY, data_key), iv=os.urandom(16), version=2
    )
    encoder.put(s3, bucket, "cbc", body, metadata)
    keyring = MultiKeyring(
        generator=RawAesKeyring("a", "b", os.urandom(32)),
        children=[RawAesKeyring("c", "d", AES_KEY)],
    )
    with pytest.raises(PolicyError, match="unauthenticated") as caught:
        make_store(keyring=keyring).get("cbc", allow_s3ec=True)
    assert caught.value.hint is not None and "allow_legacy_unauthenticated" in caught.value.hint
    v3, v3_metadata = aes_v3(b"multi")
    encoder.put(s3, bucket, "v3", v3, v3_metadata)
    assert make_store(keyring=keyring).get("v3", allow_s3ec=True) == b"multi"


def test_cli_get_reads_s3ec_with_kms_and_discovery(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    run: Run,
    tmp_path: Path,
) -> None:
    data = os.urandom(100_000)
    body, metadata = kms_v3(connection, kms_key, data, {"team": "a"})
    encoder.put(s3, bucket, "k", body, metadata)
    url = f"s3://{bucket}/k"
    got = run("get", url, "--kms-key-id", kms_key, "--context", "team=a", "--allow-s3ec")
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == data
    ranged = run(
        "get",
        url,
        "--range",
        "70000-70009",
        "--kms-key-id",
        kms_key,
        "--context",
        "team=a",
        "--allow-s3ec",
    )
    assert ranged.exit_code == 0, ranged.stderr
    assert ranged.stdout_bytes == data[70000:70010]
    found = run(
        "get", url, str(tmp_path / "f"), "--client-side", "--context", "team=a", "--allow-s3ec"
    )
    assert found.exit_code == 0, found.stderr
    assert (tmp_path / "f").read_bytes() == data
    wrong = run("get", url, "--kms-key-id", kms_key, "--context", "team=b", "--allow-s3ec")
    assert wrong.exit_code == 3
    assert wrong.stdout_bytes == b""
    plain = run("get", url)
    assert plain.exit_code == 3, plain.stderr
    assert plain.stdout_bytes == b""
    assert "S3 Encryption Client" in plain.stderr


def test_cli_get_of_a_tampered_object_releases_nothing(
    bucket: str, s3: Any, run: Run, tmp_path: Path
) -> None:
    key_file = tmp_path / "k.aes"
    assert run("keygen", "--aes", str(key_file)).exit_code == 0
    from securestore.keyrings.keyfiles import load_aes_key_file

    key = bytes(load_aes_key_file(key_file))
    data_key = os.urandom(32)
    wrapped = encoder.aes_gcm_wrap(key, data_key, encoder.GCM_NAME, os.urandom(12))
    body, metadata = encoder.encrypt_v3(
        os.urandom(300_000), data_key, wrapped, wrap="AES/GCM", message_id=os.urandom(28)
    )
    encoder.put(s3, bucket, "good", body, metadata)
    ok = run("get", f"s3://{bucket}/good", "--key-file", str(key_file), "--allow-s3ec")
    assert ok.exit_code == 0, ok.stderr
    damaged = body[:-1] + bytes([body[-1] ^ 1])  # the tag itself
    encoder.put(s3, bucket, "bad", damaged, metadata)
    out = tmp_path / "out"
    for dest in ("-", str(out)):
        bad = run("get", f"s3://{bucket}/bad", dest, "--key-file", str(key_file), "--allow-s3ec")
        assert bad.exit_code == 3, bad.stderr
        assert bad.stdout_bytes == b""
    assert not out.exists()


def test_a_message_with_s3ec_metadata_added_is_still_read_as_a_message(
    bucket: str, s3: Any, make_store: Callable[..., SecureStore]
) -> None:
    keyring = RawAesKeyring("any", "name", AES_KEY)
    store = make_store(encryption=ClientSide(keyring))
    store.put("m", b"a securestore message")
    _, s3ec_metadata = aes_v3(b"decoy")
    s3.copy_object(
        Bucket=bucket,
        Key="m",
        CopySource={"Bucket": bucket, "Key": "m"},
        Metadata=s3ec_metadata,
        MetadataDirective="REPLACE",
    )
    assert store.get("m") == b"a securestore message"
    with pytest.raises(KeyringError):  # and without a key it is still refused
        make_store().get("m")

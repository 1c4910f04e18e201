"""``securestore migrate``: S3EC objects rewritten as messages in place (embedded endpoint)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from securestore import SecureStore
from securestore.bucket import BucketAccess
from securestore.clientside import FORMAT_METADATA, ClientSide
from securestore.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring
from securestore.migrate import migrate_to_client_side
from securestore.transfer import TransferConfig
from securestore.transport import Connection
from tests.conftest import SMALL_TRANSFER
from tests.s3ec import encoder
from tests.s3ec.objects import AES_KEY, aes_v3, kms_v2, kms_v3
from tests.support.cli import Run

MiB = 1 << 20


def _fill(connection: Connection, kms_key: str, bucket: str, s3: Any) -> dict[str, bytes]:
    """Under ``p/``: a V3 KMS object with metadata and tags, a V2 instruction-file object,
    a 6 MiB V3 AES object (multipart rewrite), a legacy CBC object and a plain one."""
    plain = {"v3": b"three" * 100, "v2i": b"two", "big": os.urandom(6 * MiB + 7), "cbc": b"old"}
    body, metadata = kms_v3(connection, kms_key, plain["v3"], {})
    s3.put_object(
        Bucket=bucket,
        Key="p/v3",
        Body=body,
        Metadata={**metadata, "owner": "alice"},
        ContentType="text/plain",
        Tagging="team=blue&tier=gold",
    )
    body, metadata = kms_v2(connection, kms_key, plain["v2i"], {})
    own, instruction = encoder.split_instruction_file(metadata)
    encoder.put(s3, bucket, "p/v2i", body, own)
    s3.put_object(Bucket=bucket, Key="p/v2i.instruction", Body=instruction)
    body, metadata = aes_v3(plain["big"])
    encoder.put(s3, bucket, "p/big", body, metadata)
    data_key = os.urandom(32)
    body, metadata = encoder.encrypt_cbc(
        plain["cbc"], data_key, encoder.aes_keywrap(AES_KEY, data_key), iv=os.urandom(16), version=2
    )
    encoder.put(s3, bucket, "p/cbc", body, metadata)
    s3.put_object(Bucket=bucket, Key="p/plain", Body=b"not encrypted")
    return plain


def _keyrings(connection: Connection, kms_key: str) -> tuple[ClientSide, Any]:
    kms = AwsKmsKeyring(kms_key, client=connection.client("kms"))
    return ClientSide(kms), MultiKeyring(children=[kms, RawAesKeyring("x", "y", AES_KEY)])


def test_dryrun_classifies_and_writes_nothing(
    connection: Connection, kms_key: str, bucket: str, s3: Any
) -> None:
    _fill(connection, kms_key, bucket, s3)
    before = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    target, unwrap = _keyrings(connection, kms_key)
    access = BucketAccess(bucket, connection, SMALL_TRANSFER)
    report = migrate_to_client_side(access, "p/", target=target, unwrap=unwrap, dryrun=True)
    status = {entry.key: entry.status for entry in report.entries}
    assert status == {
        "p/v3": "would migrate",
        "p/v2i": "would migrate",
        "p/v2i.instruction": "skipped",
        "p/big": "would migrate",
        "p/cbc": "would migrate",
        "p/plain": "skipped",
    }
    sources = {entry.key: entry.source for entry in report.entries}
    assert sources["p/v2i"] == "S3EC V2 AES/GCM/NoPadding kms+context (instruction file)"
    after = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert after == before


def test_migrate_rewrites_s3ec_objects_keeping_metadata_and_tags(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    make_store: Callable[..., SecureStore],
) -> None:
    plain = _fill(connection, kms_key, bucket, s3)
    target, unwrap = _keyrings(connection, kms_key)
    access = BucketAccess(bucket, connection, SMALL_TRANSFER)
    report = migrate_to_client_side(access, "p/", target=target, unwrap=unwrap)
    status = {entry.key: entry.status for entry in report.entries}
    assert status["p/v3"] == status["p/v2i"] == status["p/big"] == "migrated"
    assert status["p/cbc"] == "failed"  # legacy, refused without the opt-in
    assert "PolicyError" in next(e.detail for e in report.entries if e.key == "p/cbc")
    store = make_store(encryption=target)
    for name in ("v3", "v2i", "big"):
        assert store.get(f"p/{name}") == plain[name]
    head = s3.head_object(Bucket=bucket, Key="p/v3")
    assert head["Metadata"]["owner"] == "alice"
    assert FORMAT_METADATA in head["Metadata"]
    assert not {"x-amz-c", "x-amz-3", "x-amz-d", "x-amz-t"} & set(head["Metadata"])
    assert head["ContentType"] == "text/plain"
    tags = s3.get_object_tagging(Bucket=bucket, Key="p/v3")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "blue", "tier": "gold"}
    again = migrate_to_client_side(
        access, "p/", target=target, unwrap=unwrap, allow_legacy_unauthenticated=True
    )
    status = {entry.key: entry.status for entry in again.entries}
    assert status["p/cbc"] == "migrated"
    assert status["p/v3"] == "skipped"  # a message now
    assert store.get("p/cbc") == plain["cbc"]


def test_a_source_that_changes_during_migration_is_not_overwritten(
    connection: Connection, kms_key: str, bucket: str, s3: Any
) -> None:
    body, metadata = aes_v3(b"original")
    encoder.put(s3, bucket, "k", body, metadata)
    target, unwrap = _keyrings(connection, kms_key)
    access = BucketAccess(bucket, connection, TransferConfig())
    fired: list[bool] = []

    def concurrent_writer(**_: Any) -> None:
        if not fired:
            fired.append(True)
            access.s3.put_object(Bucket=bucket, Key="k", Body=b"someone else's")

    access.s3.meta.events.register_first("before-call.s3.PutObject", concurrent_writer)
    try:
        report = migrate_to_client_side(access, "", target=target, unwrap=unwrap)
    finally:
        access.s3.meta.events.unregister("before-call.s3.PutObject", concurrent_writer)
    assert fired
    assert [entry.status for entry in report.entries] == ["failed"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"someone else's"


def test_cli_migrate_dryrun_json_and_run(
    connection: Connection,
    kms_key: str,
    bucket: str,
    s3: Any,
    run: Run,
) -> None:
    plain = _fill(connection, kms_key, bucket, s3)
    s3.delete_object(Bucket=bucket, Key="p/big")  # raw AES: not in this run's keys
    url = f"s3://{bucket}/p/"
    dry = run("migrate", url, "--to-client-side", "--kms-key-id", kms_key, "--dryrun", "--json")
    assert dry.exit_code == 0, dry.stderr
    counts = json.loads(dry.stdout)["counts"]
    assert counts == {"would migrate": 3, "skipped": 2}
    done = run(
        "migrate", url, "--to-client-side", "--kms-key-id", kms_key, "--from-kms-key-id", kms_key
    )
    assert done.exit_code == 4, done.stderr  # the legacy CBC object failed
    assert "1 of 5 objects could not be migrated" in done.stderr
    got = run("get", f"s3://{bucket}/p/v3", "--kms-key-id", kms_key)
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == plain["v3"]


def test_cli_migrate_table_escapes_keys(bucket: str, kms_key: str, s3: Any, run: Run) -> None:
    """Keys come from whoever can write to the bucket: the text report escapes them, as
    every other listing does, so an OSC sequence (a terminal's title) or a bell never
    reaches the terminal."""
    s3.put_object(Bucket=bucket, Key="p/a\x1b]0;owned\x07b", Body=b"plain")
    result = run("migrate", f"s3://{bucket}/p/", "--to-client-side", "--kms-key-id", kms_key)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "p/a\\x1b]0;owned\\x07b  skipped" in result.stdout

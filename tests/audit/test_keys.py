"""The KMS keys a bucket uses: foreign accounts, aliases, keys that cannot rotate or
do not exist. Pure checks on snapshots, then collection against the TLS endpoint
(and a stub in front of it for a key of another account, which moto cannot serve).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from securestore import Connection
from securestore.audit import (
    AuditOptions,
    Collected,
    CollectionError,
    KeySnapshot,
    Registry,
    Result,
    Status,
    run_checks,
)
from securestore.audit.collect import Collector
from securestore.audit.model import CROSS_ACCOUNT
from tests.support.endpoints import endpoint_connection

from ..conftest import Endpoint, unique_bucket_name
from .builders import KEY_ARN, compliant, customer_key
from .stub import Canned, StubEndpoint, StubRequest
from .test_collect import _LocalS3Control

FOREIGN = "999988887777"
FOREIGN_ARN = f"arn:aws:kms:eu-west-1:{FOREIGN}:key/0f0f0f0f-1111-2222-3333-444455556666"


def run(check_id: str, snapshot: Any, **options: Any) -> Result:
    return Registry.builtin().get(check_id).run(snapshot, AuditOptions(**options))


def with_key(key: KeySnapshot, ref: str = KEY_ARN) -> Any:
    from securestore.audit import EncryptionRule

    return compliant(
        encryption=Collected.ok((EncryptionRule("aws:kms", ref, True),)),
        keys={ref: Collected.ok(key)},
    )


# --- pure checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])
def test_kms1_skips_keys_kms_cannot_rotate(origin: str) -> None:
    result = run("KMS.1", with_key(customer_key(origin=origin)))
    assert result.status is Status.SKIP
    assert origin in result.message and "rotate it manually" in result.message


def test_missing_key_fails_kms2_and_enc3_and_skips_the_rest() -> None:
    snap = with_key(KeySnapshot.not_found(KEY_ARN))
    assert run("KMS.2", snap).status is Status.FAIL
    assert "does not exist" in run("KMS.2", snap).message
    assert run("S3.ENC.3", snap).status is Status.FAIL
    for check_id in ("KMS.1", "KMS.3", "KMS.4"):
        assert run(check_id, snap).status is Status.SKIP, check_id


def test_foreign_key_is_its_own_finding_and_skips_kms3() -> None:
    unreadable = Collected[str | None].failed(
        CollectionError("GetKeyPolicy", CROSS_ACCOUNT, f"the key belongs to account {FOREIGN}")
    )
    key = customer_key(key_id=FOREIGN_ARN.rsplit("/", 1)[1], arn=FOREIGN_ARN, policy=unreadable)
    snap = with_key(key, FOREIGN_ARN)
    kms4 = run("KMS.4", snap)
    assert kms4.status is Status.FAIL and FOREIGN in kms4.message
    kms3 = run("KMS.3", snap)
    assert kms3.status is Status.SKIP and FOREIGN in kms3.message
    assert run("KMS.1", snap).status is Status.PASS
    assert run("KMS.4", compliant()).status is Status.PASS


@pytest.mark.parametrize(
    ("allowed", "status"),
    [
        ("alias/data", Status.PASS),  # an alias of the key configured by ARN
        ("arn:aws:kms:eu-west-1:111122223333:alias/data", Status.PASS),
        ("arn:aws:kms:eu-west-1:999988887777:alias/data", Status.FAIL),  # other account
        ("arn:aws:kms:us-east-1:111122223333:alias/data", Status.FAIL),  # other region
        (
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            Status.FAIL,
        ),
    ],
)
def test_enc5_compares_keys_not_strings(allowed: str, status: Status) -> None:
    result = run("S3.ENC.5", compliant(), allowed_kms_keys=frozenset({allowed}))
    assert result.status is status, result.message


# --- collection ----------------------------------------------------------------------------


def _kms_bucket(connection: Connection, key: str) -> str:
    name = unique_bucket_name("audit-key")
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    return name


def _results(connection: Any, name: str, **options: Any) -> dict[str, Result]:
    opts = AuditOptions(**options)
    collection = Collector(_LocalS3Control(connection), options=opts).collect([name])
    assert collection.errors == ()
    report = run_checks(collection.snapshots, registry=Registry.builtin(), options=opts)
    return {r.check_id: r for r in report.results}


def test_alias_on_the_allow_list_matches_the_key_configured_by_arn(
    connection: Connection,
) -> None:
    kms = connection.client("kms")
    arn = kms.create_key(Description="allow-list")["KeyMetadata"]["Arn"]
    alias = f"alias/allowed-{unique_bucket_name('a')}"
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    name = _kms_bucket(connection, arn)
    assert _results(connection, name, allowed_kms_keys=frozenset({alias}))["S3.ENC.5"].status is (
        Status.PASS
    )
    region, account = arn.split(":")[3], arn.split(":")[4]
    local = f"arn:aws:kms:{region}:{account}:{alias}"
    assert _results(connection, name, allowed_kms_keys=frozenset({local}))["S3.ENC.5"].status is (
        Status.PASS
    )
    elsewhere = f"arn:aws:kms:{region}:{FOREIGN}:{alias}"
    result = _results(connection, name, allowed_kms_keys=frozenset({elsewhere}))["S3.ENC.5"]
    assert result.status is Status.FAIL


def test_configured_key_that_does_not_exist_is_a_fail(connection: Connection) -> None:
    region = connection.client("kms").meta.region_name
    missing = f"arn:aws:kms:{region}:123456789012:key/00000000-0000-0000-0000-00000000dead"
    by = _results(connection, _kms_bucket(connection, missing))
    assert by["KMS.2"].status is Status.FAIL and "does not exist" in by["KMS.2"].message
    assert by["KMS.1"].status is Status.SKIP


def test_external_origin_key_skips_rotation(connection: Connection) -> None:
    arn = connection.client("kms").create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    result = _results(connection, _kms_bucket(connection, arn))["KMS.1"]
    assert result.status is Status.SKIP and "EXTERNAL" in result.message


@pytest.fixture
def foreign_stub(tls_endpoint: Endpoint, tmp_path: Path) -> Iterator[StubEndpoint]:
    """The endpoint, with KMS answering for one key of another account as AWS does:
    by ARN only, and GetKeyPolicy never (it is not available across accounts)."""

    def answer(request: StubRequest) -> Canned | None:
        op = request.target.rsplit(".", 1)[-1]
        if not op:
            return None
        asked = json.loads(request.body or b"{}").get("KeyId", "")
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if asked != FOREIGN_ARN and FOREIGN_ARN.endswith(asked):
            body = {"__type": "NotFoundException", "message": f"Key '{asked}' does not exist"}
            return Canned(400, json.dumps(body).encode(), headers)
        if asked != FOREIGN_ARN:
            return None
        if op == "DescribeKey":
            meta = {
                "KeyId": FOREIGN_ARN.rsplit("/", 1)[1],
                "Arn": FOREIGN_ARN,
                "AWSAccountId": FOREIGN,
                "KeyManager": "CUSTOMER",
                "KeyState": "Enabled",
                "Enabled": True,
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Origin": "AWS_KMS",
            }
            return Canned(200, json.dumps({"KeyMetadata": meta}).encode(), headers)
        if op == "GetKeyRotationStatus":
            return Canned(200, b'{"KeyRotationEnabled": true}', headers)
        body = {"__type": "AccessDeniedException", "message": f"{op} is not cross-account"}
        return Canned(400, json.dumps(body).encode(), headers)

    with StubEndpoint(tls_endpoint.url, tls_endpoint.ca_bundle, tmp_path, answer) as stub:
        yield stub


def test_foreign_account_key_is_read_by_arn(
    tls_endpoint: Endpoint, connection: Connection, foreign_stub: StubEndpoint
) -> None:
    name = _kms_bucket(connection, FOREIGN_ARN)
    conn = endpoint_connection(tls_endpoint.env, endpoint_url=foreign_stub.url, max_attempts=1)
    by = _results(conn, name)
    assert by["KMS.1"].status is Status.PASS, by["KMS.1"].message
    assert by["KMS.2"].status is Status.PASS, by["KMS.2"].message
    assert by["KMS.3"].status is Status.SKIP and FOREIGN in by["KMS.3"].message
    assert by["KMS.4"].status is Status.FAIL and FOREIGN in by["KMS.4"].message
    ops = [
        (r.target.rsplit(".", 1)[-1], json.loads(r.body).get("KeyId"))
        for r in foreign_stub.requests
        if r.target
    ]
    assert ("GetKeyRotationStatus", FOREIGN_ARN) in ops
    assert not any(op == "GetKeyPolicy" for op, _ in ops)

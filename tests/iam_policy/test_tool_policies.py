"""iam-policy --audit / --harden: the identity policies of the auditor and of harden,
from the one action list the role templates are checked against, and enforced by
moto's IAM evaluator on a real audit."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from securestore_cli.main import main_group

from securestore import Connection
from securestore.audit import AuditOptions, EncryptionRequirement
from securestore.audit.collect import Collector
from securestore.audit.model import Collected
from securestore.audit.permissions import (
    AUDIT_ACTIONS,
    HARDEN_ACTIONS,
    OBJECT_SAMPLE_BUCKET,
    OBJECT_SAMPLE_OBJECTS,
)
from securestore.iam_policy import audit_policy, harden_policy
from securestore.store import create_bucket

from .test_enforced import Endpoint, _moto_form, _user_with, endpoint, root
from .test_generate import _parliament

__all__ = ["endpoint", "root"]

KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _actions(document: dict[str, Any]) -> set[str]:
    return {a for st in document["Statement"] for a in st["Action"]}


def test_audit_policy_grants_the_audit_actions() -> None:
    sampled = audit_policy(region="eu-west-1", sample_objects=True)
    assert _actions(sampled) == AUDIT_ACTIONS
    plain = audit_policy(region="eu-west-1")
    assert _actions(plain) == AUDIT_ACTIONS - OBJECT_SAMPLE_BUCKET - OBJECT_SAMPLE_OBJECTS
    assert not [
        a for a in _actions(plain) if not a.split(":")[1].startswith(("Get", "List", "Describe"))
    ]


def test_harden_policy_grants_the_harden_actions() -> None:
    assert _actions(harden_policy(region="eu-west-1")) == HARDEN_ACTIONS


def test_tool_policies_are_scoped_to_the_named_buckets_and_keys() -> None:
    document = audit_policy(
        region="cn-north-1", buckets=["data-a", "data-b"], kms_key_arns=[KEY], sample_objects=True
    )
    by_sid = {st["Sid"]: st for st in document["Statement"]}
    assert by_sid["BucketReads"]["Resource"] == ["arn:aws-cn:s3:::data-a", "arn:aws-cn:s3:::data-b"]
    assert by_sid["SampleHeads"]["Resource"] == [
        "arn:aws-cn:s3:::data-a/*",
        "arn:aws-cn:s3:::data-b/*",
    ]
    assert by_sid["KeyReads"]["Resource"] == [KEY]


#: parliament findings these two policies have by design, with the reason.
_BY_DESIGN = {
    # The trails, detectors and recorders of the account are not known in advance, and
    # with no --kms-key-id neither are the keys: those reads name "*".
    "RESOURCE_STAR",
    # harden writes bucket policies: that is its job (it merges, never removes).
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
}


@pytest.mark.parametrize(
    "document",
    [
        audit_policy(region="eu-west-1", sample_objects=True),
        audit_policy(region="eu-west-1", buckets=["data-a"], kms_key_arns=[KEY]),
        harden_policy(region="eu-west-1", buckets=["data-a"], kms_key_arns=[KEY]),
    ],
)
def test_tool_policies_pass_parliament(document: dict[str, Any]) -> None:
    assert [f for f in _parliament(document) if f[0] not in _BY_DESIGN] == []


def test_named_keys_leave_only_the_account_services_unscoped() -> None:
    document = audit_policy(region="eu-west-1", buckets=["data-a"], kms_key_arns=[KEY])
    starred = [f for f in _parliament(document) if f[0] == "RESOURCE_STAR"]
    assert starred and not any("kms:" in detail for _, detail in starred)


def test_cli_prints_the_audit_policy_and_refuses_store_options() -> None:
    runner = CliRunner()
    result = runner.invoke(main_group, ["--region", "eu-west-1", "iam-policy", "--audit"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == audit_policy(region="eu-west-1")
    refused = runner.invoke(
        main_group, ["--region", "eu-west-1", "iam-policy", "--harden", "--mode", "sse-s3"]
    )
    assert refused.exit_code == 2
    missing = runner.invoke(
        main_group, ["--region", "eu-west-1", "iam-policy", "--bucket", "data-a"]
    )
    assert missing.exit_code == 2 and "--mode" in missing.output


def _denied(collection: Any) -> list[str]:
    """The snapshot fields whose collection was refused."""
    found = []
    for snapshot in collection.snapshots:
        values = [getattr(snapshot, f.name) for f in dataclasses.fields(snapshot)]
        for value in values:
            items = value.values() if isinstance(value, dict) else [value]
            for item in items:
                error = item.error if isinstance(item, Collected) else None
                if error is not None and "denied" in error.code.lower():
                    found.append(f"{error.operation}: {error.code}")
    return found + [e for e in collection.errors if "denied" in e.lower()]


@pytest.fixture
def audited(root: Connection, endpoint: Endpoint) -> Iterator[str]:
    bucket = f"iam-audit-{uuid.uuid4().hex[:12]}"
    create_bucket(root, bucket)
    key = root.client("kms").create_key()["KeyMetadata"]["Arn"]
    root.client("s3").put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key,
                    }
                }
            ]
        },
    )
    root.client("s3").put_object(Bucket=bucket, Key="sample.txt", Body=b"x")
    try:
        yield bucket
    finally:
        endpoint.relax()


def _audit_as(user: Connection, bucket: str) -> Any:
    options = AuditOptions(require=EncryptionRequirement.parse("kms"), sample_objects=2)
    return Collector(user, options=options, monitoring=True, lifecycle=True).collect([bucket])


def test_an_audit_under_the_generated_policy_is_never_denied(
    root: Connection, endpoint: Endpoint, audited: str
) -> None:
    policy = _moto_form(audit_policy(region="us-east-1", buckets=[audited], sample_objects=True))
    user = _user_with(root, endpoint, policy)
    endpoint.enforce()
    collection = _audit_as(user, audited)
    endpoint.relax()
    assert collection.snapshots
    assert _denied(collection) == []


def test_without_one_read_the_audit_is_denied_that_read(
    root: Connection, endpoint: Endpoint, audited: str
) -> None:
    """The enforcement is live: drop s3:GetBucketPolicy and its collection is refused."""
    policy = _moto_form(audit_policy(region="us-east-1", buckets=[audited], sample_objects=True))
    for statement in policy["Statement"]:
        if "s3:GetBucketPolicy" in statement["Action"]:
            statement["Action"].remove("s3:GetBucketPolicy")
    user = _user_with(root, endpoint, policy)
    endpoint.enforce()
    collection = _audit_as(user, audited)
    endpoint.relax()
    assert any(d.startswith("GetBucketPolicy") for d in _denied(collection)), _denied(collection)

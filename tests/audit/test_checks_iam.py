"""Issue 9's policy defects, one test each, at the level of the checks and harden.

Each case was judged wrong by the shape-matching analysis that preceded the
IAM evaluator (securestore/audit/iam/); the table in test_iam.py covers the
evaluator itself.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from securestore.audit import BucketSnapshot, Collected, Status
from securestore.audit.harden import TLS_SID, PolicyChange, merge_tls_statement, plan, tls_statement

from .builders import ARN, BUCKET, KEY_ARN, TLS_STATEMENT, compliant, customer_key, policy

HTTP = {"Bool": {"aws:SecureTransport": "false"}}

#: 25 actions written out one by one: S3 has many more.
TWENTY_FIVE = [
    f"s3:{a}"
    for a in [
        "GetObject",
        "PutObject",
        "DeleteObject",
        "GetObjectAcl",
        "PutObjectAcl",
        "GetObjectVersion",
        "DeleteObjectVersion",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "ListBucket",
        "ListBucketVersions",
        "ListBucketMultipartUploads",
        "AbortMultipartUpload",
        "ListMultipartUploadParts",
        "RestoreObject",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "GetBucketAcl",
        "PutBucketAcl",
        "GetBucketLocation",
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
        "GetObjectAttributes",
    ]
]


def tls_snapshot(*statements: dict[str, Any], **changes: Any) -> BucketSnapshot:
    return compliant(policy=Collected.ok(policy(*statements)), **changes)


def tls_change(snapshot: BucketSnapshot) -> PolicyChange | None:
    found = [c for c in plan(snapshot, sse="s3").changes if isinstance(c, PolicyChange)]
    return found[0] if found else None


def test_tls_version_alone_does_not_pass_tls1_and_harden_agrees(run: Any) -> None:
    version_only = {**TLS_STATEMENT, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}
    snap = tls_snapshot(version_only)
    result = run("S3.TLS.1", snap)
    assert result.status is Status.FAIL
    assert "CIS 4.0.1" in result.message and "not S3.TLS.1" in result.message
    assert run("S3.TLS.2", snap).status is Status.PASS
    change = tls_change(snap)
    assert change is not None and change.statement["Condition"] == HTTP


@pytest.mark.parametrize(
    "changes",
    [
        {"Action": TWENTY_FIVE},
        {"Action": ["s3:Get*", "s3:Put*", "s3:List*", "s3:Delete*"]},
        {"Action": None, "NotAction": "s3:GetObjectLegalHold"},
    ],
    ids=["25-actions", "get-put-list-delete", "not-action-legal-hold"],
)
def test_anything_short_of_every_s3_action_fails_and_harden_adds_s3_star(
    run: Any, changes: dict[str, Any]
) -> None:
    statement = {k: v for k, v in {**TLS_STATEMENT, **changes}.items() if v is not None}
    snap = tls_snapshot(statement)
    result = run("S3.TLS.1", snap)
    assert result.status is Status.FAIL
    assert any(
        a in result.message
        for a in ("s3:ReplicateObject", "s3:BypassGovernanceRetention", "s3:GetObjectLegalHold")
    )
    change = tls_change(snap)
    assert change is not None
    assert change.statement == tls_statement(ARN, f"{TLS_SID}2")


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_other_partitions(run: Any, region: str, partition: str) -> None:
    arn = f"arn:{partition}:s3:::{BUCKET}"
    good = {**TLS_STATEMENT, "Resource": [arn, f"{arn}/*"]}
    snap = tls_snapshot(good, region=Collected.ok(region))
    assert snap.arn == arn
    assert run("S3.TLS.1", snap).status is Status.PASS
    # harden writes the partition's ARNs, and nothing when the policy is right there
    empty = replace(snap, policy=Collected.ok(None))
    change = tls_change(empty)
    assert change is not None
    assert all(r.startswith(f"arn:{partition}:s3:::") for r in change.statement["Resource"])
    assert merge_tls_statement(json.loads(policy(good, tls_version(arn))), arn) is None


def tls_version(arn: str) -> dict[str, Any]:
    return {
        **TLS_STATEMENT,
        "Sid": "V",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
    }


LOOSE_CONDITIONS = [
    {"StringLike": {"aws:SourceVpc": "vpc-*"}},
    {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
    {"StringEquals": {"aws:PrincipalAccount": "${aws:PrincipalAccount}"}},
    {"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}},
]
LOOSE_IDS = ["vpc-wildcard", "org-wildcard", "any-account-role", "policy-variable", "ip-halves"]


@pytest.mark.parametrize("condition", LOOSE_CONDITIONS, ids=LOOSE_IDS)
def test_conditions_without_fixed_values_are_public(run: Any, condition: dict[str, Any]) -> None:
    public = {
        "Sid": "Shared",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
        "Condition": condition,
    }
    assert run("S3.PUBLIC.5", tls_snapshot(TLS_STATEMENT, public)).status is Status.FAIL
    key_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{**public, "Action": "kms:Decrypt", "Resource": "*"}],
        }
    )
    key = customer_key(policy=Collected.ok(key_policy))
    result = run("KMS.3", compliant(keys={KEY_ARN: Collected.ok(key)}))
    assert result.status is Status.FAIL


def test_both_secure_transport_values_lock_the_bucket(run: Any) -> None:
    lock = {**TLS_STATEMENT, "Condition": {"Bool": {"aws:SecureTransport": ["false", "true"]}}}
    snap = tls_snapshot(lock)
    locked = run("S3.TLS.3", snap)
    assert locked.status is Status.FAIL and "HTTPS included" in locked.message
    assert "HTTPS is denied too" in run("S3.TLS.1", snap).message
    assert run("S3.TLS.3", compliant()).status is Status.PASS
    assert any("S3.TLS.3" in n for n in plan(snap, sse="s3").notes)


@pytest.mark.parametrize(
    "statement",
    [
        {**TLS_STATEMENT, "Resource": [ARN, f"{ARN}/?*"]},
        {**TLS_STATEMENT, "Condition": {**HTTP, "Null": {"aws:SecureTransport": "false"}}},
        {**TLS_STATEMENT, "Condition": {"ForAllValues:Bool": {"aws:SecureTransport": "false"}}},
    ],
    ids=["objects-question-star", "extra-null-false", "for-all-values-bool"],
)
def test_forms_that_are_tls_only_pass(run: Any, statement: dict[str, Any]) -> None:
    snap = tls_snapshot(statement)
    assert run("S3.TLS.1", snap).status is Status.PASS
    assert (
        tls_change(replace(snap, policy=Collected.ok(policy(statement, tls_version(ARN))))) is None
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"Effect": "deny"}, "Effect 'deny'"),
        ({"NotAction": "iam:*"}, "both Action and NotAction"),
        ({"Condition": {"StringEqualz": {"aws:SourceVpce": "vpce-1"}}}, "'StringEqualz'"),
    ],
    ids=["effect-lower-case", "action-and-not-action", "unknown-operator"],
)
def test_policies_aws_would_refuse_are_an_error_naming_it(
    run: Any, changes: dict[str, Any], problem: str
) -> None:
    bad = policy({**TLS_STATEMENT, **changes})
    for check_id in ("S3.TLS.1", "S3.TLS.2", "S3.TLS.3", "S3.PUBLIC.5", "S3.NET.1"):
        result = run(check_id, compliant(policy=Collected.ok(bad)))
        assert result.status is Status.ERROR, check_id
        assert "malformed policy" in result.message and problem in result.message
    key = customer_key(policy=Collected.ok(bad))
    result = run("KMS.3", compliant(keys={KEY_ARN: Collected.ok(key)}))
    assert result.status is Status.ERROR and problem in result.message


def test_vpc_wildcard_is_not_a_network_restriction(run: Any) -> None:
    loose = {**TLS_STATEMENT, "Condition": {"StringNotLike": {"aws:SourceVpce": "vpce-*"}}}
    result = run("S3.NET.1", tls_snapshot(TLS_STATEMENT, loose), require_vpc_endpoint=True)
    assert result.status is Status.FAIL

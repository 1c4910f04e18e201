"""KMS.5: key policies that let every principal of the account use the key on data
without kms:ViaService or an encryption context (least privilege)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from securestore.audit import Collected, Result, Status
from securestore.audit.policy import account_wide_key_use, parse_policy

from .builders import (
    KEY_ADMIN_STATEMENT,
    KEY_ARN,
    KEY_USE_VIA_S3_STATEMENT,
    compliant,
    customer_key,
    denied,
)

Run = Callable[..., Result]
ACCOUNT = "111122223333"
ROOT_ALL = {
    "Sid": "EnableIAMUserPermissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def _key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _snap(*statements: dict[str, Any]) -> Any:
    key = customer_key(policy=Collected.ok(_key_policy(*statements)))
    return compliant(keys={KEY_ARN: Collected.ok(key)})


def _use(condition: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Sid": "Use",
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        **changes,
    }
    if condition is not None:
        st["Condition"] = condition
    return st


def test_admin_plus_use_through_s3_passes(run: Run) -> None:
    assert run("KMS.5", compliant()).status is Status.PASS


def test_default_key_policy_fails_as_delegation_to_iam(run: Run) -> None:
    result = run("KMS.5", _snap(ROOT_ALL))
    assert result.status is Status.FAIL
    assert "EnableIAMUserPermissions" in result.message
    assert "IAM policies decide" in result.message and "kms:Decrypt" in result.message


@pytest.mark.parametrize(
    "statement",
    [
        _use({"StringEquals": {"kms:CallerAccount": ACCOUNT}}),
        _use({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}),
        _use({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
        _use({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        {**ROOT_ALL, "Principal": {"AWS": ACCOUNT}, "Action": "kms:Decrypt"},
    ],
    ids=["caller-account", "principal-account", "org", "source-ip", "bare-account"],
)
def test_account_wide_use_fails(run: Run, statement: dict[str, Any]) -> None:
    result = run("KMS.5", _snap(KEY_ADMIN_STATEMENT, statement))
    assert result.status is Status.FAIL, result.message


@pytest.mark.parametrize(
    "statement",
    [
        _use({"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "s3.x.com"}}),
        _use(
            {"StringEquals": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::example-bucket"}},
            Principal={"AWS": ACCOUNT},
        ),
        _use(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"}),
        _use({"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/app"}}),
        _use(Principal={"AWS": "arn:aws:iam::444455556666:root"}),
        {**ROOT_ALL, "Action": ["kms:Describe*", "kms:CreateGrant"]},
        # kms:ViaService "*" matches only calls through a service: no direct use.
        _use({"StringLike": {"kms:ViaService": "*"}}, Principal={"AWS": ACCOUNT}),
    ],
    ids=[
        "via-s3",
        "encryption-context",
        "named-role",
        "principal-arn",
        "other-account",
        "admin",
        "any-service",
    ],
)
def test_limited_use_passes(run: Run, statement: dict[str, Any]) -> None:
    result = run("KMS.5", _snap(statement))
    assert result.status is Status.PASS, result.message


def test_a_deny_without_via_service_takes_the_use_back(run: Run) -> None:
    deny = {
        "Sid": "OnlyThroughS3",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {"StringNotEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }
    assert run("KMS.5", _snap(ROOT_ALL, deny)).status is Status.PASS
    partial = {**deny, "Action": "kms:Decrypt"}
    result = run("KMS.5", _snap(ROOT_ALL, partial))
    assert result.status is Status.FAIL and "kms:Decrypt" not in result.message.split("call ")[1]


def test_unreadable_or_foreign_policy_is_error_or_skip(run: Run) -> None:
    key = customer_key(policy=denied(operation="GetKeyPolicy"))
    result = run("KMS.5", compliant(keys={KEY_ARN: Collected.ok(key)}))
    assert result.status is Status.ERROR
    assert run("KMS.5", compliant(encryption=Collected.ok(()))).status is Status.SKIP


def test_evaluator_answers_directly() -> None:
    found = account_wide_key_use(parse_policy(_key_policy(ROOT_ALL)), KEY_ARN, ACCOUNT)
    assert [st.label for st, _ in found] == ["EnableIAMUserPermissions"]
    safe = parse_policy(_key_policy(KEY_ADMIN_STATEMENT, KEY_USE_VIA_S3_STATEMENT))
    assert account_wide_key_use(safe, KEY_ARN, ACCOUNT) == ()

"""S3.IAM.1: the resource-policy grants that let principals read plaintext."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from securestore.audit import Collected, Result, Status
from securestore.audit.compliance import load_framework
from securestore.audit.model import CROSS_ACCOUNT, CollectionError

from .builders import ARN, KEY_ADMIN_STATEMENT, KEY_ARN, compliant, customer_key, policy

Run = Callable[..., Result]
OTHER = "arn:aws:iam::444455556666:role/analytics"


def _with_bucket_statement(statement: dict[str, Any]) -> Any:
    base = json.loads(compliant().policy.get() or "{}")
    return compliant(policy=Collected.ok(policy(*base["Statement"], statement)))


def _with_key_statements(*statements: dict[str, Any]) -> Any:
    text = json.dumps({"Version": "2012-10-17", "Statement": [KEY_ADMIN_STATEMENT, *statements]})
    return compliant(keys={KEY_ARN: Collected.ok(customer_key(policy=Collected.ok(text)))})


def _read(principal: str = OTHER, resource: str = f"{ARN}/*", **extra: Any) -> dict[str, Any]:
    return {
        "Sid": "AnalyticsRead",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "s3:GetObject",
        "Resource": resource,
        **extra,
    }


def test_no_grants_pass(run: Run) -> None:
    result = run("S3.IAM.1", compliant())
    assert result.status is Status.PASS


def test_bucket_policy_read_grant_is_listed_with_its_principal(run: Run) -> None:
    result = run("S3.IAM.1", _with_bucket_statement(_read()))
    assert result.status is Status.INFO
    assert "bucket policy AnalyticsRead" in result.message
    assert OTHER in result.message
    assert "unconditional" in result.message


def test_conditions_of_a_read_grant_are_shown(run: Run) -> None:
    statement = _read(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}})
    result = run("S3.IAM.1", _with_bucket_statement(statement))
    assert result.status is Status.INFO
    assert "aws:sourcevpce" in result.message


@pytest.mark.parametrize(
    "statement",
    [
        _read(resource="arn:aws:s3:::another-bucket/*"),  # another bucket's objects
        _read(resource=ARN),  # the bucket, not its objects
        {**_read(), "Effect": "Deny"},
        {**_read(), "Action": "s3:PutObject"},
    ],
)
def test_statements_that_grant_no_read_are_not_listed(run: Run, statement: dict[str, Any]) -> None:
    assert run("S3.IAM.1", _with_bucket_statement(statement)).status is Status.PASS


def test_wildcard_action_counts_as_a_read_grant(run: Run) -> None:
    result = run("S3.IAM.1", _with_bucket_statement({**_read(), "Action": "s3:Get*"}))
    assert result.status is Status.INFO


def test_key_policy_decrypt_without_pinning_is_listed(run: Run) -> None:
    root = {
        "Sid": "EnableIAMUserPermissions",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    result = run("S3.IAM.1", _with_key_statements(root))
    assert result.status is Status.INFO
    assert "EnableIAMUserPermissions" in result.message
    assert "without kms:ViaService" in result.message


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        {"StringEquals": {"kms:EncryptionContext:securestore:bucket": "example-bucket"}},
        {"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"{ARN}/*"}},
    ],
)
def test_pinned_decrypt_is_not_listed(run: Run, condition: dict[str, Any]) -> None:
    use = {
        "Sid": "Use",
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": condition,
    }
    assert run("S3.IAM.1", _with_key_statements(use)).status is Status.PASS


def test_unreadable_key_policy_is_said(run: Run) -> None:
    error = Collected[Any].failed(CollectionError("GetKeyPolicy", "AccessDenied", "denied"))
    key = replace(customer_key(), policy=error)
    result = run("S3.IAM.1", compliant(keys={KEY_ARN: Collected.ok(key)}))
    assert result.status is Status.ERROR
    assert "could not be read" in result.message


@pytest.mark.parametrize(
    ("framework", "requirement"),
    [
        ("pci-dss-4.0", "7.2.1"),
        ("nist-800-53-r5", "AC-6"),
        ("hipaa-security-rule", "164.308(a)(4)"),
    ],
)
def test_mapped_to_least_privilege_requirements(framework: str, requirement: str) -> None:
    found = [r for r in load_framework(framework).requirements if r.id == requirement]
    assert found and "S3.IAM.1" in found[0].checks


def test_key_policy_of_another_account_is_noted_not_an_error(run: Run) -> None:
    error = Collected[Any].failed(CollectionError("GetKeyPolicy", CROSS_ACCOUNT, "other account"))
    key = replace(customer_key(), policy=error)
    result = run("S3.IAM.1", compliant(keys={KEY_ARN: Collected.ok(key)}))
    assert result.status is Status.PASS
    assert "other accounts not read" in result.message

"""The 2026 S3 controls on snapshot fixtures: SSE-C blocked (S3.ENC.6), uploads
under another encryption or key denied (S3.ENC.7), incomplete multipart uploads
aborted (S3.DATA.6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from securestore.audit import (
    BucketSnapshot,
    Collected,
    EncryptionRequirement,
    EncryptionRule,
    LifecycleRule,
    Result,
    Status,
)
from securestore.audit.answers import encryption_rules, lifecycle_rules

from .builders import ABORT_RULE, ARN, KEY_ARN, TLS_STATEMENT, compliant, denied, policy

Run = Callable[..., Result]

# --- S3.ENC.6: SSE-C blocked -----------------------------------------------------------------


def test_sse_c_blocked_passes(run: Run) -> None:
    result = run("S3.ENC.6", compliant())
    assert result.status is Status.PASS and "blocked" in result.message


@pytest.mark.parametrize(
    "rules",
    [
        (EncryptionRule("aws:kms", KEY_ARN, True),),
        (EncryptionRule("AES256", blocked_encryption_types=("NONE",)),),
        (EncryptionRule("AES256", blocked_encryption_types=("SSE-C",)), EncryptionRule("AES256")),
    ],
    ids=["no-block", "none-blocked", "one-rule-open"],
)
def test_sse_c_allowed_fails(run: Run, rules: tuple[EncryptionRule, ...]) -> None:
    result = run("S3.ENC.6", compliant(encryption=Collected.ok(rules)))
    assert result.status is Status.FAIL and "SSE-C is not blocked" in result.message


def test_sse_c_without_encryption_configuration_fails(run: Run) -> None:
    result = run("S3.ENC.6", compliant(encryption=Collected.ok(())))
    assert result.status is Status.FAIL and "nothing blocks SSE-C" in result.message


def test_sse_c_uncollected_is_an_error(run: Run) -> None:
    result = run("S3.ENC.6", compliant(encryption=denied(operation="GetBucketEncryption")))
    assert result.status is Status.ERROR and "GetBucketEncryption" in result.message


def test_blocked_types_are_read_from_the_answer() -> None:
    answer = {
        "ServerSideEncryptionConfiguration": {
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
                }
            ]
        }
    }
    (rule,) = encryption_rules(answer)
    assert rule.blocks_sse_c and rule.blocked_encryption_types == ("SSE-C",)


# --- S3.DATA.6: incomplete multipart uploads -------------------------------------------------


def test_abort_rule_over_the_whole_bucket_passes(run: Run) -> None:
    result = run("S3.DATA.6", compliant())
    assert result.status is Status.PASS and "after 7 days" in result.message


@pytest.mark.parametrize(
    "rules",
    [
        (),
        (LifecycleRule("expire", enabled=True, whole_bucket=True),),
        (LifecycleRule("logs", enabled=True, whole_bucket=False, abort_days=1),),
        (LifecycleRule("off", enabled=False, whole_bucket=True, abort_days=1),),
    ],
    ids=["none", "no-abort-action", "prefix-only", "disabled"],
)
def test_missing_or_narrowed_abort_rule_fails(run: Run, rules: tuple[LifecycleRule, ...]) -> None:
    result = run("S3.DATA.6", compliant(lifecycle=Collected.ok(rules)))
    assert result.status is Status.FAIL


def test_one_covering_rule_among_others_passes(run: Run) -> None:
    rules = (LifecycleRule("logs", enabled=True, whole_bucket=False, abort_days=1), ABORT_RULE)
    assert run("S3.DATA.6", compliant(lifecycle=Collected.ok(rules))).status is Status.PASS


def test_lifecycle_uncollected_is_an_error(run: Run) -> None:
    failed = denied(operation="GetBucketLifecycleConfiguration")
    result = run("S3.DATA.6", compliant(lifecycle=failed))
    assert result.status is Status.ERROR


@pytest.mark.parametrize(
    ("rule", "whole"),
    [
        ({"Filter": {}}, True),
        ({"Filter": {"Prefix": ""}}, True),
        ({"Prefix": ""}, True),
        ({}, True),
        ({"Prefix": "logs/"}, False),
        ({"Filter": {"Prefix": "tmp/"}}, False),
        ({"Filter": {"ObjectSizeGreaterThan": 1}}, False),
        ({"Filter": {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "b"}]}}}, False),
        ({"Filter": {"Tag": {"Key": "a", "Value": "b"}}}, False),
    ],
)
def test_lifecycle_scope_is_parsed(rule: dict[str, object], whole: bool) -> None:
    answer = {
        "Rules": [
            {
                "ID": "r",
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
                **rule,
            }
        ]
    }
    (parsed,) = lifecycle_rules(answer)
    assert (parsed.whole_bucket, parsed.abort_days, parsed.enabled) == (whole, 3, True)


# --- S3.ENC.7: uploads under another encryption or key --------------------------------------

_OBJECTS = f"{ARN}/*"


def _deny(
    condition: dict[str, Any], sid: str = "DenyWrongEncryption", **extra: Any
) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": _OBJECTS,
        "Condition": condition,
        **extra,
    }


WRONG_ALGORITHM = _deny({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}})
WRONG_KEY = _deny(
    {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN}},
    sid="DenyOtherKeys",
)
KMS = {"require": EncryptionRequirement.KMS}


def _with(*statements: dict[str, Any], **changes: Any) -> BucketSnapshot:
    return compliant(policy=Collected.ok(policy(TLS_STATEMENT, *statements)), **changes)


def test_wrong_algorithm_and_key_denied_passes(run: Run) -> None:
    result = run("S3.ENC.7", _with(WRONG_ALGORITHM, WRONG_KEY), **KMS)
    assert result.status is Status.PASS, result.message
    assert "DenyWrongEncryption" in result.message and "DenyOtherKeys" in result.message


def test_only_the_algorithm_denied_leaves_other_keys_open(run: Run) -> None:
    result = run("S3.ENC.7", _with(WRONG_ALGORITHM), **KMS)
    # Default encryption meets the requirement: reported, not failed.
    assert result.status is Status.INFO
    assert "uploads with aws:kms under another key" in result.message
    assert "uploads with aws:kms and no key id (S3 then uses aws/s3)" in result.message


def test_key_deny_only_when_a_key_is_named_leaves_aws_managed_key_open(run: Run) -> None:
    """A Null false companion limits the key Deny to uploads that name a key: aws:kms
    without a key id (the AWS managed key) gets through."""
    named_only = _deny(
        {
            "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN},
            "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
        },
        sid="DenyOtherKeys",
    )
    result = run("S3.ENC.7", _with(WRONG_ALGORITHM, named_only), **KMS)
    assert result.status is Status.INFO
    assert result.message.endswith(
        "not denied: uploads with aws:kms and no key id (S3 then uses aws/s3)"
    )


def test_if_exists_key_deny_also_refuses_uploads_without_a_key_id(run: Run) -> None:
    lax = _deny(
        {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN}},
        sid="DenyOtherKeys",
    )
    assert run("S3.ENC.7", _with(WRONG_ALGORITHM, lax), **KMS).status is Status.PASS


def test_weak_default_without_deny_fails(run: Run) -> None:
    snap = _with(encryption=Collected.ok((EncryptionRule("AES256"),)))
    result = run("S3.ENC.7", snap, **KMS)
    assert result.status is Status.FAIL
    assert "uploads with AES256" in result.message
    assert "uploads without an encryption header" in result.message


def test_null_deny_covers_headerless_uploads(run: Run) -> None:
    null = _deny({"Null": {"s3:x-amz-server-side-encryption": "true"}}, sid="DenyNoHeader")
    snap = _with(WRONG_ALGORITHM, null, encryption=Collected.ok(()))
    assert run("S3.ENC.7", snap, **KMS).status is Status.PASS


@pytest.mark.parametrize(
    "statement",
    [
        {**WRONG_ALGORITHM, "Resource": f"{ARN}/uploads/*"},
        {**WRONG_ALGORITHM, "Action": "s3:GetObject"},
        {**WRONG_ALGORITHM, "Principal": {"AWS": "arn:aws:iam::111122223333:role/writer"}},
        {**WRONG_ALGORITHM, "Effect": "Allow"},
        _deny(
            {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Bool": {"aws:SecureTransport": "false"},
            }
        ),
    ],
    ids=["some-objects", "other-action", "one-principal", "allow", "extra-condition"],
)
def test_denies_that_do_not_cover_every_upload_do_not_count(
    run: Run, statement: dict[str, Any]
) -> None:
    snap = _with(statement, encryption=Collected.ok((EncryptionRule("AES256"),)))
    assert run("S3.ENC.7", snap, **KMS).status is Status.FAIL


def test_put_wildcard_action_counts(run: Run) -> None:
    wide = {**WRONG_ALGORITHM, "Action": "s3:Put*"}
    key = {**WRONG_KEY, "Action": "*", "Resource": "*"}
    assert run("S3.ENC.7", _with(wide, key), **KMS).status is Status.PASS


def test_sse_s3_requirement_without_key_is_skipped(run: Run) -> None:
    snap = _with(encryption=Collected.ok((EncryptionRule("AES256"),)))
    assert run("S3.ENC.7", snap).status is Status.SKIP


def test_allowed_keys_pin_the_key_even_for_aws_managed_default(run: Run) -> None:
    snap = _with(WRONG_ALGORITHM, encryption=Collected.ok((EncryptionRule("aws:kms"),)))
    result = run("S3.ENC.7", snap, allowed_kms_keys=frozenset({KEY_ARN}), **KMS)
    assert result.status is Status.INFO and "under another key" in result.message


def test_malformed_or_uncollected_policy_is_an_error(run: Run) -> None:
    bad = compliant(policy=Collected.ok(policy({**WRONG_ALGORITHM, "Effect": "deny"})))
    assert run("S3.ENC.7", bad, **KMS).status is Status.ERROR
    assert run("S3.ENC.7", compliant(policy=denied()), **KMS).status is Status.ERROR

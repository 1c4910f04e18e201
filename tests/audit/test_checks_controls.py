"""The 2026 S3 controls on snapshot fixtures: SSE-C blocked (S3.ENC.6), incomplete
multipart uploads aborted (S3.DATA.6)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from securestore.audit import Collected, EncryptionRule, LifecycleRule, Result, Status
from securestore.audit.answers import encryption_rules, lifecycle_rules

from .builders import ABORT_RULE, KEY_ARN, compliant, denied

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

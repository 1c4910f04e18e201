"""Policy parsing, wildcard matching and condition operators on a request context."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from securestore.audit.iam import Context, condition_holds, parse_policy, wildcard_match
from securestore.audit.iam.coverage import STATE_LIMIT
from securestore.audit.policy import tls_only

from .builders import ARN


def test_parse_normalises_single_values_to_sets() -> None:
    doc = parse_policy(
        {
            "Statement": {
                "Effect": "Deny",
                "Principal": {"AWS": "arn:a"},
                "Action": "s3:GetObject",
                "Resource": "arn:r",
            }
        }
    )
    (st,) = doc.statements
    assert st.actions == frozenset({"s3:GetObject"})
    assert st.resources == frozenset({"arn:r"})
    assert st.principal is not None and st.principal.entries == frozenset({("AWS", "arn:a")})
    assert st.label == "#1"


def test_parse_conditions_qualifiers_and_json_booleans() -> None:
    doc = parse_policy(
        json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "*",
                        "Condition": {
                            "BoolIfExists": {"aws:SecureTransport": False},
                            "ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b"]},
                            "NumericLessThan": {"s3:TlsVersion": 1.2},
                        },
                    }
                ]
            }
        )
    )
    conds = {c.base: c for c in doc.statements[0].conditions}
    assert conds["bool"].if_exists and conds["bool"].values == ("false",)
    assert conds["bool"].key == "aws:securetransport"
    assert conds["stringlike"].set_operator == "ForAnyValue"
    assert conds["numericlessthan"].values == ("1.2",)


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "expected"),
    [
        ("s3:*", "s3:GetObject", True, True),
        ("S3:get*", "s3:GetObject", True, True),
        ("S3:get*", "s3:GetObject", False, False),
        ("s3:Get?bject", "s3:GetObject", True, True),
        ("s3:Put*", "s3:GetObject", True, False),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b", False, False),
        ("arn:aws:s3:::b*", "arn:aws:s3:::b", False, True),
        ("a.c", "abc", False, False),
    ],
)
def test_wildcard_match(pattern: str, value: str, ignore_case: bool, expected: bool) -> None:
    assert wildcard_match(pattern, value, ignore_case=ignore_case) is expected


def cond(operator: str, key: str, values: Any) -> Any:
    document = {
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {operator: {key: values}},
        }
    }
    (c,) = parse_policy(document).statements[0].conditions
    return c


ABSENT: Context = {}


@pytest.mark.parametrize(
    ("operator", "key", "values", "context", "holds"),
    [
        # absent keys: false, except IfExists, Null, negated operators and ForAllValues
        ("NumericLessThan", "s3:TlsVersion", "1.2", ABSENT, False),
        ("NumericLessThanIfExists", "s3:TlsVersion", "1.2", ABSENT, True),
        ("StringNotEquals", "aws:SourceVpce", "vpce-1", ABSENT, True),
        ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", ABSENT, True),
        ("ForAllValues:StringEquals", "aws:TagKeys", "a", ABSENT, True),
        ("ForAnyValue:StringEquals", "aws:TagKeys", "a", ABSENT, False),
        ("Null", "aws:SourceVpce", "true", ABSENT, True),
        ("Null", "aws:SourceVpce", "false", ABSENT, False),
        ("Bool", "aws:SecureTransport", "false", ABSENT, False),
        # present keys
        ("NumericLessThan", "s3:TlsVersion", "1.2", {"s3:tlsversion": ("1.1",)}, True),
        ("NumericLessThan", "s3:TlsVersion", "1.2", {"s3:tlsversion": ("1.2",)}, False),
        ("NumericLessThan", "s3:TlsVersion", "NaN", {"s3:tlsversion": ("1.0",)}, False),
        (
            "Bool",
            "aws:SecureTransport",
            ["false", "true"],
            {"aws:securetransport": ("true",)},
            True,
        ),
        ("StringLike", "aws:SourceVpc", "vpc-*", {"aws:sourcevpc": ("vpc-9",)}, True),
        ("StringEqualsIgnoreCase", "aws:UserAgent", "ABC", {"aws:useragent": ("abc",)}, True),
        ("StringEquals", "aws:UserAgent", "ABC", {"aws:useragent": ("abc",)}, False),
        ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": ("10.1.2.3",)}, True),
        ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": ("2001:db8::1",)}, False),
        (
            "ArnLike",
            "aws:PrincipalArn",
            "arn:aws:iam::*:role/r",
            {"aws:principalarn": ("arn:aws:iam::1:role/r",)},
            True,
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            "arn:aws:iam::*:role/r",
            {"aws:principalarn": ("nope",)},
            False,
        ),
        (
            "DateLessThan",
            "aws:CurrentTime",
            "2030-01-01T00:00:00Z",
            {"aws:currenttime": ("2026-12-01T10:00:00Z",)},
            True,
        ),
        (
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            ["a", "b"],
            {"aws:tagkeys": ("a", "c")},
            False,
        ),
        ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], {"aws:tagkeys": ("a", "c")}, True),
        (
            "StringEquals",
            "aws:PrincipalAccount",
            "${aws:PrincipalAccount}",
            {"aws:principalaccount": ("1",)},
            False,
        ),
    ],
)
def test_condition_operators(
    operator: str, key: str, values: Any, context: Context, holds: bool
) -> None:
    assert condition_holds(cond(operator, key, values), context) is holds


def test_a_crafted_pattern_set_stays_bounded_and_fails_closed() -> None:
    """Many overlapping wildcard patterns: the search either decides or gives up, quickly."""
    actions = [f"s3:*{c}*{d}*" for c in "abcdefgh" for d in "ijklmnop"]
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    # This thread's CPU time (0.3 s here), which other processes on the machine do not stretch.
    started = time.thread_time()
    coverage = tls_only(parse_policy({"Statement": [statement]}), ARN)
    assert time.thread_time() - started < 10
    assert not coverage.denied and "too complex to decide" in coverage.gaps[0]
    assert STATE_LIMIT > 0
